#include "plugins/error-handlers/ignore/ignore_error_handler.h"

namespace shardjob::error_handlers {

spi::Status IgnoreErrorHandler::Handle(const spi::JobError& /*error*/) noexcept {
  return spi::Status::Ok();
}

}  // namespace shardjob::error_handlers
