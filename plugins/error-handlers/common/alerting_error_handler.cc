#include "plugins/error-handlers/common/alerting_error_handler.h"

#include <chrono>
#include <exception>

namespace shardjob::error_handlers {

spi::Status AlertingErrorHandler::Handle(const spi::JobError& error) noexcept {
  try {
    sender_.Enqueue(Alert{error, std::chrono::system_clock::now()});
  } catch (const std::exception&) {
    // Copying or queueing the error ran out of memory. The alert is lost, but escalating would turn
    // a reporting problem into an abandoned fire, which is worse; it is said, without allocating
    // more than the logger needs.
    try {
      logger_.Log(spi::LogLevel::kError, "alert dropped: out of memory while queueing it");
    } catch (...) {
    }
  }
  return spi::Status::Ok();
}

}  // namespace shardjob::error_handlers
