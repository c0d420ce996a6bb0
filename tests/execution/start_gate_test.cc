#include "execution/start_gate.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "execution/worker_pool.h"
#include "support/test_support.h"

namespace shardjob::execution {
namespace {

using std::chrono::milliseconds;
using testing::WaitUntil;

// Tasks of one instant wait, without holding any pool thread, and then all run, none before the
// instant.
TEST(StartGateTest, TasksWaitForTheirInstantWithoutHoldingThreads) {
  WorkerPool pool(100, std::chrono::seconds(60));
  StartGate gate;
  auto lane = std::make_shared<TaskLane>(pool, 100);
  const schedule::TimePoint instant = schedule::NowMs() + milliseconds(300);
  std::mutex mutex;
  std::vector<schedule::Clock::time_point> ran;
  for (int i = 0; i < 50; ++i) {
    gate.Add(instant, milliseconds(5000), lane, [&] {
      std::lock_guard<std::mutex> lock(mutex);
      ran.push_back(schedule::Clock::now());
    });
  }
  EXPECT_EQ(pool.ThreadCount(), 0u) << "a thread was taken to wait";
  ASSERT_TRUE(WaitUntil([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return ran.size() == 50;
  }));
  for (auto at : ran) EXPECT_GE(at, instant);
}

// The wait is timed on the steady clock and bounded: a far instant (a wall clock stepped back
// after the claim) holds the task for `longest` at most.
TEST(StartGateTest, LongestBoundsTheWait) {
  WorkerPool pool(4, std::chrono::seconds(60));
  StartGate gate;
  auto lane = std::make_shared<TaskLane>(pool, 1);
  std::atomic<bool> ran{false};
  const auto added = std::chrono::steady_clock::now();
  gate.Add(schedule::NowMs() + std::chrono::hours(1), milliseconds(100), lane, [&] { ran = true; });
  ASSERT_TRUE(WaitUntil([&] { return ran.load(); }));
  EXPECT_GE(std::chrono::steady_clock::now() - added, milliseconds(100));
}

// An earlier instant added after a later one is not held up by it.
TEST(StartGateTest, AnEarlierInstantAddedLaterRunsFirst) {
  WorkerPool pool(4, std::chrono::seconds(60));
  StartGate gate;
  auto lane = std::make_shared<TaskLane>(pool, 4);
  std::atomic<int> late{0}, early{0};
  gate.Add(schedule::NowMs() + std::chrono::hours(1), std::chrono::hours(1), lane, [&] { ++late; });
  gate.Add(schedule::NowMs() + milliseconds(50), std::chrono::hours(1), lane, [&] { ++early; });
  ASSERT_TRUE(WaitUntil([&] { return early == 1; }));
  EXPECT_EQ(late, 0);
}

// The lane's limit holds for tasks let through together.
TEST(StartGateTest, ALanesLimitHoldsForTasksOfOneInstant) {
  WorkerPool pool(8, std::chrono::seconds(60));
  StartGate gate;
  auto lane = std::make_shared<TaskLane>(pool, 1);
  std::atomic<int> inside{0}, most{0}, done{0};
  const schedule::TimePoint instant = schedule::NowMs() + milliseconds(100);
  for (int i = 0; i < 6; ++i) {
    gate.Add(instant, milliseconds(5000), lane, [&] {
      int now = ++inside;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(milliseconds(5));
      --inside;
      ++done;
    });
  }
  ASSERT_TRUE(WaitUntil([&] { return done == 6; }));
  EXPECT_EQ(most, 1);
}

// What still waits when the gate goes is handed to the pool at once, not lost.
TEST(StartGateTest, WhatWaitsRunsWhenTheGateGoes) {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(2, std::chrono::seconds(60));
    auto lane = std::make_shared<TaskLane>(pool, 2);
    {
      StartGate gate;
      for (int i = 0; i < 3; ++i) {
        gate.Add(schedule::NowMs() + std::chrono::hours(1), std::chrono::hours(1), lane,
                 [&] { ++ran; });
      }
    }
  }  // the pool runs what is queued before it goes
  EXPECT_EQ(ran, 3);
}

}  // namespace
}  // namespace shardjob::execution
