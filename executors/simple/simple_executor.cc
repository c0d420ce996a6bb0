#include "executors/simple/simple_executor.h"

#include <cstring>
#include <string>

namespace shardjob::executors {

const char* SimpleExecutor::JobInterface() const { return spi::kSimpleJobInterface; }

spi::Status SimpleExecutor::Execute(spi::JobObject* job,
                                    const spi::ShardingContext& context) noexcept {
  if (job == nullptr) {
    return spi::Status::Internal("SIMPLE executor got no job object for task " + context.task_id);
  }
  // The kernel should never pair this executor with another interface, but a static_cast to the
  // wrong class would be undefined behaviour, so the names are compared rather than trusted.
  const char* interface = job->Interface();
  if (interface == nullptr || std::strcmp(interface, spi::kSimpleJobInterface) != 0) {
    return spi::Status::Internal(std::string("SIMPLE executor got a job implementing '") +
                                 (interface == nullptr ? "" : interface) + "', not '" +
                                 spi::kSimpleJobInterface + "'");
  }
  return static_cast<spi::SimpleJobObject*>(job)->Execute(context);
}

}  // namespace shardjob::executors
