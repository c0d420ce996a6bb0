#pragma once

// Hands trace events to the tracer plugin on a thread of its own, so a slow or dead trace store
// never delays a fire. Events wait in a bounded buffer and go to the tracer in batches, in order.
// While the store is unavailable the head batch is retried with a growing backoff and new events
// keep filling the buffer; once it holds `capacity` events, further events are dropped and
// counted. So no event is lost while an outage fits in the buffer. A batch the store refuses is
// written again one event at a time, so that only the events it refuses alone are dropped.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "shardjob/spi/tracer.h"

namespace shardjob::execution {

struct TraceDispatcherOptions {
  std::size_t capacity = 10000;  // events buffered, the batch being written included
  std::size_t max_batch = 256;
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  // At shutdown, how long to keep writing what is buffered before dropping it.
  std::chrono::milliseconds drain_timeout{5000};
};

struct TraceCounters {
  std::uint64_t written = 0;    // stored by the tracer
  std::uint64_t dropped = 0;    // lost: the buffer was full, or left over at shutdown
  std::uint64_t rejected = 0;   // refused by the store (not Unavailable), so not retried
  std::uint64_t retries = 0;    // batches written again after Unavailable
  std::size_t queue_depth = 0;  // buffered now, the batch being written included
  bool store_available = true;  // false from an Unavailable until the next write succeeds
};

class TraceDispatcher {
 public:
  // `tracer` may be null: events are then discarded without being counted.
  TraceDispatcher(std::shared_ptr<spi::Tracer> tracer, TraceDispatcherOptions options = {});
  ~TraceDispatcher();  // writes what is buffered (up to drain_timeout), then joins
  TraceDispatcher(const TraceDispatcher&) = delete;
  TraceDispatcher& operator=(const TraceDispatcher&) = delete;

  void Post(spi::ExecutionEvent event);
  void Post(spi::StatusEvent event);

  bool enabled() const { return tracer_ != nullptr; }
  TraceCounters Counters() const;

 private:
  void Enqueue(spi::TraceEvent event);
  void Deliver();
  // Sleeps `delay`, or less when a stop brings the drain deadline closer.
  void Backoff(std::unique_lock<std::mutex>& lock, std::chrono::milliseconds delay);

  std::shared_ptr<spi::Tracer> tracer_;
  const TraceDispatcherOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<spi::TraceEvent> events_;  // not yet handed to the tracer
  std::size_t in_flight_ = 0;           // in the batch the tracer is writing
  std::size_t one_by_one_ = 0;          // events of a refused batch still to write singly
  TraceCounters counters_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
  std::thread thread_;  // last
};

}  // namespace shardjob::execution
