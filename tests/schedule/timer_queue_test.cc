#include "schedule/timer_queue.h"

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace shardjob::schedule {
namespace {

using std::chrono::milliseconds;
using testing::WaitUntil;

TimePoint At(std::int64_t ms) { return TimePoint(milliseconds(ms)); }

TEST(ScheduleTest, FixedRateFiresOnMultiplesOfTheIntervalSinceTheEpoch) {
  auto rate = MakeFixedRateSchedule(milliseconds(250));
  EXPECT_EQ(rate->NextAfter(At(1000)), At(1250));
  EXPECT_EQ(rate->NextAfter(At(1001)), At(1250));
  EXPECT_EQ(rate->NextAfter(At(1249)), At(1250));
  EXPECT_FALSE(rate->CountsFromCompletion());
}

TEST(ScheduleTest, FixedDelayCountsFromCompletion) {
  auto delay = MakeFixedDelaySchedule(milliseconds(300));
  EXPECT_EQ(delay->NextAfter(At(1001)), At(1301));
  EXPECT_TRUE(delay->CountsFromCompletion());
}

TEST(ScheduleTest, CronScheduleIsEvaluatedInItsZone) {
  auto daily = MakeCronSchedule(cron::CronExpression::Parse("0 0 9 * * ?"),
                                cron::LoadTimeZone("Asia/Shanghai"), "Asia/Shanghai");
  // 2024-01-01T00:00:00Z is 08:00 in Shanghai: the next 09:00 there is 01:00Z.
  EXPECT_EQ(daily->NextAfter(At(1704067200000)), At(1704067200000 + 3600000));
  EXPECT_NE(daily->Describe().find("Asia/Shanghai"), std::string::npos);
}

class Recorder {
 public:
  TimerQueue::FireHandler Handler() {
    return [this](const Fire& fire) {
      std::lock_guard<std::mutex> lock(mutex_);
      fires_.push_back(fire);
    };
  }
  std::vector<Fire> fires() {
    std::lock_guard<std::mutex> lock(mutex_);
    return fires_;
  }
  std::size_t count() { return fires().size(); }

 private:
  std::mutex mutex_;
  std::vector<Fire> fires_;
};

TEST(TimerQueueTest, FiresWithTheScheduledInstantAsId) {
  TimerQueue timers;
  Recorder recorder;
  timers.Add("job", MakeFixedRateSchedule(milliseconds(20)), milliseconds(0), recorder.Handler());
  ASSERT_TRUE(WaitUntil([&] { return recorder.count() >= 3; }));
  timers.Stop();
  auto fires = recorder.fires();
  for (std::size_t i = 0; i < fires.size(); ++i) {
    EXPECT_EQ(fires[i].job_name, "job");
    EXPECT_EQ(fires[i].fire_id, std::to_string(fires[i].scheduled.time_since_epoch().count()));
    EXPECT_EQ(fires[i].scheduled.time_since_epoch().count() % 20, 0);
    EXPECT_EQ(fires[i].start_at, TimePoint{});  // not handed over ahead: it starts at once
    if (i > 0) {
      EXPECT_GT(fires[i].scheduled, fires[i - 1].scheduled);
    }
  }
}

TEST(TimerQueueTest, JitterDelaysTheStartButKeepsTheFireId) {
  TimerQueue timers;
  Recorder recorder;
  timers.Add("job", MakeFixedRateSchedule(milliseconds(20)), milliseconds(15), recorder.Handler());
  ASSERT_TRUE(WaitUntil([&] { return recorder.count() >= 3; }));
  timers.Stop();
  for (const Fire& fire : recorder.fires()) {
    EXPECT_EQ(fire.scheduled.time_since_epoch().count() % 20, 0);
  }
}

// claim_ahead: each fire is handed over before its instant, with its start, and no instant is
// skipped or handed over twice.
TEST(TimerQueueTest, AFireHandedOverAheadCarriesItsStart) {
  TimerQueue timers;
  std::mutex mutex;
  std::vector<std::pair<Fire, TimePoint>> handed;  // the fire, and when it was handed over
  timers.Add(
      "job", MakeFixedRateSchedule(milliseconds(300)), milliseconds(0),
      [&](const Fire& fire) {
        std::lock_guard<std::mutex> lock(mutex);
        handed.emplace_back(fire, NowMs());
      },
      milliseconds(150));
  ASSERT_TRUE(WaitUntil([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return handed.size() >= 4;
  }));
  timers.Stop();
  std::lock_guard<std::mutex> lock(mutex);
  for (std::size_t i = 0; i < handed.size(); ++i) {
    const auto& [fire, at] = handed[i];
    EXPECT_EQ(fire.start_at, fire.scheduled);  // no jitter: it starts at its instant
    // The first may be handed over late: its instant may have been closer than `ahead` to Add.
    if (i > 0) {
      EXPECT_LT(at, fire.scheduled) << "fire " << fire.fire_id << " was not handed over ahead";
      EXPECT_EQ((fire.scheduled - handed[i - 1].first.scheduled).count(), 300);
    }
  }
}

// A config change re-arms the timer: a fire handed over ahead is not handed over again.
TEST(TimerQueueTest, ReArmingBetweenAHandOverAndItsInstantHandsNothingOverTwice) {
  TimerQueue timers;
  Recorder recorder;
  std::shared_ptr<const Schedule> schedule = MakeFixedRateSchedule(milliseconds(400));
  timers.Add("job", schedule, milliseconds(0), recorder.Handler(), milliseconds(300));
  ASSERT_TRUE(WaitUntil([&] { return recorder.count() >= 2; }));
  // Within 300 ms after a hand-over its instant is still to come; re-armed then, as ApplyConfig
  // does, once with the same lead and once with none.
  timers.Add("job", schedule, milliseconds(0), recorder.Handler(), milliseconds(300));
  timers.Add("job", schedule, milliseconds(0), recorder.Handler(), milliseconds(0));
  ASSERT_TRUE(WaitUntil([&] { return recorder.count() >= 4; }));
  timers.Stop();
  std::set<std::string> ids;
  const std::vector<Fire> fires = recorder.fires();
  for (std::size_t i = 0; i < fires.size(); ++i) {
    EXPECT_TRUE(ids.insert(fires[i].fire_id).second)
        << "fire " << fires[i].fire_id << " handed over twice";
    // ... and none skipped by the guard against it.
    if (i > 0) {
      EXPECT_EQ((fires[i].scheduled - fires[i - 1].scheduled).count(), 400);
    }
  }
}

TEST(TimerQueueTest, JitterLongerThanThePeriodSkipsNoInstant) {
  TimerQueue timers;
  Recorder recorder;
  // A period long enough that a slow (sanitized) build is never a whole period late: instants a
  // late process missed altogether are skipped on purpose.
  timers.Add("job", MakeFixedRateSchedule(milliseconds(100)), milliseconds(150),
             recorder.Handler());
  ASSERT_TRUE(WaitUntil([&] { return recorder.count() >= 5; }));
  timers.Stop();
  auto fires = recorder.fires();
  for (std::size_t i = 1; i < fires.size(); ++i) {
    EXPECT_EQ((fires[i].scheduled - fires[i - 1].scheduled).count(), 100)
        << "instant skipped after " << fires[i - 1].fire_id;
  }
}

TEST(TimerQueueTest, StopRacingAddStillStops) {
  for (int round = 0; round < 50; ++round) {
    TimerQueue timers;
    Recorder recorder;
    timers.Add("a", MakeFixedRateSchedule(milliseconds(1)), milliseconds(0), recorder.Handler());
    std::thread adder([&] {
      timers.Add("b", MakeFixedRateSchedule(milliseconds(1)), milliseconds(0), recorder.Handler());
    });
    timers.Stop();  // must return: an Add landing after it gives the loop no work again
    adder.join();
  }
}

TEST(TimerQueueTest, RemoveAndStopEndTheFires) {
  TimerQueue timers;
  Recorder removed, stopped;
  timers.Add("removed", MakeFixedRateSchedule(milliseconds(10)), milliseconds(0),
             removed.Handler());
  timers.Add("stopped", MakeFixedRateSchedule(milliseconds(10)), milliseconds(0),
             stopped.Handler());
  ASSERT_TRUE(WaitUntil([&] { return removed.count() >= 1 && stopped.count() >= 1; }));
  timers.Remove("removed");
  std::size_t before = stopped.count();
  // The other job keeps firing after the removal was processed...
  ASSERT_TRUE(WaitUntil([&] { return stopped.count() >= before + 3; }));
  std::size_t removed_count = removed.count();
  // ...and the removed one does not (it got at most the fire already in flight).
  ASSERT_TRUE(WaitUntil([&] { return stopped.count() >= before + 6; }));
  EXPECT_LE(removed.count(), removed_count + 1);
  timers.Stop();
  std::size_t at_stop = stopped.count();
  timers.Stop();  // idempotent
  EXPECT_EQ(stopped.count(), at_stop);
}

TEST(TimerQueueTest, FixedDelayWaitsForCompletion) {
  TimerQueue timers;
  Recorder recorder;
  timers.Add("job", MakeFixedDelaySchedule(milliseconds(5)), milliseconds(0), recorder.Handler());
  ASSERT_TRUE(WaitUntil([&] { return recorder.count() == 1; }));
  // Without FireCompleted, nothing more fires: give it many delays' worth of chances.
  EXPECT_FALSE(WaitUntil([&] { return recorder.count() > 1; }, milliseconds(100)));
  timers.FireCompleted("job", NowMs());
  EXPECT_TRUE(WaitUntil([&] { return recorder.count() == 2; }));
  timers.Stop();
}

}  // namespace
}  // namespace shardjob::schedule
