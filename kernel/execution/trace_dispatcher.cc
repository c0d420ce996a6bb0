#include "execution/trace_dispatcher.h"

#include <utility>

#include <spdlog/spdlog.h>

namespace shardjob::execution {

TraceDispatcher::TraceDispatcher(std::shared_ptr<spi::Tracer> tracer, std::size_t capacity)
    : tracer_(std::move(tracer)), capacity_(capacity) {
  if (tracer_) thread_ = std::thread([this] { Deliver(); });
}

TraceDispatcher::~TraceDispatcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  queued_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TraceDispatcher::Post(spi::ExecutionEvent event) { Enqueue(std::move(event)); }
void TraceDispatcher::Post(spi::StatusEvent event) { Enqueue(std::move(event)); }

void TraceDispatcher::Enqueue(Event event) {
  if (!tracer_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (events_.size() >= capacity_) {
      ++dropped_;
      // Said, not silent; at growing intervals (1, 2, 4, ...) so a dead store cannot flood the log.
      if ((dropped_ & (dropped_ - 1)) == 0) {
        spdlog::warn("trace queue full ({} events): {} trace event(s) dropped so far", capacity_,
                     dropped_);
      }
      return;
    }
    events_.push_back(std::move(event));
  }
  queued_.notify_one();
}

std::uint64_t TraceDispatcher::Dropped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return dropped_;
}

std::size_t TraceDispatcher::QueueDepth() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return events_.size();
}

void TraceDispatcher::Deliver() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    queued_.wait(lock, [this] { return stopping_ || !events_.empty(); });
    if (events_.empty()) return;
    Event event = std::move(events_.front());
    events_.pop_front();
    lock.unlock();
    if (auto* execution = std::get_if<spi::ExecutionEvent>(&event)) {
      tracer_->OnExecution(*execution);
    } else {
      tracer_->OnStatus(std::get<spi::StatusEvent>(event));
    }
    lock.lock();
  }
}

}  // namespace shardjob::execution
