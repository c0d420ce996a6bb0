#include "execution/worker_pool.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <system_error>
#include <utility>

namespace shardjob::execution {

WorkerPool::WorkerPool(std::size_t max_threads, std::chrono::milliseconds idle_timeout)
    : max_threads_(max_threads == 0 ? 1 : max_threads),
      eager_threads_(std::max(2u, std::thread::hardware_concurrency())),
      idle_timeout_(idle_timeout),
      watcher_([this] { WatchForStalls(); }) {}

WorkerPool::~WorkerPool() {
  std::unique_lock<std::mutex> lock(mutex_);
  stopping_ = true;
  queued_.notify_all();
  watch_.notify_all();
  lock.unlock();
  watcher_.join();
  lock.lock();
  // What is queued still runs: if the watch could not start a thread for it, start one here,
  // or run it on this one when none can be had.
  if (threads_ == 0 && QueuedLocked() > 0 && !StartThreadLocked()) {
    while (QueuedLocked() > 0) {
      std::function<void()> task = TakeLocked();
      lock.unlock();
      task();
      task = nullptr;
      lock.lock();
    }
  }
  exited_.wait(lock, [this] { return threads_ == 0; });
}

void WorkerPool::Submit(std::function<void()> task, Priority priority) {
  std::lock_guard<std::mutex> lock(mutex_);
  (priority == Priority::kStart ? starts_ : others_).push_back(std::move(task));
  NoteStartsLocked();
  WakeForLocked(1);
}

void WorkerPool::SubmitAll(std::vector<std::function<void()>> tasks, Priority priority) {
  if (tasks.empty()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto& queue = priority == Priority::kStart ? starts_ : others_;
  for (auto& task : tasks) queue.push_back(std::move(task));
  NoteStartsLocked();
  WakeForLocked(tasks.size());
}

void WorkerPool::WakeForLocked(std::size_t added) {
  // Up to eager_threads_ run at once for the queue: more would only divide the same cores among
  // short tasks (and switch between them). Idle threads are woken first, then new ones started.
  // A thread held by a long task and already replaced does not count: its replacement does.
  const std::size_t eager = std::min(eager_threads_, max_threads_);
  std::size_t running = threads_ - idle_ - replaced_;
  std::size_t served = 0;
  for (; served < std::min(added, idle_) && running < eager; ++served, ++running) {
    queued_.notify_one();
  }
  for (; served < added && running < eager && threads_ < max_threads_; ++served, ++running) {
    if (!StartThreadLocked()) break;
  }
  if (!watching_) watch_.notify_one();
}

bool WorkerPool::StartThreadLocked() {
  ++threads_;
  try {
    // Detached, but never outlives the pool: the destructor waits until threads_ is zero.
    std::thread([this] { Work(); }).detach();
    return true;
  } catch (const std::system_error&) {
    // No thread to be had (resource limits): the task stays queued for the threads there are,
    // and the stall watch tries again.
    --threads_;
    return false;
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

std::function<void()> WorkerPool::TakeLocked() {
  auto& queue = starts_.empty() ? others_ : starts_;
  std::function<void()> task = std::move(queue.front());
  queue.pop_front();
  NoteStartsLocked();
  ++taken_;
  return task;
}

void WorkerPool::Work() {
  std::unique_lock<std::mutex> lock(mutex_);
  auto busy = busy_.emplace(busy_.end());
  const int tid = static_cast<int>(gettid());
  while (true) {
    if (starts_.empty() && others_.empty()) {
      if (stopping_) break;
      ++idle_;
      bool woke = queued_.wait_for(lock, idle_timeout_, [this] {
        return stopping_ || !starts_.empty() || !others_.empty();
      });
      --idle_;
      if (!woke) break;  // idle too long
      continue;
    }
    std::function<void()> task = TakeLocked();
    *busy = Busy{std::chrono::steady_clock::now(), false, tid};
    lock.unlock();
    task();
    task = nullptr;  // destroy captures outside the lock
    lock.lock();
    if (busy->replaced) --replaced_;
    *busy = Busy{};
  }
  busy_.erase(busy);
  --threads_;
  // Notify while holding the lock: once threads_ hits zero the destructor may free the pool.
  exited_.notify_all();
}

void WorkerPool::WatchForStalls() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    if (QueuedLocked() == 0) {
      watch_.wait(lock);
      continue;
    }
    const std::uint64_t taken = taken_;
    watching_ = true;
    watch_.wait_for(lock, kStallTime, [this] { return stopping_; });
    watching_ = false;
    if (stopping_) break;
    if (taken_ != taken || QueuedLocked() == 0) continue;  // the queue moves
    // No thread took a task for kStallTime: one more for each thread held that long (an idle
    // one woken, or a new one).
    const auto held_since = std::chrono::steady_clock::now() - kStallTime;
    std::size_t woken = 0;
    for (Busy& thread : busy_) {
      if (woken >= QueuedLocked()) break;
      if (thread.replaced || thread.since > held_since || Runnable(thread.tid)) continue;
      if (woken < idle_) {
        queued_.notify_one();
      } else if (threads_ >= max_threads_ || !StartThreadLocked()) {
        break;
      }
      ++woken;
      thread.replaced = true;
      ++replaced_;
    }
    // Threads left idle by an earlier round (their replacement's work done): the queue is theirs.
    for (; woken < std::min(idle_, QueuedLocked()); ++woken) queued_.notify_one();
    // Nobody could be started so far (resource limits): nothing would ever run the queue.
    if (threads_ == 0) StartThreadLocked();
  }
}

bool WorkerPool::Runnable(int tid) {
  // /proc/self/task/<tid>/stat: "<tid> (<name>) <state> ..."; the name may hold spaces or ')'.
  std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string text;
  std::getline(stat, text);
  const std::size_t name_end = text.rfind(')');
  if (name_end == std::string::npos || name_end + 2 >= text.size()) return false;
  return text[name_end + 2] == 'R';
}

void TaskLane::Submit(std::function<void()> task) {
  if (auto admitted = Admit(std::move(task))) {
    pool_.Submit(std::move(admitted), WorkerPool::Priority::kStart);
  }
}

std::function<void()> TaskLane::Admit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (running_ >= limit_) {
      waiting_.push_back(std::move(task));
      return nullptr;
    }
    ++running_;
  }
  return [self = shared_from_this(), task = std::move(task)]() mutable {
    self->RunAndContinue(std::move(task));
  };
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
