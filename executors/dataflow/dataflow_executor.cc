#include "executors/dataflow/dataflow_executor.h"

#include <cstring>
#include <stdexcept>
#include <string>

namespace shardjob::executors {

DataflowExecutor::DataflowExecutor(const spi::PluginContext& context) {
  spi::Status status = context.props.GetBool("streaming.process", false, &streaming_);
  if (!status.ok()) throw std::invalid_argument(status.message());
}

const char* DataflowExecutor::JobInterface() const { return spi::kDataflowJobInterface; }

spi::Status DataflowExecutor::Execute(spi::JobObject* job,
                                      const spi::ShardingContext& context) noexcept {
  if (job == nullptr) {
    return spi::Status::Internal("DATAFLOW executor got no job object for task " + context.task_id);
  }
  // Compared rather than trusted: a static_cast to the wrong class would be undefined behaviour.
  const char* interface = job->Interface();
  if (interface == nullptr || std::strcmp(interface, spi::kDataflowJobInterface) != 0) {
    return spi::Status::Internal(std::string("DATAFLOW executor got a job implementing '") +
                                 (interface == nullptr ? "" : interface) + "', not '" +
                                 spi::kDataflowJobInterface + "'");
  }
  auto* dataflow = static_cast<spi::DataflowJobObject*>(job);
  while (true) {
    std::size_t fetched = 0;
    spi::Status status = dataflow->FetchAndProcess(context, &fetched);
    context.AddItemsProcessed(fetched);
    if (!status.ok()) return status;
    if (!streaming_ || fetched == 0) return spi::Status::Ok();
    // What was processed so far stays processed: the task ends well, and the next fire (here or
    // on the shard's new owner) goes on from where the data stands.
    if (context.IsCancelled() || context.IsReassigned()) return spi::Status::Ok();
  }
}

}  // namespace shardjob::executors
