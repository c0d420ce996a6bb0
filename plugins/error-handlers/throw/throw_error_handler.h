#pragma once

#include "shardjob/spi/error_handler.h"
#include "shardjob/spi/logger.h"
#include "shardjob/spi/plugin.h"

namespace shardjob::error_handlers {

// THROW: ElasticJob's ThrowJobErrorHandler, which rethrows the cause as a JobSystemException.
// Nothing may be thrown across the SPI, so this logs the error and returns it as a failed Status,
// which tells the kernel to escalate: what is left of the fire on this instance is abandoned.
class ThrowErrorHandler : public spi::ErrorHandler {
 public:
  explicit ThrowErrorHandler(const spi::PluginContext& context) : logger_(context.logger) {}
  spi::Status Handle(const spi::JobError& error) noexcept override;

 private:
  // The kernel guarantees the logger outlives the handler.
  spi::Logger& logger_;
};

}  // namespace shardjob::error_handlers
