#include "plugins/error-handlers/throw/throw_error_handler.h"

#include <exception>
#include <string>
#include <utility>

#include "plugins/error-handlers/common/job_error_message.h"

namespace shardjob::error_handlers {

spi::Status ThrowErrorHandler::Handle(const spi::JobError& error) noexcept {
  try {
    std::string message = FormatJobError(error);
    logger_.Log(spi::LogLevel::kError, message);
    return spi::Status::Failed(std::move(message));
  } catch (const std::exception&) {
    // Still escalate: the handler's whole point is that an error stops the fire.
    return spi::Status::Failed(error.message);
  }
}

}  // namespace shardjob::error_handlers
