#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "plugins/error-handlers/common/alert_channel.h"
#include "shardjob/spi/logger.h"

namespace shardjob::error_handlers {

struct SenderOptions {
  // Alerts waiting for the sender's thread; one more is dropped (and logged) rather than block
  // the task thread that reported it.
  std::size_t queue_size = 100;
  // Attempts per alert, the first included.
  int max_attempts = 3;
  // The wait before the second attempt; it doubles before each further one, up to max_backoff.
  std::chrono::milliseconds backoff{500};
  std::chrono::milliseconds max_backoff{60000};
  // How long the destructor lets queued and in-flight alerts go out before it drops them.
  std::chrono::milliseconds shutdown_timeout{5000};
};

// Delivers alerts through a channel on a thread of its own, so that a slow or dead receiver never
// holds up the task thread that reported the error. Alerts wait in a bounded queue and each is
// tried up to max_attempts times with exponential backoff; every alert that is not delivered is
// logged, whether it was dropped on a full queue, failed every attempt, or was still queued at
// shutdown.
//
// Thread-safe: Enqueue() may be called from any thread.
class AlertSender {
 public:
  AlertSender(std::unique_ptr<AlertChannel> channel, SenderOptions options, spi::Logger& logger);
  // Stops taking alerts, gives those queued or in flight up to shutdown_timeout, then aborts the
  // attempt in flight and joins the thread.
  ~AlertSender();

  AlertSender(const AlertSender&) = delete;
  AlertSender& operator=(const AlertSender&) = delete;

  // Queues the alert and returns at once. Returns false, after logging the alert it dropped, when
  // the queue is full or the sender is stopping. Throws only std::bad_alloc.
  bool Enqueue(Alert alert);

 private:
  void Run() noexcept;
  void DeliverWithRetries(const Alert& alert);
  spi::Status Attempt(const Alert& alert);
  // Waits `delay` unless aborted first; returns false when aborted.
  bool Backoff(std::chrono::milliseconds delay);
  void Log(spi::LogLevel level, const std::string& message) noexcept;

  const std::unique_ptr<AlertChannel> channel_;
  const SenderOptions options_;
  spi::Logger& logger_;

  std::mutex mutex_;
  std::condition_variable wake_;  // an alert was queued, or stopping_ or abort_ was set
  std::condition_variable done_;  // finished_ was set
  std::deque<Alert> queue_;
  std::uint64_t dropped_ = 0;
  bool stopping_ = false;
  bool finished_ = false;
  // Read by the channel's transfer callbacks without the mutex, hence atomic.
  std::atomic<bool> abort_{false};

  // Last, so the thread starts once every member above exists.
  std::thread thread_;
};

}  // namespace shardjob::error_handlers
