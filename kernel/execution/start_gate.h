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
  StartGate();
  ~StartGate();  // Stop()s
  StartGate(const StartGate&) = delete;
  StartGate& operator=(const StartGate&) = delete;

  // Runs `task` through `lane` (and the lane's pool) when the wall clock reads `instant`, or
  // after `longest`, whichever is first. The wait is timed on the steady clock from now (rounded
  // up to the microsecond, never early), so a wall clock stepped back meanwhile cannot hold the
  // task for the step. After Stop(), at once.
  void Add(schedule::TimePoint instant, std::chrono::nanoseconds longest,
           std::shared_ptr<TaskLane> lane, std::function<void()> task);
  // Hands what waits to the lanes at once and joins the thread. Call it while the pools are
  // there; tasks they run may still Add (the gate must outlive them).
  void Stop();

 private:
  // A batch's tasks are admitted to their lanes this long before its instant, so that at the
  // instant the thread only queues them, and the workers have both cores for the burst. A task
  // a full lane holds may then start before the instant: RunTask waits out the rest.
  static constexpr std::chrono::milliseconds kAdmitLead{2};

  // Tasks of one instant and bound: the bound counts from the batch's making, so jobs with
  // another one wait in a batch of their own.
  using BatchKey = std::pair<schedule::TimePoint, std::chrono::nanoseconds>;
  struct Batch {
    std::chrono::steady_clock::time_point due;
    std::vector<std::pair<std::shared_ptr<TaskLane>, std::function<void()>>> tasks;
    // What the lanes let through, for their pools.
    std::vector<std::pair<WorkerPool*, std::function<void()>>> admitted;
    bool admitted_all = false;  // tasks added from then on are admitted at once
  };

  void Run();
  // REQUIRES: mutex_ held.
  static void AdmitAll(Batch& batch);
  static void Admit(Batch& batch, const std::shared_ptr<TaskLane>& lane,
                    std::function<void()> task);
  static void HandOver(std::vector<std::pair<WorkerPool*, std::function<void()>>> tasks);

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<BatchKey, Batch> batches_;
  std::multimap<std::chrono::steady_clock::time_point, BatchKey> by_due_;
  // What the thread sleeps until (max: nothing waits); an earlier batch must wake it.
  std::chrono::steady_clock::time_point sleeping_until_ =
      std::chrono::steady_clock::time_point::max();
  bool stopping_ = false;
  bool stopped_ = false;  // the thread is gone: Add hands over at once
  std::thread thread_;    // last
};

}  // namespace shardjob::execution
