#pragma once

// The threads that run tasks, shared by every job of the process. The thread count follows the
// work running at once, not the number of jobs (ElasticJob's thread per job is how its users
// reach 20k threads for 7k jobs):
// - while work waits, up to one thread per hardware thread runs it (idle threads are woken
//   first, new ones started);
// - beyond that, when no thread has taken a task for kStallTime while work waits, one more
//   thread is woken or started for each thread held asleep by its task that long (a job body
//   that sleeps or waits on a request), each held thread replaced once, up to the cap. Threads
//   that go from short task to short task, or that compute, get no company: on a busy machine
//   more threads would only divide the same cores;
// - a thread idle for `idle_timeout` leaves.
// So a burst of 10,000 short tasks is run by about as many threads as there are cores, not by
// one thread per task, and long tasks hold the ones behind them up for about kStallTime.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace shardjob::execution {

class WorkerPool {
 public:
  // Which queue a task joins. Threads take kStart tasks (a shard's task starting) before kNormal
  // ones (claims, commits, the rest): when a burst of fires is due at one instant, every task of
  // the burst starts before the burst's registry work takes the threads.
  enum class Priority { kNormal, kStart };

  static constexpr std::chrono::milliseconds kStallTime{10};

  WorkerPool(std::size_t max_threads, std::chrono::milliseconds idle_timeout);
  ~WorkerPool();  // runs what is queued, then joins every thread
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Never blocks. Tasks must not throw.
  void Submit(std::function<void()> task, Priority priority = Priority::kNormal);
  // Queues every task under one lock (a burst costs one hand-over, not one per task).
  void SubmitAll(std::vector<std::function<void()>> tasks, Priority priority);
  // True while kStart tasks wait for a thread (a hint: read without the lock).
  bool StartsWaiting() const { return starts_waiting_.load(std::memory_order_relaxed); }
  std::size_t ThreadCount() const;
  // Raises the cap: a job started at run time brings its own threads.
  void AddCapacity(std::size_t threads);

 private:
  // REQUIRES: mutex_ held. `added` tasks were queued: wakes idle threads for them and starts
  // threads while fewer than eager_threads_ run; the stall watch does the rest.
  void WakeForLocked(std::size_t added);
  // REQUIRES: mutex_ held. False when no thread could be started.
  bool StartThreadLocked();
  std::size_t QueuedLocked() const { return starts_.size() + others_.size(); }
  // REQUIRES: mutex_ held, something queued. The next task: starts first.
  std::function<void()> TakeLocked();
  void Work();
  void WatchForStalls();

  std::size_t max_threads_;  // guarded by mutex_
  const std::size_t eager_threads_;
  const std::chrono::milliseconds idle_timeout_;
  mutable std::mutex mutex_;
  std::condition_variable queued_;
  std::condition_variable exited_;
  std::condition_variable watch_;
  std::deque<std::function<void()>> starts_;  // Priority::kStart
  std::deque<std::function<void()>> others_;  // Priority::kNormal
  // !starts_.empty(), for StartsWaiting(): read by every task of a burst, so on a line of its
  // own and written only when it changes.
  alignas(64) std::atomic<bool> starts_waiting_{false};
  // Per running thread: since when its current task runs, and whether a thread was started
  // in its place. Each thread owns its entry.
  struct Busy {
    std::chrono::steady_clock::time_point since = std::chrono::steady_clock::time_point::max();
    bool replaced = false;
    int tid = 0;  // the kernel's id of the thread, to read its state
  };
  // A thread runnable (running, or waiting for a core) is slow for want of CPU, which another
  // thread would only divide; one asleep (a sleep, a request, a lock) is held by its task.
  static bool Runnable(int tid);
  std::list<Busy> busy_;
  std::size_t replaced_ = 0;  // threads held by a task and replaced (Busy::replaced)
  std::uint64_t taken_ = 0;   // tasks taken from the queues, ever
  // REQUIRES: mutex_ held.
  void NoteStartsLocked() {
    if (starts_waiting_.load(std::memory_order_relaxed) == starts_.empty()) {
      starts_waiting_.store(!starts_.empty(), std::memory_order_relaxed);
    }
  }
  std::size_t threads_ = 0;
  std::size_t idle_ = 0;
  bool watching_ = false;  // the watch is timing a wait: no need to wake it
  bool stopping_ = false;
  std::thread watcher_;  // last: started once the rest is built
};

// Limits how many of one job's tasks run at once (the job's executor_thread_pool), queueing the
// rest in order, on top of the shared pool. Its tasks start shards: Priority::kStart. Held by
// shared_ptr: the pool's threads keep the lane alive while they run its tasks, whoever else lets
// go of it.
class TaskLane : public std::enable_shared_from_this<TaskLane> {
 public:
  TaskLane(WorkerPool& pool, std::size_t limit) : pool_(pool), limit_(limit == 0 ? 1 : limit) {}
  TaskLane(const TaskLane&) = delete;
  TaskLane& operator=(const TaskLane&) = delete;

  void Submit(std::function<void()> task);
  // For a caller handing many tasks to the pool at once: the pool task that runs `task` when the
  // lane has room now, or nothing (the lane queued it, and runs it when a slot frees).
  std::function<void()> Admit(std::function<void()> task);
  WorkerPool& pool() const { return pool_; }

 private:
  void RunAndContinue(std::function<void()> task);

  WorkerPool& pool_;
  const std::size_t limit_;
  std::mutex mutex_;
  std::deque<std::function<void()>> waiting_;
  std::size_t running_ = 0;
};

}  // namespace shardjob::execution
