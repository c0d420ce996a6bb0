#include "plugins/error-handlers/log/log_error_handler.h"

#include <exception>

#include "plugins/error-handlers/common/job_error_message.h"

namespace shardjob::error_handlers {

spi::Status LogErrorHandler::Handle(const spi::JobError& error) noexcept {
  try {
    logger_.Log(spi::LogLevel::kError, FormatJobError(error));
  } catch (const std::exception&) {
    // Out of memory while formatting: nothing better to do than not log. Escalating would turn a
    // logging problem into an abandoned fire.
  }
  return spi::Status::Ok();
}

}  // namespace shardjob::error_handlers
