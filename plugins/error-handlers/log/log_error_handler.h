#pragma once

#include "shardjob/spi/error_handler.h"
#include "shardjob/spi/logger.h"
#include "shardjob/spi/plugin.h"

namespace shardjob::error_handlers {

// LOG, ElasticJob's default: logs the error at error level and lets the fire go on.
class LogErrorHandler : public spi::ErrorHandler {
 public:
  explicit LogErrorHandler(const spi::PluginContext& context) : logger_(context.logger) {}
  spi::Status Handle(const spi::JobError& error) noexcept override;

 private:
  // The kernel guarantees the logger outlives the handler.
  spi::Logger& logger_;
};

}  // namespace shardjob::error_handlers
