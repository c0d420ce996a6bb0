#pragma once

// Holds the tasks of fires claimed ahead of their instant (a job's claim_ahead) until the
// instant, without a thread per task, then hands every task due at one instant to the worker
// pool at once (WorkerPool::SubmitAll). One thread for the process: 10,000 jobs due at the same
// second wait in one batch, and their tasks are queued together when it comes.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "execution/worker_pool.h"
#include "schedule/schedule.h"

namespace shardjob::execution {

class StartGate {
 public:
  explicit StartGate(WorkerPool& pool);
  ~StartGate();  // hands what still waits to the pool at once, then joins
  StartGate(const StartGate&) = delete;
  StartGate& operator=(const StartGate&) = delete;

  // Runs `task` through `lane` when the wall clock reads `instant`, or after `longest`, whichever
  // is first. The wait is timed on the steady clock from now (rounded up to the microsecond,
  // never early), so a wall clock stepped back meanwhile cannot hold the task for the step.
  void Add(schedule::TimePoint instant, std::chrono::nanoseconds longest,
           std::shared_ptr<TaskLane> lane, std::function<void()> task);

 private:
  // A batch's tasks are admitted to their lanes this long before its instant, so that at the
  // instant the thread only queues them, and the workers have both cores for the burst. A task
  // a full lane holds may then start before the instant: RunTask waits out the rest.
  static constexpr std::chrono::milliseconds kAdmitLead{2};

  struct Batch {
    std::chrono::steady_clock::time_point due;
    std::vector<std::pair<std::shared_ptr<TaskLane>, std::function<void()>>> tasks;
    std::vector<std::function<void()>> admitted;  // what the lanes let through, for the pool
    bool admitted_all = false;                    // tasks added from then on are admitted at once
  };

  void Run();
  // REQUIRES: mutex_ held.
  static void AdmitAll(Batch& batch);

  WorkerPool& pool_;
  std::mutex mutex_;
  std::condition_variable changed_;
  // By the wall-clock instant the tasks wait for; a batch's `due` is worked out when it is made.
  std::map<schedule::TimePoint, Batch> batches_;
  std::multimap<std::chrono::steady_clock::time_point, schedule::TimePoint> by_due_;
  // What the thread sleeps until (max: nothing waits); an earlier batch must wake it.
  std::chrono::steady_clock::time_point sleeping_until_ =
      std::chrono::steady_clock::time_point::max();
  bool stopping_ = false;
  std::thread thread_;  // last
};

}  // namespace shardjob::execution
