#include "execution/start_gate.h"

#include <algorithm>

namespace shardjob::execution {

StartGate::StartGate(WorkerPool& pool) : pool_(pool), thread_([this] { Run(); }) {}

StartGate::~StartGate() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_one();
  thread_.join();
}

void StartGate::Add(schedule::TimePoint instant, std::chrono::nanoseconds longest,
                    std::shared_ptr<TaskLane> lane, std::function<void()> task) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto [batch, made] = batches_.try_emplace(instant);
    if (made) {
      auto wait = std::clamp<std::chrono::nanoseconds>(instant - schedule::Clock::now(),
                                                       std::chrono::nanoseconds(0), longest);
      batch->second.due =
          std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::microseconds>(wait);
      by_due_.emplace(batch->second.due, instant);
      wake = batch->second.due < sleeping_until_;
    }
    batch->second.tasks.emplace_back(std::move(lane), std::move(task));
  }
  if (wake) changed_.notify_one();
}

void StartGate::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    std::vector<Batch> due;
    const auto now = std::chrono::steady_clock::now();
    while (!by_due_.empty() && (stopping_ || by_due_.begin()->first <= now)) {
      auto batch = batches_.find(by_due_.begin()->second);
      due.push_back(std::move(batch->second));
      batches_.erase(batch);
      by_due_.erase(by_due_.begin());
    }
    if (!due.empty()) {
      lock.unlock();
      HandOver(pool_, std::move(due));
      lock.lock();
      continue;
    }
    if (stopping_) return;
    sleeping_until_ =
        by_due_.empty() ? std::chrono::steady_clock::time_point::max() : by_due_.begin()->first;
    if (by_due_.empty()) {
      changed_.wait(lock);
    } else {
      changed_.wait_until(lock, sleeping_until_);
    }
    sleeping_until_ = std::chrono::steady_clock::time_point::min();  // awake: looks anyway
  }
}

void StartGate::HandOver(WorkerPool& pool, std::vector<Batch> batches) {
  // In pieces: the threads start on the first tasks while the rest are admitted.
  constexpr std::size_t kPiece = 64;
  std::vector<std::function<void()>> admitted;
  admitted.reserve(kPiece);
  for (auto& batch : batches) {
    for (auto& [lane, task] : batch.tasks) {
      if (auto runnable = lane->Admit(std::move(task))) admitted.push_back(std::move(runnable));
      if (admitted.size() == kPiece) {
        pool.SubmitAll(std::move(admitted), WorkerPool::Priority::kStart);
        admitted.clear();
        admitted.reserve(kPiece);
      }
    }
  }
  pool.SubmitAll(std::move(admitted), WorkerPool::Priority::kStart);
}

}  // namespace shardjob::execution
