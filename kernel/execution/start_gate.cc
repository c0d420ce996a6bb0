#include "execution/start_gate.h"

#include <algorithm>

namespace shardjob::execution {

StartGate::StartGate() : thread_([this] { Run(); }) {}

StartGate::~StartGate() { Stop(); }

void StartGate::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  changed_.notify_one();
  thread_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  stopped_ = true;
}

void StartGate::Add(schedule::TimePoint instant, std::chrono::nanoseconds longest,
                    std::shared_ptr<TaskLane> lane, std::function<void()> task) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopped_) {
      auto [batch, made] = batches_.try_emplace(BatchKey{instant, longest});
      if (made) {
        auto wait = std::clamp<std::chrono::nanoseconds>(instant - schedule::Clock::now(),
                                                         std::chrono::nanoseconds(0), longest);
        batch->second.due =
            std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::microseconds>(wait);
        by_due_.emplace(batch->second.due, batch->first);
        wake = batch->second.due - kAdmitLead < sleeping_until_;
      }
      if (batch->second.admitted_all) {
        // Late for the batch's admission: admitted on its own, handed over with the batch.
        Admit(batch->second, lane, std::move(task));
      } else {
        batch->second.tasks.emplace_back(std::move(lane), std::move(task));
      }
      if (wake) changed_.notify_one();
      return;
    }
  }
  lane->Submit(std::move(task));  // the gate is stopped: nothing would hand it over
}

void StartGate::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    std::vector<std::pair<WorkerPool*, std::function<void()>>> due;
    const auto now = std::chrono::steady_clock::now();
    while (!by_due_.empty() && (stopping_ || by_due_.begin()->first <= now)) {
      auto batch = batches_.find(by_due_.begin()->second);
      AdmitAll(batch->second);
      for (auto& task : batch->second.admitted) due.push_back(std::move(task));
      batches_.erase(batch);
      by_due_.erase(by_due_.begin());
    }
    if (!due.empty()) {
      lock.unlock();
      HandOver(std::move(due));
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
  for (auto& [lane, task] : batch.tasks) Admit(batch, lane, std::move(task));
  batch.tasks.clear();
  batch.admitted_all = true;
}

void StartGate::Admit(Batch& batch, const std::shared_ptr<TaskLane>& lane,
                      std::function<void()> task) {
  if (auto runnable = lane->Admit(std::move(task))) {
    batch.admitted.emplace_back(&lane->pool(), std::move(runnable));
  }
}

void StartGate::HandOver(std::vector<std::pair<WorkerPool*, std::function<void()>>> tasks) {
  // Every lane of a process has the same pool: one SubmitAll, unless tests mix pools.
  std::map<WorkerPool*, std::vector<std::function<void()>>> by_pool;
  for (auto& [pool, task] : tasks) by_pool[pool].push_back(std::move(task));
  for (auto& [pool, pool_tasks] : by_pool) {
    pool->SubmitAll(std::move(pool_tasks), WorkerPool::Priority::kStart);
  }
}

}  // namespace shardjob::execution
