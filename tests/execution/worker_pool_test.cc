#include "execution/worker_pool.h"

#include <atomic>
#include <mutex>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace shardjob::execution {
namespace {

using testing::WaitUntil;

// Holds every task until Release(), so a test can see how many run at once.
class Gate {
 public:
  void Enter() {
    int now = ++inside_;
    int seen = most_inside_.load();
    while (now > seen && !most_inside_.compare_exchange_weak(seen, now)) {
    }
    std::unique_lock<std::mutex> lock(mutex_);
    opened_.wait(lock, [this] { return open_; });
    --inside_;
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      open_ = true;
    }
    opened_.notify_all();
  }
  int inside() const { return inside_; }
  int most_inside() const { return most_inside_; }

 private:
  std::atomic<int> inside_{0};
  std::atomic<int> most_inside_{0};
  std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = false;
};

TEST(WorkerPoolTest, RunsEveryTaskAndNeverExceedsItsThreadCap) {
  Gate gate;
  std::atomic<int> done{0};
  {
    WorkerPool pool(3, std::chrono::seconds(60));
    for (int i = 0; i < 10; ++i) {
      pool.Submit([&] {
        gate.Enter();
        ++done;
      });
    }
    ASSERT_TRUE(WaitUntil([&] { return gate.inside() == 3; }));
    EXPECT_EQ(pool.ThreadCount(), 3u);
    gate.Release();
  }  // the destructor runs what is queued
  EXPECT_EQ(done.load(), 10);
  EXPECT_EQ(gate.most_inside(), 3);
}

TEST(WorkerPoolTest, IdleThreadsLeave) {
  WorkerPool pool(4, std::chrono::milliseconds(20));
  std::atomic<int> done{0};
  for (int i = 0; i < 4; ++i) pool.Submit([&] { ++done; });
  ASSERT_TRUE(WaitUntil([&] { return done == 4; }));
  EXPECT_TRUE(WaitUntil([&] { return pool.ThreadCount() == 0; }));
}

TEST(TaskLaneTest, LimitsConcurrencyAndKeepsOrderWithOneSlot) {
  WorkerPool pool(8, std::chrono::seconds(60));
  Gate gate;
  auto lane = std::make_shared<TaskLane>(pool, 2);
  std::atomic<int> done{0};
  for (int i = 0; i < 6; ++i) {
    lane->Submit([&] {
      gate.Enter();
      ++done;
    });
  }
  ASSERT_TRUE(WaitUntil([&] { return gate.inside() == 2; }));
  gate.Release();
  ASSERT_TRUE(WaitUntil([&] { return done == 6; }));
  EXPECT_EQ(gate.most_inside(), 2);

  auto single = std::make_shared<TaskLane>(pool, 1);
  std::mutex mutex;
  std::vector<int> order;
  for (int i = 0; i < 20; ++i) {
    single->Submit([&, i] {
      std::lock_guard<std::mutex> lock(mutex);
      order.push_back(i);
    });
  }
  ASSERT_TRUE(WaitUntil([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return order.size() == 20;
  }));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(order[i], i);
}

}  // namespace
}  // namespace shardjob::execution
