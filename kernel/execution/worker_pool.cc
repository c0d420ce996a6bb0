#include "execution/worker_pool.h"

#include <system_error>
#include <utility>

namespace shardjob::execution {

WorkerPool::WorkerPool(std::size_t max_threads, std::chrono::milliseconds idle_timeout)
    : max_threads_(max_threads == 0 ? 1 : max_threads), idle_timeout_(idle_timeout) {}

WorkerPool::~WorkerPool() {
  std::unique_lock<std::mutex> lock(mutex_);
  stopping_ = true;
  queued_.notify_all();
  exited_.wait(lock, [this] { return threads_ == 0; });
}

void WorkerPool::Submit(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(mutex_);
  tasks_.push_back(std::move(task));
  if (idle_ >= tasks_.size() || threads_ >= max_threads_) {
    queued_.notify_one();
    return;
  }
  ++threads_;
  try {
    // Detached, but never outlives the pool: the destructor waits until threads_ is zero.
    std::thread([this] { Work(); }).detach();
  } catch (const std::system_error&) {
    // No thread to be had (resource limits): the task stays queued for the threads there are.
    --threads_;
    if (threads_ == 0) throw;  // nobody would ever run it
  }
}

std::size_t WorkerPool::ThreadCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return threads_;
}

void WorkerPool::AddCapacity(std::size_t threads) {
  std::lock_guard<std::mutex> lock(mutex_);
  max_threads_ += threads;
}

void WorkerPool::Work() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    if (tasks_.empty()) {
      if (stopping_) break;
      ++idle_;
      bool woke =
          queued_.wait_for(lock, idle_timeout_, [this] { return stopping_ || !tasks_.empty(); });
      --idle_;
      if (!woke) break;  // idle too long
      continue;
    }
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    task = nullptr;  // destroy captures outside the lock
    lock.lock();
  }
  --threads_;
  // Notify while holding the lock: once threads_ hits zero the destructor may free the pool.
  exited_.notify_all();
}

void TaskLane::Submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (running_ >= limit_) {
      waiting_.push_back(std::move(task));
      return;
    }
    ++running_;
  }
  pool_.Submit([self = shared_from_this(), task = std::move(task)]() mutable {
    self->RunAndContinue(std::move(task));
  });
}

void TaskLane::RunAndContinue(std::function<void()> task) {
  while (task) {
    task();
    task = nullptr;  // its captures may own what owns this lane: let them go before locking
    std::lock_guard<std::mutex> lock(mutex_);
    if (waiting_.empty()) {
      --running_;
    } else {
      task = std::move(waiting_.front());
      waiting_.pop_front();
    }
  }
}

}  // namespace shardjob::execution
