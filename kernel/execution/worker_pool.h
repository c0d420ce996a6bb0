#pragma once

// The threads that run tasks, shared by every job of the process. Threads are started when work
// waits and no thread is idle, up to a cap, and leave after being idle for a while, so the thread
// count follows the work running at once, not the number of jobs (ElasticJob's thread per job is
// how its users reach 20k threads for 7k jobs).

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace shardjob::execution {

class WorkerPool {
 public:
  WorkerPool(std::size_t max_threads, std::chrono::milliseconds idle_timeout);
  ~WorkerPool();  // runs what is queued, then joins every thread
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Never blocks. Tasks must not throw.
  void Submit(std::function<void()> task);
  std::size_t ThreadCount() const;
  // Raises the cap: a job started at run time brings its own threads.
  void AddCapacity(std::size_t threads);

 private:
  void Work();

  std::size_t max_threads_;  // guarded by mutex_
  const std::chrono::milliseconds idle_timeout_;
  mutable std::mutex mutex_;
  std::condition_variable queued_;
  std::condition_variable exited_;
  std::deque<std::function<void()>> tasks_;
  std::size_t threads_ = 0;
  std::size_t idle_ = 0;
  bool stopping_ = false;
};

// Limits how many of one job's tasks run at once (the job's executor_thread_pool), queueing the
// rest in order, on top of the shared pool. Held by shared_ptr: the pool's threads keep the lane
// alive while they run its tasks, whoever else lets go of it.
class TaskLane : public std::enable_shared_from_this<TaskLane> {
 public:
  TaskLane(WorkerPool& pool, std::size_t limit) : pool_(pool), limit_(limit == 0 ? 1 : limit) {}
  TaskLane(const TaskLane&) = delete;
  TaskLane& operator=(const TaskLane&) = delete;

  void Submit(std::function<void()> task);

 private:
  void RunAndContinue(std::function<void()> task);

  WorkerPool& pool_;
  const std::size_t limit_;
  std::mutex mutex_;
  std::deque<std::function<void()>> waiting_;
  std::size_t running_ = 0;
};

}  // namespace shardjob::execution
