#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shardjob/spi/logger.h"

namespace shardjob::error_handlers {

// Keeps every line, for tests to search; safe to call from the sender's thread.
class RecordingLogger : public spi::Logger {
 public:
  void Log(spi::LogLevel level, std::string_view message) override {
    std::lock_guard<std::mutex> lock(mutex_);
    lines_.emplace_back(level, std::string(message));
    changed_.notify_all();
  }

  std::vector<std::pair<spi::LogLevel, std::string>> Lines() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }

  // Waits (bounded) until some line contains `part`; returns whether one does.
  bool WaitFor(const std::string& part, std::chrono::seconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return HasLocked(part); });
  }

  bool Has(const std::string& part) {
    std::lock_guard<std::mutex> lock(mutex_);
    return HasLocked(part);
  }

 private:
  bool HasLocked(const std::string& part) const {
    for (const auto& line : lines_) {
      if (line.second.find(part) != std::string::npos) return true;
    }
    return false;
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::pair<spi::LogLevel, std::string>> lines_;
};

}  // namespace shardjob::error_handlers
