#pragma once

// Hands trace events to the tracer plugin on a thread of its own, through a bounded queue, so a
// slow or dead trace store never delays a fire. When the queue is full, events are dropped and
// counted.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <variant>

#include "shardjob/spi/tracer.h"

namespace shardjob::execution {

class TraceDispatcher {
 public:
  // `tracer` may be null: events are then discarded without being counted as dropped.
  TraceDispatcher(std::shared_ptr<spi::Tracer> tracer, std::size_t capacity);
  ~TraceDispatcher();  // delivers what is queued, then joins
  TraceDispatcher(const TraceDispatcher&) = delete;
  TraceDispatcher& operator=(const TraceDispatcher&) = delete;

  void Post(spi::ExecutionEvent event);
  void Post(spi::StatusEvent event);

  std::uint64_t Dropped() const;
  std::size_t QueueDepth() const;

 private:
  using Event = std::variant<spi::ExecutionEvent, spi::StatusEvent>;
  void Enqueue(Event event);
  void Deliver();

  std::shared_ptr<spi::Tracer> tracer_;
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable queued_;
  std::deque<Event> events_;
  std::uint64_t dropped_ = 0;
  bool stopping_ = false;
  std::thread thread_;  // last
};

}  // namespace shardjob::execution
