// JobRuntime pieces that need no plugin code: the missed-fire watchdog and the refusal of fires
// while the wall clock stands stepped. (Overlap, timeouts, retries and catch-up are driven
// through whole instances in tests/app and tests/cluster.)

#include "execution/job_runtime.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "coordination/event_loop.h"
#include "coordination/job_coordinator.h"
#include "registry/embedded_registry.h"
#include "schedule/clock_watch.h"
#include "schedule/schedule.h"
#include "support/test_support.h"

namespace shardjob::execution {
namespace {

using std::chrono::milliseconds;
using testing::WaitUntil;

// Puts every item on one instance, so that a test needs no sharding plugin.
class AllToOne : public spi::ShardingStrategy {
 public:
  spi::Status Shard(const spi::ShardingRequest& request,
                    spi::ShardingPlan* plan) const noexcept override {
    for (int item = 0; item < request.sharding_total_count; ++item) {
      (*plan)[request.instances.front()].push_back(item);
    }
    return spi::Status::Ok();
  }
};

// A ClockWatch over the system clock moved by `step` milliseconds (the monotonic clock is real).
std::shared_ptr<schedule::ClockWatch> SteppableClock(const std::atomic<long long>& step) {
  return std::make_shared<schedule::ClockWatch>(
      milliseconds(250),
      [&step] {
        return std::chrono::duration_cast<milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch()) +
               milliseconds(step.load());
      },
      nullptr);
}

class JobRuntimeTest : public ::testing::Test {
 protected:
  ~JobRuntimeTest() override { gate_.Stop(); }

  std::shared_ptr<JobRuntime> MakeRuntime(config::JobConfig job,
                                          std::shared_ptr<schedule::ClockWatch> clock) {
    job.name = "job";
    job.executor_threads = 1;
    auto schedule =
        std::shared_ptr<const schedule::Schedule>(schedule::MakeFixedRateSchedule(*job.fixed_rate));
    coordinator_ = std::make_shared<coordination::JobCoordinator>(*session_, loop_, "/test", job,
                                                                  strategy_, "me");
    coordinator_->Start();
    return std::make_shared<JobRuntime>(job, JobPlugins{}, schedule, coordinator_, pool_, gate_,
                                        loop_, traces_, "me", Host{"host", "127.0.0.1"}, nullptr,
                                        std::move(clock));
  }

  // A runtime for `job` with `plugins` and no schedule, once its coordinator holds the one shard.
  std::shared_ptr<JobRuntime> StartWithItsShard(const config::JobConfig& job, JobPlugins plugins) {
    coordinator_ = std::make_shared<coordination::JobCoordinator>(*session_, loop_, "/test", job,
                                                                  strategy_, "me");
    coordinator_->Start();
    EXPECT_TRUE(WaitUntil([&] { return coordinator_->LocalItems().size() == 1; }));
    return std::make_shared<JobRuntime>(job, std::move(plugins), nullptr, coordinator_, pool_,
                                        gate_, loop_, traces_, "me", Host{"host", "127.0.0.1"},
                                        nullptr, nullptr);
  }

  std::shared_ptr<JobRuntime> StartClaimingAhead(milliseconds ahead,
                                                 std::shared_ptr<spi::JobExecutor> executor);
  // Hands `runtime` a fire of shard 0 due at `start`; true once its claim is in the registry.
  bool FireAndAwaitTheClaim(JobRuntime& runtime, schedule::TimePoint start,
                            const std::string& fire_id) {
    runtime.OnFire(schedule::Fire{"job", start, fire_id, start},
                   spi::ExecutionSource::kNormalTrigger, std::vector<int>{0});
    auto observer = store_.OpenSession();
    return WaitUntil([&] {
      return observer->Exists("/test/jobs/job/shards/0/lease", nullptr, nullptr) ==
             registry::Code::kOk;
    });
  }

  // Destroyed in reverse: the loop outlives the store whose watches post to it.
  coordination::EventLoop loop_;
  registry::EmbeddedStore store_;
  std::unique_ptr<registry::Registry> session_ = store_.OpenSession();
  std::shared_ptr<spi::ShardingStrategy> strategy_ = std::make_shared<AllToOne>();
  StartGate gate_;  // outlives the pool, whose tasks may Add to it; stopped before it goes
  WorkerPool pool_{2, milliseconds(1000)};
  TraceDispatcher traces_{nullptr};
  std::shared_ptr<coordination::JobCoordinator> coordinator_;
};

// T10: fires that never reach the job (a stuck timer) are counted, one per scheduled instant.
TEST_F(JobRuntimeTest, TheWatchdogCountsScheduledFiresThatNeverArrived) {
  config::JobConfig job;
  job.fixed_rate = milliseconds(50);
  job.watchdog_tolerance = milliseconds(100);
  auto runtime = MakeRuntime(job, nullptr);
  runtime->StartWatchdog();
  // Nothing calls OnFire: every instant is missed.
  ASSERT_TRUE(WaitUntil([&] { return runtime->Counters().missed_fires >= 4; }));
  runtime->StopAccepting();
  coordinator_->Stop();
}

TEST_F(JobRuntimeTest, TheWatchdogIsQuietWhileFiresArrive) {
  config::JobConfig job;
  job.fixed_rate = milliseconds(50);
  job.watchdog_tolerance = milliseconds(200);
  auto runtime = MakeRuntime(job, nullptr);
  runtime->StartWatchdog();
  auto schedule = schedule::MakeFixedRateSchedule(milliseconds(50));
  // Hand over each instant as it comes, with no shard to run (none assigned yet is fine too).
  auto until = std::chrono::steady_clock::now() + milliseconds(700);
  schedule::TimePoint instant = schedule::NowMs();
  while (std::chrono::steady_clock::now() < until) {
    auto next = *schedule->NextAfter(instant);
    while (schedule::NowMs() < next) std::this_thread::sleep_for(milliseconds(2));
    runtime->OnFire(schedule::Fire{"job", next, std::to_string(next.time_since_epoch().count())},
                    spi::ExecutionSource::kNormalTrigger, std::vector<int>{});
    instant = next;
  }
  EXPECT_EQ(runtime->Counters().missed_fires, 0u);
  runtime->StopAccepting();
  coordinator_->Stop();
}

// Streams until its shard moves away, reporting one item per round.
class StreamUntilReassigned : public spi::JobExecutor {
 public:
  const char* JobInterface() const override { return nullptr; }
  spi::Status Execute(spi::JobObject*, const spi::ShardingContext& context) noexcept override {
    started = true;
    while (!context.IsReassigned()) {
      context.AddItemsProcessed(1);
      if (context.cancellation->WaitFor(milliseconds(2))) return spi::Status::Cancelled("stop");
    }
    return spi::Status::Ok();
  }
  std::atomic<bool> started{false};
};

// A streaming task holds its shard; once the shard is assigned elsewhere it is told, ends after
// its round, and what it processed is counted.
TEST_F(JobRuntimeTest, ATaskIsToldWhenItsShardMovesAwayAndItsItemsAreCounted) {
  config::JobConfig job;
  job.fixed_rate = milliseconds(60000);
  auto executor = std::make_shared<StreamUntilReassigned>();
  JobPlugins plugins;
  plugins.executor = executor;
  job.name = "job";
  job.executor_threads = 1;
  auto runtime = StartWithItsShard(job, plugins);
  runtime->OnFire(schedule::Fire{"job", schedule::NowMs(), "trigger-1"},
                  spi::ExecutionSource::kManualTrigger);
  ASSERT_TRUE(WaitUntil([&] { return executor->started.load(); }));
  runtime->OnItemsLost({1});  // another shard: nothing to tell
  runtime->OnItemsLost({0});
  ASSERT_TRUE(WaitUntil([&] { return runtime->Counters().tasks_succeeded == 1; }));
  EXPECT_GT(runtime->Counters().items_processed, 0u);
  runtime->StopAccepting();
  coordinator_->Stop();
}

// Notes when Execute() began.
class NoteTheStart : public spi::JobExecutor {
 public:
  const char* JobInterface() const override { return nullptr; }
  spi::Status Execute(spi::JobObject*, const spi::ShardingContext&) noexcept override {
    started_at = schedule::Clock::now();
    return spi::Status::Ok();
  }
  std::atomic<schedule::Clock::time_point> started_at{};
};

// A one-shard job with `ahead` of claim_ahead running on `executor`, once it holds its shard.
std::shared_ptr<JobRuntime> JobRuntimeTest::StartClaimingAhead(
    milliseconds ahead, std::shared_ptr<spi::JobExecutor> executor) {
  config::JobConfig job;
  job.name = "job";
  job.executor_threads = 1;
  job.claim_ahead = ahead;
  JobPlugins plugins;
  plugins.executor = std::move(executor);
  return StartWithItsShard(job, plugins);
}

// claim_ahead: a fire handed over before its start is claimed at once (its lease is in the
// registry while the start is still to come) and its task starts at the start, never before.
TEST_F(JobRuntimeTest, AFireHandedOverAheadIsClaimedAtOnceAndStartsOnTime) {
  auto executor = std::make_shared<NoteTheStart>();
  auto runtime = StartClaimingAhead(milliseconds(500), executor);
  const schedule::TimePoint start = schedule::NowMs() + milliseconds(400);
  ASSERT_TRUE(FireAndAwaitTheClaim(*runtime, start, "ahead-1"));
  EXPECT_LT(schedule::NowMs(), start) << "not claimed ahead";
  ASSERT_TRUE(WaitUntil([&] { return runtime->Counters().tasks_succeeded == 1; }));
  EXPECT_GE(executor->started_at.load(), start);
  runtime->StopAccepting();
  coordinator_->Stop();
}

// A task claimed ahead waits for its instant in the StartGate; when the session's claims are
// lost meanwhile, it must give its claim up at once, not at its instant.
TEST_F(JobRuntimeTest, ATaskClaimedAheadWhoseClaimIsLostGivesItUpBeforeItsInstant) {
  auto executor = std::make_shared<NoteTheStart>();
  // The runtime is given it directly: no config bounds.
  auto runtime = StartClaimingAhead(milliseconds(5000), executor);
  const schedule::TimePoint start = schedule::NowMs() + milliseconds(3000);
  ASSERT_TRUE(FireAndAwaitTheClaim(*runtime, start, "ahead-2"));
  runtime->OnClaimsLost();
  ASSERT_TRUE(WaitUntil([&] { return runtime->Counters().tasks_released == 1; }));
  EXPECT_LT(schedule::NowMs(), start) << "held until its instant";
  EXPECT_EQ(runtime->Counters().tasks_succeeded, 0u);
  EXPECT_EQ(executor->started_at.load(), schedule::Clock::time_point{}) << "the job ran";
  runtime->StopAccepting();
  coordinator_->Stop();
}

// T12: a wall clock that jumps ahead while running would claim fires from the future; the fire is
// refused (and counted) until the clock is back.
TEST(ClockWatchTest, AStepIsKeptUntilTheClockIsBackAndDriftIsFollowed) {
  std::atomic<long long> wall{1'000'000}, monotonic{5'000};
  schedule::ClockWatch clock(
      milliseconds(250), [&] { return milliseconds(wall.load()); },
      [&] { return milliseconds(monotonic.load()); });
  EXPECT_EQ(clock.Step().count(), 0);
  // Drift of 100 ms a tick is followed.
  for (int i = 0; i < 5; ++i) {
    wall += 1100;
    monotonic += 1000;
    clock.Tick();
    EXPECT_EQ(clock.Step().count(), 0);
  }
  wall += 30'000;  // a step
  clock.Tick();
  EXPECT_EQ(clock.Step().count(), 30'000);
  wall -= 30'000;  // back
  EXPECT_EQ(clock.Step().count(), 0);
  wall += 30'000;
  clock.Accept();  // the registry agrees with the new time
  EXPECT_EQ(clock.Step().count(), 0);
}

TEST_F(JobRuntimeTest, AScheduledFireIsRefusedWhileTheClockStandsStepped) {
  std::atomic<long long> step{0};
  auto clock = SteppableClock(step);
  config::JobConfig job;
  job.fixed_rate = milliseconds(1000);
  job.max_time_diff_seconds = 1;
  auto runtime = MakeRuntime(job, clock);
  step = 60'000;
  schedule::Fire fire{"job", schedule::NowMs(), "1"};
  runtime->OnFire(fire, spi::ExecutionSource::kNormalTrigger, std::vector<int>{0});
  JobCounters counters = runtime->Counters();
  EXPECT_EQ(counters.clock_refused_fires, 1u);
  EXPECT_EQ(counters.fires, 0u);
  step = 0;
  runtime->OnFire(fire, spi::ExecutionSource::kNormalTrigger, std::vector<int>{});
  EXPECT_EQ(runtime->Counters().clock_refused_fires, 1u);  // the clock is back: not refused
  runtime->StopAccepting();
  ASSERT_TRUE(runtime->WaitIdle(std::chrono::steady_clock::now() + std::chrono::seconds(10)));
  coordinator_->Stop();
}

// When the registry's clock agrees with the new time (the old one was wrong), the runtime follows
// the new clock.
TEST_F(JobRuntimeTest, AStepTheRegistryAgreesWithIsAccepted) {
  std::atomic<long long> step{0};
  auto clock = SteppableClock(step);
  config::JobConfig job;
  job.fixed_rate = milliseconds(1000);
  auto runtime = MakeRuntime(job, clock);
  step = 60'000;
  store_.SetClockOffsetForTest(std::chrono::seconds(60));
  runtime->OnFire(schedule::Fire{"job", schedule::NowMs(), "1"},
                  spi::ExecutionSource::kNormalTrigger, std::vector<int>{});
  EXPECT_EQ(runtime->Counters().clock_refused_fires, 1u);
  ASSERT_TRUE(WaitUntil([&] { return clock->Step().count() == 0; }));
  runtime->StopAccepting();
  coordinator_->Stop();
}

}  // namespace
}  // namespace shardjob::execution

namespace shardjob::execution {
namespace {

// A session that can be cut off: every request fails with a connection loss while it is.
class SeveredRegistry : public registry::Registry {
 public:
  explicit SeveredRegistry(std::unique_ptr<registry::Registry> inner) : inner_(std::move(inner)) {}
  void Sever(bool severed) { severed_ = severed; }

  registry::Code Create(const std::string& path, const std::string& data, registry::NodeMode mode,
                        std::string* created) override {
    return severed_ ? registry::Code::kConnectionLoss : inner_->Create(path, data, mode, created);
  }
  registry::Code Delete(const std::string& path, std::int32_t version) override {
    return severed_ ? registry::Code::kConnectionLoss : inner_->Delete(path, version);
  }
  registry::Code Exists(const std::string& path, registry::Stat* stat,
                        registry::Watcher watcher) override {
    return severed_ ? registry::Code::kConnectionLoss
                    : inner_->Exists(path, stat, std::move(watcher));
  }
  registry::Code Get(const std::string& path, std::string* data, registry::Stat* stat,
                     registry::Watcher watcher) override {
    return severed_ ? registry::Code::kConnectionLoss
                    : inner_->Get(path, data, stat, std::move(watcher));
  }
  registry::Code Set(const std::string& path, const std::string& data, std::int32_t version,
                     registry::Stat* stat) override {
    return severed_ ? registry::Code::kConnectionLoss : inner_->Set(path, data, version, stat);
  }
  registry::Code GetChildren(const std::string& path, std::vector<std::string>* children,
                             registry::Watcher watcher) override {
    return severed_ ? registry::Code::kConnectionLoss
                    : inner_->GetChildren(path, children, std::move(watcher));
  }
  registry::Code Multi(const std::vector<registry::Op>& ops,
                       std::vector<registry::OpResult>* results) override {
    return severed_ ? registry::Code::kConnectionLoss : inner_->Multi(ops, results);
  }
  std::int64_t SessionId() const override { return inner_->SessionId(); }
  registry::SessionState State() const override { return inner_->State(); }
  void AddSessionListener(registry::SessionListener listener) override {
    inner_->AddSessionListener(std::move(listener));
  }
  std::uint64_t RequestCount() const override { return inner_->RequestCount(); }

 private:
  std::unique_ptr<registry::Registry> inner_;
  std::atomic<bool> severed_{false};
};

// Works until cancelled, once; every later run ends at once. Records the fires it ran.
class CancelledOnce : public spi::JobExecutor {
 public:
  const char* JobInterface() const override { return nullptr; }
  spi::Status Execute(spi::JobObject*, const spi::ShardingContext& context) noexcept override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fires_.push_back(context.fire_id);
      if (fires_.size() > 1) return spi::Status::Ok();
    }
    started_ = true;
    while (!context.cancellation->WaitFor(milliseconds(5))) {
    }
    return spi::Status::Cancelled("the claim was lost");
  }
  std::vector<std::string> Fires() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return fires_;
  }
  std::atomic<bool> started_{false};

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> fires_;
};

// A task stopped because the session's claims were presumed lost, while the registry could not
// be reached to release its claim: the same session still holds that claim when the shard's next
// fire comes. The stopped fire must run before the next one claims the shard and supersedes it
// (G1; found by the fault harness in an ensemble outage).
TEST_F(JobRuntimeTest, AFireWhoseClaimWasLostRunsBeforeTheNextFireSupersedesIt) {
  auto severed = std::make_unique<SeveredRegistry>(store_.OpenSession());
  SeveredRegistry& link = *severed;
  config::JobConfig job;
  job.name = "job";
  job.executor_threads = 1;
  job.fixed_rate = milliseconds(1000);
  job.misfire_policy = config::MisfirePolicy::kRunAll;
  auto executor = std::make_shared<CancelledOnce>();
  JobPlugins plugins;
  plugins.executor = executor;
  auto schedule =
      std::shared_ptr<const schedule::Schedule>(schedule::MakeFixedRateSchedule(*job.fixed_rate));
  coordinator_ = std::make_shared<coordination::JobCoordinator>(*severed, loop_, "/test", job,
                                                                strategy_, "me");
  coordinator_->Start();
  ASSERT_TRUE(WaitUntil([&] { return coordinator_->LocalItems().size() == 1; }));
  auto runtime =
      std::make_shared<JobRuntime>(job, plugins, schedule, coordinator_, pool_, gate_, loop_,
                                   traces_, "me", Host{"host", "127.0.0.1"}, nullptr, nullptr);
  auto fire_at = [&](schedule::TimePoint instant) {
    while (schedule::NowMs() < instant) std::this_thread::sleep_for(milliseconds(2));
    runtime->OnFire(
        schedule::Fire{"job", instant, std::to_string(instant.time_since_epoch().count())},
        spi::ExecutionSource::kNormalTrigger);
  };
  const schedule::TimePoint first = *schedule->NextAfter(schedule::NowMs());
  const schedule::TimePoint second = *schedule->NextAfter(first);
  fire_at(first);
  ASSERT_TRUE(WaitUntil([&] { return executor->started_.load(); }));
  link.Sever(true);         // the release below cannot reach the registry
  runtime->OnClaimsLost();  // as after the session timeout without contact
  ASSERT_TRUE(WaitUntil([&] { return runtime->Counters().tasks_released == 1; }));
  link.Sever(false);  // back, same session: its claim on the first fire is still there
  fire_at(second);
  const std::string second_id = std::to_string(second.time_since_epoch().count());
  auto reached_second = [&] {
    std::vector<std::string> fires = executor->Fires();
    return std::find(fires.begin(), fires.end(), second_id) != fires.end();
  };
  ASSERT_TRUE(WaitUntil(reached_second));
  // The stopped fire (the first one, or an earlier instant caught up at start on a slow machine)
  // ran again, and before any later fire of the shard.
  std::vector<std::string> fires = executor->Fires();
  const std::string stopped = fires.front();
  auto rerun = std::find(fires.begin() + 1, fires.end(), stopped);
  ASSERT_NE(rerun, fires.end()) << "fire " << stopped << " was superseded, never run again";
  for (auto fire = fires.begin() + 1; fire != rerun; ++fire) {
    EXPECT_LT(*fire, stopped) << "a later fire ran before the stopped one";
  }
  runtime->StopAccepting();
  ASSERT_TRUE(runtime->WaitIdle(std::chrono::steady_clock::now() + std::chrono::seconds(10)));
  coordinator_->Stop();
  coordinator_.reset();  // before the session it uses
}

}  // namespace
}  // namespace shardjob::execution
