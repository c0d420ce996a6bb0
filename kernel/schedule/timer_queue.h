#pragma once

// One timer thread for every job of the process (Boost.Asio underneath, kept out of this header).
// No thread per job and no polling: each job has one armed timer at a time.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "schedule/schedule.h"

namespace shardjob::schedule {

struct Fire {
  std::string job_name;
  TimePoint scheduled;  // the instant the schedule named; the fire id is its epoch milliseconds
  std::string fire_id;
  // When its tasks may start, for a fire handed over ahead of it (TimerQueue::Add's `ahead`):
  // the instant plus any jitter. The epoch (the default) means at once.
  TimePoint start_at{};
};

class TimerQueue {
 public:
  // Called on the timer thread; must return quickly (hand the work to a pool).
  using FireHandler = std::function<void(const Fire&)>;

  TimerQueue();
  ~TimerQueue();  // Stop()s
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  // Arms the job's timer for the schedule's next fire after now. `jitter` delays each start by a
  // random 0..jitter without changing the fire id. `ahead` hands each fire over that much before
  // its start, with Fire::start_at set (schedules counted from an instant, not from completion).
  // Replaces an earlier registration of the job.
  void Add(const std::string& job_name, std::shared_ptr<const Schedule> schedule,
           std::chrono::milliseconds jitter, FireHandler handler,
           std::chrono::milliseconds ahead = std::chrono::milliseconds(0));
  // For schedules that count from completion: arms the next fire after `completed`.
  void FireCompleted(const std::string& job_name, TimePoint completed);
  void Remove(const std::string& job_name);
  // Arms every timer again from the wall clock as it is now: after the clock stepped, a timer
  // armed for an instant the step moved far away would otherwise wait for it.
  void RearmAll();
  // Cancels every timer and joins the thread. No handler runs after it returns.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shardjob::schedule
