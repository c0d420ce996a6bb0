#pragma once

#include "shardjob/spi/error_handler.h"

namespace shardjob::error_handlers {

// IGNORE: ElasticJob's IgnoreJobErrorHandler. Drops the error; the fire goes on. The failure is
// still recorded in traces and metrics by the kernel.
class IgnoreErrorHandler : public spi::ErrorHandler {
 public:
  spi::Status Handle(const spi::JobError& error) noexcept override;
};

}  // namespace shardjob::error_handlers
