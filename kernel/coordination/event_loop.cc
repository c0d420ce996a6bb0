#include "coordination/event_loop.h"

#include <utility>

namespace shardjob::coordination {

EventLoop::EventLoop() : thread_([this] { Run(); }) {}

EventLoop::~EventLoop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  queued_.notify_all();
  thread_.join();
}

void EventLoop::Post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  queued_.notify_one();
}

void EventLoop::PostAfter(std::chrono::milliseconds delay, std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    delayed_.emplace(std::chrono::steady_clock::now() + delay, std::move(task));
  }
  queued_.notify_one();
}

void EventLoop::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    // Move the delayed tasks that are due (all of them when stopping) to the queue.
    auto now = std::chrono::steady_clock::now();
    while (!delayed_.empty() && (stopping_ || delayed_.begin()->first <= now)) {
      tasks_.push_back(std::move(delayed_.begin()->second));
      delayed_.erase(delayed_.begin());
    }
    if (tasks_.empty()) {
      if (stopping_) return;
      if (delayed_.empty()) {
        queued_.wait(lock);
      } else {
        queued_.wait_until(lock, delayed_.begin()->first);
      }
      continue;
    }
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    task = nullptr;
    lock.lock();
  }
}

}  // namespace shardjob::coordination
