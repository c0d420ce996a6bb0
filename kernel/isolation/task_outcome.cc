#include "isolation/task_outcome.h"

#include <signal.h>
#include <sys/wait.h>

#include "config/byte_size.h"
#include "config/duration.h"
#include "isolation/task_process.h"

namespace shardjob::isolation {
namespace {

std::string AddressSpaceLimit(const config::IsolationLimits& limits) {
  return "task process exceeded its address-space limit of " +
         config::internal::FormatByteSize(limits.memory) + " (an allocation failed)";
}

// Past RLIMIT_CPU's soft limit the kernel sends SIGXCPU; the runner's hard limit, a second later,
// is SIGKILL, for code that catches or ignores SIGXCPU.
bool HitCpuLimit(const TaskEnd& end, const config::IsolationLimits& limits) {
  if (limits.cpu.count() == 0 || !WIFSIGNALED(end.wait_status)) return false;
  const int signal = WTERMSIG(end.wait_status);
  return signal == SIGXCPU ||
         (signal == SIGKILL && end.cpu_seconds >= static_cast<double>(limits.cpu.count()));
}

std::string WithContext(std::string message, const TaskEnd& end) {
  if (!end.last_error_line.empty()) message += "; its last error output: " + end.last_error_line;
  return message;
}

}  // namespace

std::string DescribeExit(const TaskEnd& end) {
  if (!end.status_known) return "ended with an unknown status (this process ignores SIGCHLD)";
  if (WIFEXITED(end.wait_status)) {
    return "exited with code " + std::to_string(WEXITSTATUS(end.wait_status));
  }
  if (WIFSIGNALED(end.wait_status)) {
    const int signal = WTERMSIG(end.wait_status);
    std::string text =
        "killed by signal " + std::to_string(signal) + " (" + SignalName(signal) + ")";
    if (WCOREDUMP(end.wait_status)) text += ", core dumped";
    return text;
  }
  return "ended with wait status " + std::to_string(end.wait_status);
}

spi::Status TaskStatus(const TaskEnd& end, const config::IsolationLimits& limits) {
  if (end.result) {
    if (end.result->ok() || !end.allocation_failed) return *end.result;
    // The codes the runtime tells apart are kept; anything else is a failure. Named for its cause.
    spi::Status status = *end.result;
    std::string message = AddressSpaceLimit(limits) + ": " + status.message();
    switch (status.code()) {
      case spi::Status::Code::kCancelled:
        return spi::Status::Cancelled(std::move(message));
      case spi::Status::Code::kTimedOut:
        return spi::Status::TimedOut(std::move(message));
      case spi::Status::Code::kInternal:
        return spi::Status::Internal(std::move(message));
      default:
        return spi::Status::Failed(std::move(message));
    }
  }
  if (end.stop == TaskEnd::Stop::kCancelled) {
    return spi::Status::Cancelled(
        end.killed_after_grace
            ? "task process killed (SIGKILL) after cancellation: it outlived the " +
                  config::internal::FormatDuration(limits.kill_grace) + " grace after SIGTERM"
            : "task process stopped by SIGTERM after cancellation");
  }
  if (end.stop == TaskEnd::Stop::kWallTimeout) {
    return spi::Status::TimedOut("task process killed after wall timeout " +
                                 config::internal::FormatDuration(limits.wall));
  }
  const std::string how = DescribeExit(end);
  if (end.allocation_failed) {
    return spi::Status::Failed(WithContext(AddressSpaceLimit(limits) + " and " + how, end));
  }
  if (HitCpuLimit(end, limits)) {
    return spi::Status::Failed("task process exceeded its CPU limit of " +
                               std::to_string(limits.cpu.count()) + "s (" + how + ")");
  }
  if (end.status_known && WIFSIGNALED(end.wait_status)) {
    return spi::Status::Failed(WithContext("task process " + how, end));
  }
  return spi::Status::Failed(
      WithContext("task process " + how + " before reporting a result", end));
}

}  // namespace shardjob::isolation
