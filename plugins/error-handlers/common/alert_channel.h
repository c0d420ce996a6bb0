#pragma once

#include <atomic>
#include <chrono>

#include "shardjob/spi/error_handler.h"
#include "shardjob/spi/status.h"

namespace shardjob::error_handlers {

// One error to report, stamped when the handler was told about it, so the time an alert carries
// is when the job failed, not when a retry finally got through.
struct Alert {
  spi::JobError error;
  std::chrono::system_clock::time_point time;
};

// Where alerts go: one attempt at delivering one alert (an HTTP POST, an SMTP session). The
// AlertSender calls it from its own thread, one call at a time, so an implementation needs no
// locking of its own.
class AlertChannel {
 public:
  virtual ~AlertChannel() = default;

  // Returns OK when the far end accepted the alert. `abort` turns true when the sender is shutting
  // down and its grace period is over: a long attempt gives up soon after.
  virtual spi::Status Deliver(const Alert& alert, const std::atomic<bool>& abort) = 0;
};

}  // namespace shardjob::error_handlers
