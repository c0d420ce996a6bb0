#include "execution/trace_dispatcher.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include <spdlog/spdlog.h>

namespace shardjob::execution {
namespace {

// Said at growing intervals (1, 2, 4, ...), so a dead store cannot flood the log.
bool IsPowerOfTwo(std::uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

}  // namespace

TraceDispatcher::TraceDispatcher(std::shared_ptr<spi::Tracer> tracer,
                                 TraceDispatcherOptions options)
    : tracer_(std::move(tracer)), options_(options) {
  if (tracer_) thread_ = std::thread([this] { Deliver(); });
}

TraceDispatcher::~TraceDispatcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    drain_deadline_ = std::chrono::steady_clock::now() + options_.drain_timeout;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TraceDispatcher::Post(spi::ExecutionEvent event) { Enqueue(std::move(event)); }
void TraceDispatcher::Post(spi::StatusEvent event) { Enqueue(std::move(event)); }

void TraceDispatcher::Enqueue(spi::TraceEvent event) {
  if (!tracer_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (events_.size() + in_flight_ >= options_.capacity) {
      ++counters_.dropped;
      if (IsPowerOfTwo(counters_.dropped)) {
        spdlog::warn("trace buffer full ({} events): {} trace event(s) dropped so far",
                     options_.capacity, counters_.dropped);
      }
      return;
    }
    events_.push_back(std::move(event));
  }
  wake_.notify_one();
}

TraceCounters TraceDispatcher::Counters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  TraceCounters counters = counters_;
  counters.queue_depth = events_.size() + in_flight_;
  return counters;
}

void TraceDispatcher::Backoff(std::unique_lock<std::mutex>& lock, std::chrono::milliseconds delay) {
  auto until = std::chrono::steady_clock::now() + delay;
  if (stopping_) until = std::min(until, drain_deadline_);
  // Woken early only by the stop, which shortens the wait to the drain deadline.
  wake_.wait_until(lock, until, [this, until] {
    return std::chrono::steady_clock::now() >= until || (stopping_ && drain_deadline_ < until);
  });
}

void TraceDispatcher::Deliver() {
  std::unique_lock<std::mutex> lock(mutex_);
  std::vector<spi::TraceEvent> batch;
  std::chrono::milliseconds backoff = options_.min_backoff;
  while (true) {
    if (batch.empty()) {
      wake_.wait(lock, [this] { return stopping_ || !events_.empty(); });
      if (events_.empty()) return;
      // After a refused batch its events go one by one, so that only the refused ones are lost.
      const std::size_t take = std::min(events_.size(), one_by_one_ > 0 ? 1 : options_.max_batch);
      if (one_by_one_ > 0) --one_by_one_;
      batch.assign(std::make_move_iterator(events_.begin()),
                   std::make_move_iterator(events_.begin() + static_cast<std::ptrdiff_t>(take)));
      events_.erase(events_.begin(), events_.begin() + static_cast<std::ptrdiff_t>(take));
      in_flight_ = batch.size();
    }
    if (stopping_ && std::chrono::steady_clock::now() >= drain_deadline_) {
      const std::uint64_t left = batch.size() + events_.size();
      counters_.dropped += left;
      in_flight_ = 0;
      events_.clear();
      spdlog::error(
          "trace store {} at shutdown: {} buffered trace event(s) dropped",
          counters_.store_available ? "too slow to drain the buffer" : "still unavailable", left);
      return;
    }
    lock.unlock();
    spi::Status status = tracer_->Write(batch);
    lock.lock();
    if (status.code() == spi::Status::Code::kUnavailable) {
      ++counters_.retries;
      if (counters_.store_available) {
        spdlog::warn("trace store unavailable ({}); buffering up to {} events and retrying",
                     status.message(), options_.capacity);
      }
      counters_.store_available = false;
      Backoff(lock, backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    if (!counters_.store_available) {
      spdlog::info("trace store available again; {} buffered event(s) to write",
                   events_.size() + batch.size());
    }
    counters_.store_available = true;
    backoff = options_.min_backoff;
    if (status.ok()) {
      counters_.written += batch.size();
    } else if (batch.size() > 1) {
      spdlog::warn("trace store refused a batch of {} events ({}); writing them one by one",
                   batch.size(), status.ToString());
      one_by_one_ = batch.size();
      events_.insert(events_.begin(), std::make_move_iterator(batch.begin()),
                     std::make_move_iterator(batch.end()));
    } else {
      ++counters_.rejected;
      spdlog::error("trace store refused an event, which is dropped: {}", status.ToString());
    }
    batch.clear();
    in_flight_ = 0;
  }
}

}  // namespace shardjob::execution
