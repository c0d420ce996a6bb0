#include "plugins/error-handlers/common/alert_sender.h"

#include <algorithm>
#include <exception>
#include <string>
#include <utility>

#include "plugins/error-handlers/common/alert_text.h"

namespace shardjob::error_handlers {

AlertSender::AlertSender(std::unique_ptr<AlertChannel> channel, SenderOptions options,
                         spi::Logger& logger)
    : channel_(std::move(channel)), options_(options), logger_(logger) {
  thread_ = std::thread([this] { Run(); });
}

AlertSender::~AlertSender() {
  std::unique_lock<std::mutex> lock(mutex_);
  stopping_ = true;
  wake_.notify_all();
  // Past the timeout the attempt in flight is aborted and whatever is still queued is dropped
  // (and logged by the thread), so a dead receiver cannot hold up the process's shutdown.
  if (!done_.wait_for(lock, options_.shutdown_timeout, [this] { return finished_; })) {
    abort_ = true;
    wake_.notify_all();
  }
  lock.unlock();
  thread_.join();
}

bool AlertSender::Enqueue(Alert alert) {
  std::uint64_t dropped = 0;
  bool stopping = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_ && queue_.size() < options_.queue_size) {
      queue_.push_back(std::move(alert));
      wake_.notify_one();
      return true;
    }
    stopping = stopping_;
    dropped = ++dropped_;
  }
  try {
    std::string why =
        stopping ? "the handler is stopping"
                 : "the alert queue is full (" + std::to_string(options_.queue_size) + " waiting)";
    Log(spi::LogLevel::kError, "alert dropped, " + why + ": " + AlertLabel(alert.error) +
                                   " instance=" + alert.error.instance_id + ": " +
                                   alert.error.message + " (" + std::to_string(dropped) +
                                   " dropped so far)");
  } catch (const std::exception&) {
    Log(spi::LogLevel::kError, "alert dropped: queue full or handler stopping");
  }
  return false;
}

void AlertSender::Run() noexcept {
  for (;;) {
    Alert alert;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty() || abort_) break;
      alert = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      DeliverWithRetries(alert);
    } catch (const std::exception& e) {
      // Out of memory while building a log line: the alert is lost, the thread goes on.
      Log(spi::LogLevel::kError, std::string("alert lost: ") + e.what());
    }
  }
  std::size_t left = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    left = queue_.size();
    queue_.clear();
    finished_ = true;
  }
  done_.notify_all();
  if (left > 0) {
    Log(spi::LogLevel::kError,
        std::to_string(left) + " queued alert(s) dropped: not sent within the " +
            std::to_string(options_.shutdown_timeout.count()) + " ms shutdown timeout");
  }
}

void AlertSender::DeliverWithRetries(const Alert& alert) {
  std::chrono::milliseconds delay = options_.backoff;
  spi::Status status;
  int attempt = 1;
  for (;; ++attempt) {
    status = Attempt(alert);
    if (status.ok()) {
      Log(attempt == 1 ? spi::LogLevel::kDebug : spi::LogLevel::kInfo,
          "alert delivered on attempt " + std::to_string(attempt) + ": " + AlertLabel(alert.error));
      return;
    }
    if (abort_ || attempt >= options_.max_attempts) break;
    Log(spi::LogLevel::kWarn, "alert attempt " + std::to_string(attempt) + " of " +
                                  std::to_string(options_.max_attempts) + " failed (" +
                                  AlertLabel(alert.error) + "): " + status.message() +
                                  "; next attempt in " + std::to_string(delay.count()) + " ms");
    if (!Backoff(delay)) break;
    delay = std::min(delay * 2, options_.max_backoff);
  }
  // The error itself goes into the line: this is the last place it is reported.
  std::string why =
      abort_ ? "the handler stopped before it got through"
             : std::to_string(attempt) + " attempt(s) failed, the last: " + status.message();
  Log(spi::LogLevel::kError, "alert not delivered (" + AlertLabel(alert.error) +
                                 " instance=" + alert.error.instance_id +
                                 " error: " + alert.error.message + "): " + why);
}

spi::Status AlertSender::Attempt(const Alert& alert) {
  try {
    return channel_->Deliver(alert, abort_);
  } catch (const std::exception& e) {
    return spi::Status::Internal(std::string("the channel threw: ") + e.what());
  }
}

bool AlertSender::Backoff(std::chrono::milliseconds delay) {
  std::unique_lock<std::mutex> lock(mutex_);
  return !wake_.wait_for(lock, delay, [this] { return abort_.load(); });
}

void AlertSender::Log(spi::LogLevel level, const std::string& message) noexcept {
  try {
    logger_.Log(level, message);
  } catch (...) {
    // A logger that fails has nowhere better to report to.
  }
}

}  // namespace shardjob::error_handlers
