#pragma once

// What a task's Status is, given how its process ended: the one place that words "killed by
// signal 11 (SIGSEGV)", "exceeded its address-space limit", "killed after wall timeout 5s".

#include <optional>
#include <string>

#include "config/config.h"
#include "shardjob/spi/status.h"

namespace shardjob::isolation {

struct TaskEnd {
  // The result the runner reported, if it got that far.
  std::optional<spi::Status> result;
  // Why the instance stopped the process, if it did.
  enum class Stop { kNone, kCancelled, kWallTimeout };
  Stop stop = Stop::kNone;
  bool killed_after_grace = false;  // kCancelled: SIGTERM was not enough
  // The runner noted a failed allocation under its address-space limit.
  bool allocation_failed = false;
  // As waitpid() reports it; unknown when the host reaped the child itself (SIGCHLD ignored).
  bool status_known = true;
  int wait_status = 0;
  double cpu_seconds = 0;
  std::string last_error_line;  // the last line the process wrote to stderr, for context
};

// The task's outcome. A result the runner reported is the outcome (with the address-space note
// added to a failure); otherwise the stop, the limit or the signal that ended the process is.
spi::Status TaskStatus(const TaskEnd& end, const config::IsolationLimits& limits);

// "killed by signal 11 (SIGSEGV)", "exited with code 3", ...: how the process ended, for logs.
std::string DescribeExit(const TaskEnd& end);

}  // namespace shardjob::isolation
