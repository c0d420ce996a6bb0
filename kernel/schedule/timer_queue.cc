#include "schedule/timer_queue.h"

#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/system_timer.hpp>

namespace shardjob::schedule {

namespace asio = boost::asio;

class TimerQueue::Impl {
 public:
  Impl() : work_(asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}

  ~Impl() { Stop(); }

  void Add(const std::string& job_name, std::shared_ptr<const Schedule> schedule,
           std::chrono::milliseconds jitter, FireHandler handler, std::chrono::milliseconds ahead) {
    asio::post(io_, [this, job_name, schedule = std::move(schedule), jitter, ahead,
                     handler = std::move(handler)]() mutable {
      if (stopped_) return;  // an Add that raced Stop must not give the loop work again
      auto entry = std::make_shared<Entry>(io_);
      entry->job_name = job_name;
      entry->schedule = std::move(schedule);
      entry->jitter = jitter;
      // A fixed delay counts from the last completion: there is no instant to be ahead of.
      entry->ahead = entry->schedule->CountsFromCompletion() ? std::chrono::milliseconds(0) : ahead;
      entry->handler = std::move(handler);
      auto old = entries_.find(job_name);
      if (old != entries_.end()) {
        old->second->timer.cancel();
        entry->last_handed = old->second->last_handed;
      }
      entries_[job_name] = entry;
      Arm(entry, NowMs());
    });
  }

  void FireCompleted(const std::string& job_name, TimePoint completed) {
    asio::post(io_, [this, job_name, completed] {
      if (stopped_) return;
      auto it = entries_.find(job_name);
      if (it != entries_.end() && it->second->schedule->CountsFromCompletion()) {
        Arm(it->second, completed);
      }
    });
  }

  void Remove(const std::string& job_name) {
    asio::post(io_, [this, job_name] {
      auto it = entries_.find(job_name);
      if (it == entries_.end()) return;
      it->second->timer.cancel();
      entries_.erase(it);
    });
  }

  void RearmAll() {
    asio::post(io_, [this] {
      if (stopped_) return;
      for (auto& [name, entry] : entries_) {
        if (!entry->schedule->CountsFromCompletion()) Arm(entry, NowMs());
      }
    });
  }

  void Stop() {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    if (!thread_.joinable()) return;
    asio::post(io_, [this] {
      stopped_ = true;
      for (auto& [name, entry] : entries_) entry->timer.cancel();
      entries_.clear();
      work_.reset();
    });
    thread_.join();
  }

 private:
  struct Entry {
    explicit Entry(asio::io_context& io) : timer(io) {}
    std::string job_name;
    std::shared_ptr<const Schedule> schedule;
    std::chrono::milliseconds jitter{0};
    std::chrono::milliseconds ahead{0};
    // The last fire handed over: its instant, and how far ahead of its start it went.
    struct Handed {
      TimePoint instant{};
      std::chrono::milliseconds ahead{0};
    } last_handed;
    FireHandler handler;
    asio::system_timer timer;
  };

  // Runs on the timer thread.
  void Arm(const std::shared_ptr<Entry>& entry, TimePoint after) {
    // Re-armed (a config change, the clock back) between handing a fire over ahead and its
    // instant: that instant is not handed over again. A clock stepped back further than that
    // re-arms from the new time, as without `ahead`.
    const Entry::Handed& handed = entry->last_handed;
    if (handed.ahead.count() > 0 && handed.instant >= after &&
        handed.instant - after <= handed.ahead) {
      after = handed.instant;
    }
    std::optional<TimePoint> next = entry->schedule->NextAfter(after);
    if (!next) {
      spdlog::info("job={} schedule {} never fires again", entry->job_name,
                   entry->schedule->Describe());
      return;
    }
    TimePoint scheduled = *next;
    std::chrono::milliseconds jitter = RandomJitter(entry->jitter);
    const TimePoint start = scheduled + jitter;
    const std::chrono::milliseconds ahead = entry->ahead;
    entry->timer.expires_at(start - ahead);
    std::weak_ptr<Entry> weak = entry;
    entry->timer.async_wait(
        [this, weak, scheduled, start, jitter, ahead](const boost::system::error_code& error) {
          std::shared_ptr<Entry> live = weak.lock();
          if (error || !live || stopped_) return;  // cancelled: removed, replaced or stopping
          live->last_handed = {scheduled, ahead};
          Fire fire{live->job_name, scheduled, std::to_string(scheduled.time_since_epoch().count()),
                    ahead.count() > 0 ? start : TimePoint{}};
          // Arm before handing the fire over, so a slow handler never delays the next fire. The
          // next instant counts from this one, less the jitter this start was delayed by (or
          // instants within the jitter would be skipped); instants the process missed altogether
          // (it was suspended, the clock jumped) are not fired in a burst.
          if (!live->schedule->CountsFromCompletion()) {
            Arm(live, std::max(scheduled, NowMs() - jitter));
          }
          live->handler(fire);
        });
  }

  std::chrono::milliseconds RandomJitter(std::chrono::milliseconds jitter) {
    if (jitter.count() <= 0) return std::chrono::milliseconds(0);
    std::uniform_int_distribution<std::int64_t> pick(0, jitter.count() - 1);
    return std::chrono::milliseconds(pick(random_));
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::map<std::string, std::shared_ptr<Entry>> entries_;  // touched on the timer thread only
  std::mt19937_64 random_{std::random_device{}()};
  bool stopped_ = false;  // touched on the timer thread only
  std::mutex stop_mutex_;
  std::thread thread_;  // last: starts once the members it uses exist
};

TimerQueue::TimerQueue() : impl_(std::make_unique<Impl>()) {}
TimerQueue::~TimerQueue() = default;

void TimerQueue::Add(const std::string& job_name, std::shared_ptr<const Schedule> schedule,
                     std::chrono::milliseconds jitter, FireHandler handler,
                     std::chrono::milliseconds ahead) {
  impl_->Add(job_name, std::move(schedule), jitter, std::move(handler), ahead);
}

void TimerQueue::FireCompleted(const std::string& job_name, TimePoint completed) {
  impl_->FireCompleted(job_name, completed);
}

void TimerQueue::Remove(const std::string& job_name) { impl_->Remove(job_name); }

void TimerQueue::RearmAll() { impl_->RearmAll(); }

void TimerQueue::Stop() { impl_->Stop(); }

}  // namespace shardjob::schedule
