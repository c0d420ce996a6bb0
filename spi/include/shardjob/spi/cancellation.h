#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace shardjob::spi {

// Raised by the kernel when a running task must stop: the process is shutting down and the grace
// period ran out, or the instance lost its claim on the shard. Long-running jobs should check it
// between units of work and return promptly once it is raised.
class Cancellation {
 public:
  Cancellation() = default;
  Cancellation(const Cancellation&) = delete;
  Cancellation& operator=(const Cancellation&) = delete;

  bool IsCancelled() const;
  // Sleeps up to `timeout`, waking early when cancelled. Returns IsCancelled().
  bool WaitFor(std::chrono::milliseconds timeout) const;
  void Cancel();

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  bool cancelled_ = false;
};

}  // namespace shardjob::spi
