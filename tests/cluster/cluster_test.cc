// Several `shardjob run` processes against a real ZooKeeper server that the test starts itself:
// scale-out, kill -9, the leader's death, a paused (SIGSTOP) owner, and the seed analysis's
// double crash. Jobs record every task in one shared file (tests/app/fixtures); the assertions
// are over those records and over the registry's state, read with our own ZooKeeper client
// (the harness in cluster_harness.h, shared with faults_test).

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cluster/cluster_harness.h"
#include "registry/zookeeper_registry.h"
#include "support/child_process.h"
#include "support/test_support.h"

namespace shardjob {
namespace {

using testing::ChildProcess;
using testing::ClusterHarness;
using testing::Ends;
using ::testing::HasSubstr;
using testing::ReadLines;
using testing::ReadRecords;
using testing::Record;
using testing::WaitUntil;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kWait = std::chrono::seconds(30);

namespace misfire {

long long NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The newest fire whose 4 shards all ended, or -1.
long long NewestCompleteFire(const std::string& record) {
  long long newest = -1;
  for (const auto& [fire, items] : Ends(ReadRecords(record))) {
    if (items.size() == 4) newest = std::max(newest, std::stoll(fire));
  }
  return newest;
}

}  // namespace misfire

class ClusterTest : public ClusterHarness {
 protected:
  ClusterTest() : ClusterHarness("cluster", "RECORDING_LISTENER, RECORDING_ONCE_LISTENER") {}

  // One instance runs the job until a fire is complete on every shard, then stops, and three
  // fire instants pass with nobody up (the outage is the scenario, not a synchronisation).
  // `last` is the newest fire completed before the outage.
  void RunThenStopEverything(const std::string& schedule, long long* last) {
    Start("a", schedule, 10);
    ASSERT_TRUE(WaitUntil([&] { return misfire::NewestCompleteFire(record_) > 0; }, kWait));
    Kill("a", SIGTERM);
    ASSERT_EQ(processes_.at("a")->Wait(), 0);
    *last = misfire::NewestCompleteFire(record_);
    ASSERT_TRUE(WaitUntil([&] { return misfire::NowMs() > *last + 3500; }, kWait));
  }
};

TEST_F(ClusterTest, ScaleOutFromOneToThreeReshardsAtTheNextFire) {
  Start("a", kEverySecond, 0);
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const auto& [fire, items] : Ends(ReadRecords(record_))) {
          if (items.size() == 4) return true;
        }
        return false;
      },
      kWait));
  Start("b", kEverySecond, 0);
  Start("c", kEverySecond, 0);
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const auto& [fire, items] : Ends(ReadRecords(record_))) {
          std::set<std::string> instances;
          for (const auto& [item, by] : items) instances.insert(by.begin(), by.end());
          if (items.size() == 4 && instances.size() == 3) return true;
        }
        return false;
      },
      kWait))
      << ReadLines(record_).size() << " records";
  EXPECT_EQ(Assignment().size(), 3u);
  StopAll();
  ExpectNoTaskCommittedTwice();
}

// T3: instances join and the leader leaves while shards run (each takes most of a second, so
// fires overlap the reshards). No shard of a fire is started twice, none committed twice.
TEST_F(ClusterTest, ReshardingWhileShardsRunNeverRunsATaskTwice) {
  Start("a", kEverySecond, 800);
  Start("b", kEverySecond, 800);
  ASSERT_TRUE(WaitUntil([&] { return Assignment().size() == 2; }, kWait));
  auto ended_by = [&](const std::string& id) {
    for (const Record& record : ReadRecords(record_)) {
      if (record.event == "end" && record.instance == id) return true;
    }
    return false;
  };
  ASSERT_TRUE(WaitUntil([&] { return ended_by("a") && ended_by("b"); }, kWait));
  Start("c", kEverySecond, 800);
  ASSERT_TRUE(WaitUntil([&] { return Assignment().size() == 3 && ended_by("c"); }, kWait));
  // The leader (a or b: they started together) leaves gracefully right after its shards ended.
  std::string leaving = Leader();
  ASSERT_TRUE(leaving == "a" || leaving == "b") << leaving;
  std::set<std::string> survivors = {"a", "b", "c"};
  survivors.erase(leaving);
  Kill(leaving, SIGTERM);
  EXPECT_EQ(processes_.at(leaving)->Wait(), 0);
  ASSERT_TRUE(
      WaitUntil([&] { return Assignment().size() == 2 && survivors.count(Leader()) == 1; }, kWait));
  std::size_t after_leave = ReadRecords(record_).size();
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto records = ReadRecords(record_);
        std::set<std::string> enders;
        for (std::size_t i = after_leave; i < records.size(); ++i) {
          if (records[i].event == "end") enders.insert(records[i].instance);
        }
        return enders == survivors;
      },
      kWait));
  StopAll();
  std::map<std::pair<std::string, int>, int> starts;
  for (const Record& record : ReadRecords(record_)) {
    if (record.event == "start") ++starts[{record.fire, record.item}];
  }
  for (const auto& [task, count] : starts) {
    EXPECT_EQ(count, 1) << "fire " << task.first << " shard " << task.second;
  }
  ExpectNoTaskCommittedTwice();
}

TEST_F(ClusterTest, KillNineMovesTheShardsToTheSurvivors) {
  Start("a", kEverySecond, 100);
  Start("b", kEverySecond, 100);
  Start("c", kEverySecond, 100);
  ASSERT_TRUE(WaitUntil([&] { return Assignment().size() == 3; }, kWait));
  std::vector<int> b_items = Assignment()["b"];
  ASSERT_FALSE(b_items.empty());
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const Record& record : ReadRecords(record_)) {
          if (record.event == "end" && record.instance == "b") return true;
        }
        return false;
      },
      kWait));
  auto killed_at = Clock::now();
  Kill("b");
  // b's shards run elsewhere once its session expires and the leader reshards.
  std::size_t before = ReadRecords(record_).size();
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto records = ReadRecords(record_);
        for (std::size_t i = before; i < records.size(); ++i) {
          if (records[i].event == "end" && records[i].item == b_items[0] &&
              records[i].instance != "b") {
            return true;
          }
        }
        return false;
      },
      kWait));
  auto moved_after =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed_at);
  std::printf("kill -9 to the shard running elsewhere: %lld ms (session timeout %lld ms)\n",
              static_cast<long long>(moved_after.count()),
              static_cast<long long>(kSessionTimeout.count()));
  EXPECT_EQ(Assignment().count("b"), 0u);
  // The survivors then run every shard of every fire.
  std::string settled = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                               .count() /
                                           1000 * 1000 +
                                       1000);
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto ends = Ends(ReadRecords(record_));
        auto it = ends.find(settled);
        return it != ends.end() && it->second.size() == 4;
      },
      kWait));
  StopAll();
  ExpectNoTaskCommittedTwice();
}

TEST_F(ClusterTest, TheLeadersDeathElectsANewLeader) {
  Start("a", "", 0);
  ASSERT_TRUE(WaitUntil([&] { return Leader() == "a"; }, kWait));
  Start("b", "", 0);
  Start("c", "", 0);
  ASSERT_TRUE(WaitUntil([&] { return Assignment().size() == 3; }, kWait));
  Kill("a");
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::string leader = Leader();
        return (leader == "b" || leader == "c") && Assignment().size() == 2 &&
               Assignment().count("a") == 0;
      },
      kWait))
      << "leader " << Leader();
  // The new leader's assignment covers every shard.
  std::set<int> covered;
  for (const auto& [instance, items] : Assignment()) covered.insert(items.begin(), items.end());
  EXPECT_EQ(covered, (std::set<int>{0, 1, 2, 3}));
  StopAll();
}

// The seed analysis: 4 shards, 3 instances; one crashes mid-fire, a survivor takes over its
// shards, then that survivor crashes too. The last instance runs every shard; none is lost and
// none is committed twice for the fire.
TEST_F(ClusterTest, ADoubleCrashDuringFailoverLosesNothingAndRunsNothingTwice) {
  for (const char* id : {"a", "b", "c"}) Start(id, "", 1500);
  ASSERT_TRUE(WaitUntil([&] { return Assignment().size() == 3; }, kWait));
  std::string fire = Trigger();
  // Every shard started somewhere.
  ASSERT_TRUE(WaitUntil([&] { return StartedItems(fire).size() == 4; }, kWait));
  std::map<int, std::string> runner;
  for (const Record& record : ReadRecords(record_)) {
    if (record.event == "start" && record.fire == fire) runner[record.item] = record.instance;
  }
  std::string first = runner[0];
  Kill(first);
  // A survivor fails the dead instance's shards over (same fire); kill that one too.
  std::string second;
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const Record& record : ReadRecords(record_)) {
          if (record.event == "start" && record.fire == fire && record.item == 0 &&
              record.instance != first) {
            second = record.instance;
            return true;
          }
        }
        return false;
      },
      kWait));
  Kill(second);
  std::string last;
  for (const char* id : {"a", "b", "c"}) {
    if (id != first && id != second) last = id;
  }
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto ends = Ends(ReadRecords(record_));
        return ends[fire].size() == 4;
      },
      std::chrono::seconds(60)))
      << "records:\n"
      << ::testing::PrintToString(ReadLines(record_));
  // A task ends (its record) just before it commits: wait for the commits themselves.
  ASSERT_TRUE(WaitUntil([&] { return Committed(fire, {0, 1, 2, 3}); }, kWait));
  auto ends = Ends(ReadRecords(record_));
  for (int item = 0; item < 4; ++item) {
    ASSERT_EQ(ends[fire][item].size(), 1u) << "shard " << item;
  }
  // The shards the two dead instances held ended on the last one.
  EXPECT_EQ(ends[fire][0][0], last);
  StopAll();
  ExpectNoTaskCommittedTwice();
}

// A config written to the registry (by an operator, an API) applies on every instance from the
// next fire: here the shard count grows from 4 to 6 and the leader reshards.
TEST_F(ClusterTest, AConfigChangedInTheRegistryAppliesAtTheNextFire) {
  Start("a", kEverySecond, 0);
  Start("b", kEverySecond, 0);
  ASSERT_TRUE(WaitUntil([&] { return Assignment().size() == 2; }, kWait));
  std::string stored;
  ASSERT_EQ(observer_->Get(JobPath() + "/config", &stored, nullptr, nullptr), registry::Code::kOk);
  Json config = Json::parse(stored);
  EXPECT_EQ(config["sharding_total_count"], 4);
  config["sharding_total_count"] = 6;
  ASSERT_EQ(observer_->Set(JobPath() + "/config", config.dump(), registry::kAnyVersion, nullptr),
            registry::Code::kOk);
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const auto& [fire, items] : Ends(ReadRecords(record_))) {
          std::set<std::string> instances;
          for (const auto& [item, by] : items) instances.insert(by.begin(), by.end());
          if (items.size() == 6 && instances.size() == 2) return true;
        }
        return false;
      },
      kWait));
  StopAll();
  ExpectNoTaskCommittedTwice();
}

// A shard an operator disables is run by nobody until it is enabled again.
TEST_F(ClusterTest, ADisabledShardIsRunByNobody) {
  Start("a", kEverySecond, 0);
  Start("b", kEverySecond, 0);
  ASSERT_TRUE(WaitUntil([&] { return Assignment().size() == 2; }, kWait));
  ASSERT_EQ(observer_->Create(JobPath() + "/disabled", R"({"shards": [1]})",
                              registry::NodeMode::kPersistent, nullptr),
            registry::Code::kOk);
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::set<int> assigned;
        for (const auto& [instance, items] : Assignment()) {
          assigned.insert(items.begin(), items.end());
        }
        return assigned == std::set<int>{0, 2, 3};
      },
      kWait));
  // A fire already under way may still run shard 1; every fire from the second one on must not.
  long long last_before = 0;
  for (const Record& record : ReadRecords(record_)) {
    last_before = std::max(last_before, std::stoll(record.fire));
  }
  long long settled = last_before + 2000;
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const auto& [fire, items] : Ends(ReadRecords(record_))) {
          if (std::stoll(fire) >= settled && items.size() == 3) return true;
        }
        return false;
      },
      kWait));
  for (const Record& record : ReadRecords(record_)) {
    if (std::stoll(record.fire) >= settled) {
      EXPECT_NE(record.item, 1) << record.event << " of disabled shard 1 in fire " << record.fire;
    }
  }
  std::size_t disabled_at = ReadRecords(record_).size();
  ASSERT_EQ(
      observer_->Set(JobPath() + "/disabled", R"({"shards": []})", registry::kAnyVersion, nullptr),
      registry::Code::kOk);
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto records = ReadRecords(record_);
        for (std::size_t i = disabled_at; i < records.size(); ++i) {
          if (records[i].event == "end" && records[i].item == 1) return true;
        }
        return false;
      },
      kWait));
  StopAll();
  ExpectNoTaskCommittedTwice();
}

// T6: a cluster-once listener runs before and after each fire exactly once across the cluster,
// the "after" only once every shard of the fire is committed.
TEST_F(ClusterTest, ClusterOnceListenersRunOncePerFire) {
  for (const char* id : {"a", "b", "c"}) Start(id, "", 200);
  ASSERT_TRUE(WaitUntil([&] { return Assignment().size() == 3; }, kWait));
  std::vector<std::string> fires;
  for (int i = 0; i < 3; ++i) {
    fires.push_back(Trigger());
    ASSERT_TRUE(WaitUntil(
        [&] {
          for (const std::string& line : ReadLines(record_)) {
            if (line.rfind("once-after " + fires.back() + " ", 0) == 0) return true;
          }
          return false;
        },
        kWait));
  }
  StopAll();
  std::vector<std::string> lines = ReadLines(record_);
  for (const std::string& fire : fires) {
    int before = 0, after = 0, ends = 0;
    for (const std::string& line : lines) {
      if (line.rfind("once-before " + fire + " ", 0) == 0) ++before;
      if (line.rfind("once-after " + fire + " ", 0) == 0) {
        ++after;
        EXPECT_EQ(ends, 4) << "the after hook of " << fire << " ran before every shard ended";
      }
      if (line.rfind("end " + fire + " ", 0) == 0) ++ends;
    }
    EXPECT_EQ(before, 1) << fire;
    EXPECT_EQ(after, 1) << fire;
  }
  ExpectNoTaskCommittedTwice();
}

// T1: an owner paused past its session timeout (SIGSTOP) is replaced; when it resumes, it is
// told (its task is cancelled) and its commit is refused: the replacement's commit stands.
TEST_F(ClusterTest, APausedOwnerIsReplacedAndItsCommitRefused) {
  Start("a", "", 3000);
  ASSERT_TRUE(WaitUntil([&] { return Assignment().size() == 1; }, kWait));
  Start("b", "", 3000);
  ASSERT_TRUE(WaitUntil([&] { return Assignment().size() == 2; }, kWait));
  std::string fire = Trigger();
  ASSERT_TRUE(WaitUntil([&] { return StartedItems(fire).size() == 4; }, kWait));
  std::vector<int> a_items = Assignment()["a"];
  ASSERT_FALSE(a_items.empty());
  Kill("a", SIGSTOP);
  // b takes a's shards over for the same fire once a's session expires.
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto ends = Ends(ReadRecords(record_));
        for (int item : a_items) {
          if (ends[fire][item] != std::vector<std::string>{"b"}) return false;
        }
        return true;
      },
      std::chrono::seconds(60)));
  Kill("a", SIGCONT);
  ChildProcess& a = *processes_.at("a");
  ASSERT_TRUE(a.ReadUntil(
      [](const std::string& output) {
        return output.find("claims are lost") != std::string::npos ||
               output.find("commit refused") != std::string::npos;
      },
      kWait))
      << a.output();
  // A task ends (its record) just before it commits: wait for b's commits themselves.
  ASSERT_TRUE(WaitUntil([&] { return Committed(fire, a_items, "b"); }, kWait));
  // a may well have finished its work after it resumed (it did it: "executed at least once"),
  // or been stopped by its cancellation flag first; either way its claim does not stand.
  StopAll();
  const std::string& a_output = processes_.at("a")->output();
  EXPECT_TRUE(a_output.find("commit refused") != std::string::npos ||
              a_output.find("released without a commit") != std::string::npos)
      << a_output;
  for (int item : a_items) EXPECT_EQ(State(item)["committed_by"], "b");
  ExpectNoTaskCommittedTwice();
}

// G1 across a whole-cluster outage: with misfire_policy run_all, the instance that comes back runs
// every fire nobody ran meanwhile, oldest first, each shard once.
TEST_F(ClusterTest, FiresMissedWhileEveryInstanceWasDownAllRunWithRunAll) {
  using misfire::NewestCompleteFire;
  using misfire::NowMs;
  const std::string schedule = kEverySecond + "    misfire_policy: run_all\n";
  long long last = -1;
  ASSERT_NO_FATAL_FAILURE(RunThenStopEverything(schedule, &last));
  Start("b", schedule, 10);
  ASSERT_TRUE(WaitUntil([&] { return NewestCompleteFire(record_) > last + 5000; }, kWait));
  StopAll();
  auto ends = Ends(ReadRecords(record_));
  for (long long fire = last; fire <= last + 5000; fire += 1000) {
    auto it = ends.find(std::to_string(fire));
    ASSERT_NE(it, ends.end()) << "fire " << fire << " was lost";
    EXPECT_EQ(it->second.size(), 4u) << "fire " << fire;
    for (const auto& [item, instances] : it->second) {
      EXPECT_EQ(instances.size(), 1u) << "fire " << fire << " shard " << item;
    }
  }
  ExpectNoTaskCommittedTwice();
}

// misfire_policy run_once: the missed fires coalesce into one run of the newest; the older ones
// do not run.
TEST_F(ClusterTest, FiresMissedWhileEveryInstanceWasDownCoalesceWithRunOnce) {
  using misfire::NewestCompleteFire;
  using misfire::NowMs;
  const std::string schedule = kEverySecond + "    misfire_policy: run_once\n";
  long long last = -1;
  ASSERT_NO_FATAL_FAILURE(RunThenStopEverything(schedule, &last));
  long long restarted = NowMs();
  Start("b", schedule, 10);
  ASSERT_TRUE(WaitUntil([&] { return NewestCompleteFire(record_) > restarted + 1000; }, kWait));
  StopAll();
  auto ends = Ends(ReadRecords(record_));
  // Fires that came due while nobody was up, older than the newest of them, were coalesced.
  EXPECT_EQ(ends.count(std::to_string(last + 1000)), 0u);
  EXPECT_EQ(ends.count(std::to_string(last + 2000)), 0u);
  // The newest missed one ran, on every shard, before b's own fires.
  long long caught_up = -1;
  for (const auto& [fire, items] : ends) {
    long long id = std::stoll(fire);
    if (id > last && id <= restarted) caught_up = std::max(caught_up, id);
  }
  ASSERT_GT(caught_up, last + 2000);
  EXPECT_EQ(ends[std::to_string(caught_up)].size(), 4u);
  ExpectNoTaskCommittedTwice();
}

}  // namespace
}  // namespace shardjob
