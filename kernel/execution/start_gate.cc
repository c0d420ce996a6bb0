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
      wake = batch->second.due - kAdmitLead < sleeping_until_;
    }
    if (batch->second.admitted_all) {
      // Late for the batch's admission: admitted on its own, handed over with the batch.
      if (auto runnable = lane->Admit(std::move(task))) {
        batch->second.admitted.push_back(std::move(runnable));
      }
    } else {
      batch->second.tasks.emplace_back(std::move(lane), std::move(task));
    }
  }
  if (wake) changed_.notify_one();
}

void StartGate::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    std::vector<std::function<void()>> due;
    const auto now = std::chrono::steady_clock::now();
    while (!by_due_.empty() && (stopping_ || by_due_.begin()->first <= now)) {
      auto batch = batches_.find(by_due_.begin()->second);
      AdmitAll(batch->second);
      if (due.empty()) {
        due = std::move(batch->second.admitted);
      } else {
        for (auto& task : batch->second.admitted) due.push_back(std::move(task));
      }
      batches_.erase(batch);
      by_due_.erase(by_due_.begin());
    }
    if (!due.empty()) {
      lock.unlock();
      pool_.SubmitAll(std::move(due), WorkerPool::Priority::kStart);
      lock.lock();
      continue;
    }
    if (stopping_) return;
    if (by_due_.empty()) {
      sleeping_until_ = std::chrono::steady_clock::time_point::max();
      changed_.wait(lock);
    } else {
      Batch& next = batches_.find(by_due_.begin()->second)->second;
      if (!next.admitted_all && now >= by_due_.begin()->first - kAdmitLead) {
        AdmitAll(next);
        continue;
      }
      sleeping_until_ = next.admitted_all ? next.due : next.due - kAdmitLead;
      changed_.wait_until(lock, sleeping_until_);
    }
    sleeping_until_ = std::chrono::steady_clock::time_point::min();  // awake: looks anyway
  }
}

void StartGate::AdmitAll(Batch& batch) {
  batch.admitted.reserve(batch.admitted.size() + batch.tasks.size());
  for (auto& [lane, task] : batch.tasks) {
    if (auto runnable = lane->Admit(std::move(task))) batch.admitted.push_back(std::move(runnable));
  }
  batch.tasks.clear();
  batch.admitted_all = true;
}

}  // namespace shardjob::execution
