// Several instances of one job, each a JobCoordinator on its own session of one embedded store:
// election, assignment, and the claim/commit protocol's guarantees (DESIGN §5, G2 and G3).

#include "coordination/job_coordinator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "coordination/event_loop.h"
#include "registry/embedded_registry.h"
#include "registry/registry.h"
#include "shardjob/spi/sharding_strategy.h"

namespace shardjob::coordination {
namespace {

using registry::Code;
using registry::NodeMode;
using Json = nlohmann::json;
using Assignment = std::map<std::string, std::vector<int>>;

constexpr auto kTimeout = std::chrono::seconds(5);
constexpr char kRoot[] = "/shardjob";

bool WaitUntil(const std::function<bool()>& condition) {
  auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// AVG_ALLOCATION: the items split evenly over the instances in the order given, the first ones
// taking one more when the count does not divide.
class AverageAllocation : public spi::ShardingStrategy {
 public:
  spi::Status Shard(const spi::ShardingRequest& request,
                    spi::ShardingPlan* plan) const noexcept override {
    int count = static_cast<int>(request.instances.size());
    int base = request.sharding_total_count / count;
    int extra = request.sharding_total_count % count;
    int next = 0;
    for (int i = 0; i < count; ++i) {
      std::vector<int>& items = (*plan)[request.instances[i]];
      for (int j = 0; j < base + (i < extra ? 1 : 0); ++j) items.push_back(next++);
    }
    return spi::Status::Ok();
  }
};

// A session that remembers which paths it listed and which it watched for existence, so a test
// can tell who took part in an election round.
class RecordingRegistry : public registry::Registry {
 public:
  explicit RecordingRegistry(std::unique_ptr<registry::Registry> inner)
      : inner_(std::move(inner)) {}

  Code Create(const std::string& path, const std::string& data, NodeMode mode,
              std::string* created_path) override {
    return inner_->Create(path, data, mode, created_path);
  }
  Code Delete(const std::string& path, std::int32_t version) override {
    return inner_->Delete(path, version);
  }
  Code Exists(const std::string& path, registry::Stat* stat, registry::Watcher watcher) override {
    if (watcher) {
      std::lock_guard<std::mutex> lock(mutex_);
      exists_watches_.push_back(path);
    }
    return inner_->Exists(path, stat, std::move(watcher));
  }
  Code Get(const std::string& path, std::string* data, registry::Stat* stat,
           registry::Watcher watcher) override {
    if (lost_gets_ > 0) {
      --lost_gets_;
      return Code::kConnectionLoss;
    }
    return inner_->Get(path, data, stat, std::move(watcher));
  }
  Code Set(const std::string& path, const std::string& data, std::int32_t version,
           registry::Stat* stat) override {
    LostMulti lost = lost_set_.exchange(LostMulti::kNone);
    if (lost == LostMulti::kRequest) return Code::kConnectionLoss;
    Code code = inner_->Set(path, data, version, stat);
    return lost == LostMulti::kReply ? Code::kConnectionLoss : code;
  }
  Code GetChildren(const std::string& path, std::vector<std::string>* children,
                   registry::Watcher watcher) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++listings_[path];
    }
    return inner_->GetChildren(path, children, std::move(watcher));
  }
  Code Multi(const std::vector<registry::Op>& ops,
             std::vector<registry::OpResult>* results) override {
    LostMulti lost = lost_multi_.exchange(LostMulti::kNone);
    if (lost == LostMulti::kRequest) return Code::kConnectionLoss;
    Code code = inner_->Multi(ops, results);
    return lost == LostMulti::kReply ? Code::kConnectionLoss : code;
  }

  // The next multi reports a connection loss: before reaching the registry (the request was
  // lost), or after it was applied (the reply was lost).
  enum class LostMulti { kNone, kRequest, kReply };
  void LoseNextMulti(LostMulti how) { lost_multi_ = how; }
  // The same for the next SetData (a checkpoint).
  void LoseNextSet(LostMulti how) { lost_set_ = how; }
  // The next `count` reads report a connection loss.
  void LoseGets(int count) { lost_gets_ = count; }
  std::int64_t SessionId() const override { return inner_->SessionId(); }
  registry::SessionState State() const override { return inner_->State(); }
  void AddSessionListener(registry::SessionListener listener) override {
    inner_->AddSessionListener(std::move(listener));
  }
  std::uint64_t RequestCount() const override { return inner_->RequestCount(); }

  int Listings(const std::string& path) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = listings_.find(path);
    return it == listings_.end() ? 0 : it->second;
  }
  // The paths under `prefix` it set an existence watch on, in order.
  std::vector<std::string> ExistsWatches(const std::string& prefix) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> paths;
    for (const std::string& path : exists_watches_) {
      if (path.starts_with(prefix)) paths.push_back(path);
    }
    return paths;
  }

 private:
  std::unique_ptr<registry::Registry> inner_;
  std::atomic<LostMulti> lost_set_{LostMulti::kNone};
  std::atomic<int> lost_gets_{0};
  std::atomic<LostMulti> lost_multi_{LostMulti::kNone};
  mutable std::mutex mutex_;
  std::map<std::string, int> listings_;
  std::vector<std::string> exists_watches_;
};

enum class LoopMode { kShared, kOwn };
enum class Leave { kStop, kClose, kExpire };

const char* LeaveName(Leave how) {
  switch (how) {
    case Leave::kStop:
      return "Stop()";
    case Leave::kClose:
      return "session closed";
    case Leave::kExpire:
      return "session expired";
  }
  return "?";
}

// What a coordinator tells its instance about the shards it holds.
class ItemChanges : public JobEvents {
 public:
  void OnClaimsLost() override {}
  void OnOrphanedShards(const std::string&, const std::vector<int>&) override {}
  void OnTrigger(const std::string&) override {}
  void OnConfigChanged(const config::JobConfig&) override {}
  void OnItemsGained(const std::vector<int>& items) override {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int item : items) held_.insert(item);
  }
  void OnItemsLost(const std::vector<int>& items) override {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int item : items) {
      held_.erase(item);
      lost_.insert(item);
    }
  }
  void OnConfigDeleted() override { ++configs_deleted_; }
  std::set<int> held() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return held_;
  }
  int configs_deleted() const { return configs_deleted_; }
  std::set<int> lost() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return lost_;
  }

 private:
  mutable std::mutex mutex_;
  std::set<int> held_;
  std::set<int> lost_;
  std::atomic<int> configs_deleted_{0};
};

struct Member {
  std::string id;
  std::string job;
  std::string candidate;  // its leader/candidate-<seq> node
  std::unique_ptr<RecordingRegistry> session;
  std::unique_ptr<ItemChanges> changes = std::make_unique<ItemChanges>();  // outlives coordinator
  std::shared_ptr<JobCoordinator> coordinator;  // after the session: destroyed first
  bool present = true;                          // has not left
};

class CoordinationTest : public ::testing::Test {
 protected:
  CoordinationTest() : observer_(store_.OpenSession()) {}

  ~CoordinationTest() override { ClearMembers(); }

  // Coordinators first; then every step that still runs finishes before its session goes.
  void ClearMembers() {
    for (auto& member : members_) member->coordinator.reset();
    DrainLoops();
    members_.clear();
  }

  std::string JobPath(const std::string& job = "job") const {
    return std::string(kRoot) + "/jobs/" + job;
  }

  Member& Join(const std::string& id, int total, LoopMode mode = LoopMode::kShared,
               bool disabled = false, const std::string& job_name = "job") {
    auto member = std::make_unique<Member>();
    member->id = id;
    member->job = job_name;
    member->session = std::make_unique<RecordingRegistry>(store_.OpenSession());
    EventLoop* loop = shared_loop_.get();
    if (mode == LoopMode::kOwn) {
      std::lock_guard<std::mutex> lock(loops_mutex_);
      own_loops_.push_back(std::make_unique<EventLoop>());
      loop = own_loops_.back().get();
    }
    config::JobConfig job;
    job.name = job_name;
    job.sharding_total_count = total;
    job.disabled = disabled;
    job.sharding_strategy = strategy_name_;
    member->coordinator = std::make_shared<JobCoordinator>(*member->session, *loop, kRoot, job,
                                                           strategy_, id, member->changes.get());
    member->coordinator->Start();
    std::vector<std::string> candidates;
    EXPECT_EQ(observer_->GetChildren(JobPath(job_name) + "/leader", &candidates, nullptr),
              Code::kOk);
    for (const std::string& name : candidates) {
      std::string data;
      if (observer_->Get(JobPath(job_name) + "/leader/" + name, &data, nullptr, nullptr) ==
              Code::kOk &&
          data == id) {
        member->candidate = JobPath(job_name) + "/leader/" + name;
      }
    }
    std::lock_guard<std::mutex> lock(members_mutex_);
    members_.push_back(std::move(member));
    return *members_.back();
  }

  void LeaveAs(Member& member, Leave how) {
    member.present = false;
    switch (how) {
      case Leave::kStop:
        member.coordinator->Stop();
        break;
      case Leave::kClose:
        // A crash: no Stop(); the session ends with the process.
        member.coordinator.reset();
        DrainLoops();
        member.session.reset();
        break;
      case Leave::kExpire:
        store_.ExpireSession(member.session->SessionId());
        break;
    }
  }

  // Every event the store queued so far is delivered once this returns (one event thread, FIFO).
  void DrainStore() {
    auto fired = std::make_shared<std::promise<void>>();
    std::string path = std::string("/barrier-") + std::to_string(++barriers_);
    ASSERT_EQ(observer_->Exists(path, nullptr,
                                [fired](const registry::WatchEvent&) { fired->set_value(); }),
              Code::kNoNode);
    ASSERT_EQ(observer_->Create(path, "", NodeMode::kPersistent, nullptr), Code::kOk);
    ASSERT_EQ(fired->get_future().wait_for(kTimeout), std::future_status::ready);
    ASSERT_EQ(observer_->Delete(path, registry::kAnyVersion), Code::kOk);
  }

  // Every task posted to a loop so far has run once this returns.
  void DrainLoops() {
    std::vector<EventLoop*> loops = {shared_loop_.get()};
    {
      std::lock_guard<std::mutex> lock(loops_mutex_);
      for (auto& loop : own_loops_) loops.push_back(loop.get());
    }
    for (EventLoop* loop : loops) {
      auto done = std::make_shared<std::promise<void>>();
      std::future<void> future = done->get_future();
      loop->Post([done] { done->set_value(); });
      ASSERT_EQ(future.wait_for(kTimeout), std::future_status::ready);
    }
  }

  std::uint64_t TotalRequests() {
    std::uint64_t total = 0;
    for (auto& member : members_) {
      if (member->session) total += member->session->RequestCount();
    }
    return total;
  }

  // Waits until no coordinator has anything left to react to.
  void Quiesce() {
    for (int round = 0; round < 50; ++round) {
      std::uint64_t before = TotalRequests();
      DrainStore();
      DrainLoops();
      if (TotalRequests() == before) return;
    }
    ADD_FAILURE() << "the coordinators never went quiet";
  }

  static std::vector<int> ItemsIn(const Assignment& assignment, const std::string& id) {
    auto it = assignment.find(id);
    return it == assignment.end() ? std::vector<int>{} : it->second;
  }

  Assignment StoredAssignment(const std::string& job = "job") {
    std::string data;
    if (observer_->Get(JobPath(job) + "/assignment", &data, nullptr, nullptr) != Code::kOk) {
      return {};
    }
    Assignment assignment;
    Json parsed = Json::parse(data);
    for (auto& [instance, items] : parsed["instances"].items()) {
      assignment[instance] = items.get<std::vector<int>>();
    }
    return assignment;
  }

  // The stored assignment spreads `total` items over exactly `enabled` (no overlap, no gap,
  // evenly), every present coordinator has read it, and `leader` alone leads.
  ::testing::AssertionResult Converged(const std::vector<std::string>& enabled, int total,
                                       const std::string& leader, const std::string& job = "job") {
    Assignment stored = StoredAssignment(job);
    std::set<int> covered;
    int count = 0;
    for (const auto& [instance, items] : stored) {
      if (items.empty()) continue;
      if (std::find(enabled.begin(), enabled.end(), instance) == enabled.end()) {
        return ::testing::AssertionFailure() << instance << " holds items but must not";
      }
      int low = total / static_cast<int>(enabled.size());
      int size = static_cast<int>(items.size());
      if (size < low || size > low + 1) {
        return ::testing::AssertionFailure() << instance << " holds " << size << " items";
      }
      covered.insert(items.begin(), items.end());
      count += size;
    }
    if (count != total || static_cast<int>(covered.size()) != total ||
        (total > 0 && (*covered.begin() != 0 || *covered.rbegin() != total - 1))) {
      return ::testing::AssertionFailure() << "items covered " << covered.size() << " of " << total
                                           << " (" << count << " handed out)";
    }
    // And exactly what the strategy makes of the enabled ones, handed over in descending order
    // as the SPI promises.
    if (!enabled.empty()) {
      spi::ShardingRequest request;
      request.sharding_total_count = total;
      request.instances = enabled;
      std::sort(request.instances.rbegin(), request.instances.rend());
      spi::ShardingPlan plan;
      if (!strategy_->Shard(request, &plan).ok() || plan != stored) {
        return ::testing::AssertionFailure() << "the assignment is not the strategy's plan";
      }
    }
    if (total >= static_cast<int>(enabled.size())) {
      for (const std::string& id : enabled) {
        if (ItemsIn(stored, id).empty()) {
          return ::testing::AssertionFailure() << id << " has no items";
        }
      }
    }
    int leaders = 0;
    for (auto& member : members_) {
      if (member->job != job || !member->present || !member->coordinator) continue;
      if (member->coordinator->Assignment() != stored) {
        return ::testing::AssertionFailure() << member->id << " has not read the assignment";
      }
      if (member->coordinator->LocalItems() != ItemsIn(stored, member->id)) {
        return ::testing::AssertionFailure() << member->id << " reports other local items";
      }
      if (member->coordinator->IsLeader()) {
        ++leaders;
        if (member->id != leader) {
          return ::testing::AssertionFailure() << member->id << " leads, not " << leader;
        }
      }
    }
    if (leaders != 1) return ::testing::AssertionFailure() << leaders << " leaders";
    return ::testing::AssertionSuccess();
  }

  void ExpectConverged(const std::vector<std::string>& enabled, int total,
                       const std::string& leader, const std::string& job = "job") {
    bool converged = WaitUntil([&] { return bool(Converged(enabled, total, leader, job)); });
    EXPECT_TRUE(converged) << Converged(enabled, total, leader, job).message();
  }

  Json StateOf(int item, registry::Stat* stat = nullptr) {
    std::string data;
    EXPECT_EQ(observer_->Get(JobPath() + "/shards/" + std::to_string(item) + "/state", &data, stat,
                             nullptr),
              Code::kOk);
    return Json::parse(data);
  }

  Code LeaseOf(int item, Json* lease, registry::Stat* stat) {
    std::string data;
    Code code = observer_->Get(JobPath() + "/shards/" + std::to_string(item) + "/lease", &data,
                               stat, nullptr);
    if (code == Code::kOk && lease != nullptr) *lease = Json::parse(data);
    return code;
  }

  // Overwrites the leader's assignment, once nothing can overwrite it back.
  void WriteAssignment(const Assignment& assignment, int total) {
    Quiesce();
    Json instances = Json::object();
    for (const auto& [id, items] : assignment) instances[id] = items;
    Json text = {{"total", total}, {"instances", instances}};
    ASSERT_EQ(
        observer_->Set(JobPath() + "/assignment", text.dump(), registry::kAnyVersion, nullptr),
        Code::kOk);
  }

  static std::vector<TaskOutcome> Succeeded(const std::vector<Claim>& claims) {
    std::vector<TaskOutcome> outcomes;
    for (const Claim& claim : claims) outcomes.push_back(TaskOutcome{claim, true});
    return outcomes;
  }

  static std::vector<int> ItemsOf(const std::vector<Claim>& claims) {
    std::vector<int> items;
    for (const Claim& claim : claims) items.push_back(claim.item);
    std::sort(items.begin(), items.end());
    return items;
  }

  static std::vector<int> Range(int count) {
    std::vector<int> items;
    for (int i = 0; i < count; ++i) items.push_back(i);
    return items;
  }

  // Declared in the order that lets each be destroyed in reverse: the loops outlive the store
  // (whose last watches post to them), and the store outlives the sessions.
  std::unique_ptr<EventLoop> shared_loop_ = std::make_unique<EventLoop>();
  std::mutex loops_mutex_;
  std::vector<std::unique_ptr<EventLoop>> own_loops_;
  std::shared_ptr<spi::ShardingStrategy> strategy_ = std::make_shared<AverageAllocation>();
  std::string strategy_name_ = "AVG_ALLOCATION";
  registry::EmbeddedStore store_;
  std::unique_ptr<registry::Registry> observer_;
  std::mutex members_mutex_;
  std::vector<std::unique_ptr<Member>> members_;
  int barriers_ = 0;
};

TEST_F(CoordinationTest, OneInstanceLeadsAndGetsAllItems) {
  Member& a = Join("a", 5);
  ExpectConverged({"a"}, 5, "a");
  EXPECT_EQ(a.coordinator->LocalItems(), Range(5));
  EXPECT_EQ(a.coordinator->Assignment(), (Assignment{{"a", Range(5)}}));
  std::vector<std::string> instances;
  ASSERT_EQ(observer_->GetChildren(JobPath() + "/instances", &instances, nullptr), Code::kOk);
  EXPECT_EQ(instances, std::vector<std::string>{"a"});
  registry::Stat stat;
  ASSERT_EQ(observer_->Exists(JobPath() + "/instances/a", &stat, nullptr), Code::kOk);
  EXPECT_EQ(stat.ephemeral_owner, a.session->SessionId());
  for (int item = 0; item < 5; ++item) EXPECT_TRUE(StateOf(item).is_object());
}

TEST_F(CoordinationTest, ThreeInstancesHaveOneLeaderAndPartitionTheItems) {
  for (LoopMode mode : {LoopMode::kShared, LoopMode::kOwn}) {
    SCOPED_TRACE(mode == LoopMode::kShared ? "shared loop" : "one loop each");
    std::string job = mode == LoopMode::kShared ? "shared" : "own";
    Join("a", 10, mode, false, job);
    Join("b", 10, mode, false, job);
    Join("c", 10, mode, false, job);
    ExpectConverged({"a", "b", "c"}, 10, "a", job);
    Quiesce();
    EXPECT_TRUE(Converged({"a", "b", "c"}, 10, "a", job));
    ClearMembers();
  }
}

TEST_F(CoordinationTest, StartingAtTheSameTimeConverges) {
  // Start() runs steps on the caller's thread while the loop runs the same coordinator's steps
  // for the others' arrivals: whatever the interleaving, the last assignment written must be
  // over everyone.
  for (int round = 0; round < 15; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::string job = "concurrent-" + std::to_string(round);
    std::latch start(3);
    std::vector<std::thread> threads;
    for (const char* id : {"a", "b", "c"}) {
      threads.emplace_back([&, id] {
        start.arrive_and_wait();
        Join(id, 7, round % 2 == 0 ? LoopMode::kShared : LoopMode::kOwn, false, job);
      });
    }
    for (std::thread& thread : threads) thread.join();
    // The leader is whoever registered its candidate first.
    auto first =
        std::min_element(members_.begin(), members_.end(),
                         [](const auto& x, const auto& y) { return x->candidate < y->candidate; });
    std::string leader = (*first)->id;
    ExpectConverged({"a", "b", "c"}, 7, leader, job);
    Quiesce();
    ASSERT_TRUE(Converged({"a", "b", "c"}, 7, leader, job));
    ClearMembers();
  }
}

TEST_F(CoordinationTest, TheSuccessorAloneTakesOverFromALeaderThatLeaves) {
  for (Leave how : {Leave::kStop, Leave::kClose, Leave::kExpire}) {
    SCOPED_TRACE(LeaveName(how));
    Member& a = Join("a", 6);
    Member& b = Join("b", 6);
    Member& c = Join("c", 6);
    ExpectConverged({"a", "b", "c"}, 6, "a");
    Quiesce();
    // Each candidate watches its predecessor only.
    EXPECT_EQ(a.session->ExistsWatches(JobPath() + "/leader/").size(), 0u);
    EXPECT_EQ(b.session->ExistsWatches(JobPath() + "/leader/"),
              std::vector<std::string>{a.candidate});
    EXPECT_EQ(c.session->ExistsWatches(JobPath() + "/leader/"),
              std::vector<std::string>{b.candidate});
    int b_listings = b.session->Listings(JobPath() + "/leader");
    int c_listings = c.session->Listings(JobPath() + "/leader");

    LeaveAs(a, how);
    ExpectConverged({"b", "c"}, 6, "b");
    Quiesce();
    EXPECT_TRUE(Converged({"b", "c"}, 6, "b"));
    // One loop: C would have run any election round it was woken for before B's new assignment
    // reached it. Only B was.
    EXPECT_GT(b.session->Listings(JobPath() + "/leader"), b_listings);
    EXPECT_EQ(c.session->Listings(JobPath() + "/leader"), c_listings);
    EXPECT_EQ(c.session->ExistsWatches(JobPath() + "/leader/"),
              std::vector<std::string>{b.candidate});
    if (a.coordinator) {
      EXPECT_FALSE(a.coordinator->IsLeader());
    }
    ClearMembers();
    ASSERT_EQ(observer_->Delete(JobPath() + "/assignment", registry::kAnyVersion), Code::kOk);
  }
}

TEST_F(CoordinationTest, ALeaderWhoseSessionExpiredStopsLeadingAndIsReplaced) {
  Member& a = Join("a", 4, LoopMode::kOwn);
  Join("b", 4, LoopMode::kOwn);
  Join("c", 4, LoopMode::kOwn);
  ExpectConverged({"a", "b", "c"}, 4, "a");
  LeaveAs(a, Leave::kExpire);
  ExpectConverged({"b", "c"}, 4, "b");
  // Its coordinator must not go on calling itself the leader, nor claim anything.
  EXPECT_TRUE(WaitUntil([&] { return !a.coordinator->IsLeader(); }));
  EXPECT_TRUE(a.coordinator->ClaimFire("f1").empty());
}

TEST_F(CoordinationTest, ANonLeaderThatLeavesHasItsItemsMoved) {
  for (Leave how : {Leave::kStop, Leave::kClose, Leave::kExpire}) {
    SCOPED_TRACE(LeaveName(how));
    Join("a", 9, LoopMode::kOwn);
    Member& b = Join("b", 9, LoopMode::kOwn);
    Join("c", 9, LoopMode::kOwn);
    ExpectConverged({"a", "b", "c"}, 9, "a");
    LeaveAs(b, how);
    ExpectConverged({"a", "c"}, 9, "a");
    EXPECT_TRUE(ItemsIn(StoredAssignment(), "b").empty());
    ClearMembers();
    ASSERT_EQ(observer_->Delete(JobPath() + "/assignment", registry::kAnyVersion), Code::kOk);
  }
}

TEST_F(CoordinationTest, ScalingOutFromOneToThreeSpreadsTheItems) {
  Member& a = Join("a", 8);
  ExpectConverged({"a"}, 8, "a");
  EXPECT_EQ(a.coordinator->LocalItems(), Range(8));
  Join("b", 8);
  ExpectConverged({"a", "b"}, 8, "a");
  Join("c", 8, LoopMode::kOwn);
  ExpectConverged({"a", "b", "c"}, 8, "a");
  EXPECT_LT(a.coordinator->LocalItems().size(), 8u);
}

// Each instance is told which shards it gained and which moved away, and what it is told it
// holds is what the assignment gives it.
TEST_F(CoordinationTest, AnInstanceIsToldOfTheShardsItGainsAndLoses) {
  Member& a = Join("a", 6);
  ExpectConverged({"a"}, 6, "a");
  ASSERT_TRUE(WaitUntil([&] { return a.changes->held().size() == 6; }));
  EXPECT_TRUE(a.changes->lost().empty());
  Member& b = Join("b", 6);
  ExpectConverged({"a", "b"}, 6, "a");
  auto held = [](const Member& m) {
    std::vector<int> items = m.coordinator->LocalItems();
    return std::set<int>(items.begin(), items.end());
  };
  ASSERT_TRUE(WaitUntil([&] {
    return a.changes->held() == held(a) && b.changes->held() == held(b) && held(a).size() == 3;
  }));
  std::set<int> moved;
  for (int item : held(b)) moved.insert(item);
  EXPECT_EQ(a.changes->lost(), moved);
  EXPECT_TRUE(b.changes->lost().empty());
}

TEST_F(CoordinationTest, ADisabledInstanceGetsNoItems) {
  // The disabled one joins first, so it also leads: leading is not running.
  Member& d = Join("d", 6, LoopMode::kShared, /*disabled=*/true);
  ExpectConverged({}, 0, "d");  // no enabled instance: an empty assignment
  Join("a", 6);
  Join("b", 6);
  ExpectConverged({"a", "b"}, 6, "d");
  EXPECT_TRUE(d.coordinator->LocalItems().empty());
  EXPECT_TRUE(d.coordinator->ClaimFire("f1").empty());
}

TEST_F(CoordinationTest, MalformedRegistryDataDoesNotStopTheCoordinators) {
  Member& a = Join("a", 4);
  Member& b = Join("b", 4, LoopMode::kOwn);
  ExpectConverged({"a", "b"}, 4, "a");
  std::vector<int> a_items = a.coordinator->LocalItems();
  // Another writer's assignment that is JSON but not ours: the coordinators survive it, and the
  // leader writes the right one back.
  const std::string malformed = R"({"total":4,"instances":{"a":"all","b":[0,"one"]}})";
  ASSERT_EQ(observer_->Set(JobPath() + "/assignment", malformed, registry::kAnyVersion, nullptr),
            Code::kOk);
  ASSERT_TRUE(WaitUntil([&] {
    std::string stored;
    return observer_->Get(JobPath() + "/assignment", &stored, nullptr, nullptr) == Code::kOk &&
           stored != malformed;
  }));
  ExpectConverged({"a", "b"}, 4, "a");
  EXPECT_FALSE(b.coordinator->LocalItems().empty());
  // So is a well-formed assignment that gives shards to an instance that is gone, and leaves
  // one out (T22: reconcile).
  WriteAssignment({{"a", {0, 1}}, {"gone", {2}}}, 4);
  ExpectConverged({"a", "b"}, 4, "a");
  EXPECT_EQ(a.coordinator->LocalItems(), a_items);
  // An instance node whose data is not ours either: it has not said it is disabled.
  ASSERT_EQ(observer_->Create(JobPath() + "/instances/x", R"({"disabled":"no"})",
                              NodeMode::kEphemeral, nullptr),
            Code::kOk);
  ASSERT_TRUE(WaitUntil([&] { return !ItemsIn(StoredAssignment(), "x").empty(); }));
  ASSERT_EQ(observer_->Delete(JobPath() + "/instances/x", registry::kAnyVersion), Code::kOk);
  ExpectConverged({"a", "b"}, 4, "a");
  EXPECT_EQ(a.coordinator->LocalItems(), a_items);
}

TEST_F(CoordinationTest, ACommittedFireIsNotClaimedAgain) {
  Member& a = Join("a", 3);
  ExpectConverged({"a"}, 3, "a");
  std::vector<Claim> claims = a.coordinator->ClaimFire("f1");
  ASSERT_EQ(ItemsOf(claims), Range(3));
  for (const Claim& claim : claims) {
    Json lease;
    ASSERT_EQ(LeaseOf(claim.item, &lease, nullptr), Code::kOk);
    EXPECT_EQ(lease["fire"], "f1");
    EXPECT_EQ(lease["instance"], "a");
    EXPECT_EQ(StateOf(claim.item)["claimed_fire"], "f1");
  }
  EXPECT_TRUE(a.coordinator->Commit("f1", Succeeded(claims)).fenced.empty());
  for (int item = 0; item < 3; ++item) {
    Json state = StateOf(item);
    EXPECT_EQ(state["committed_fire"], "f1");
    EXPECT_EQ(state["committed_by"], "a");
    EXPECT_EQ(LeaseOf(item, nullptr, nullptr), Code::kNoNode);
  }
  EXPECT_TRUE(a.coordinator->ClaimFire("f1").empty());  // G2
  // Nor by another coordinator that starts afresh, with nothing cached.
  Member& b = Join("b", 3);
  ExpectConverged({"a", "b"}, 3, "a");
  EXPECT_TRUE(b.coordinator->ClaimFire("f1", Range(3)).empty());
  // The next fire is claimed as usual.
  EXPECT_EQ(ItemsOf(a.coordinator->ClaimFire("f2", Range(3))), Range(3));
}

TEST_F(CoordinationTest, ASingleBalancedShardRotatesToTheNextInstanceAfterEachFire) {
  strategy_name_ = "SINGLE_SHARDING_BALANCE";
  Member& a = Join("a", 1);
  Member& b = Join("b", 1);
  Member& c = Join("c", 1);
  std::vector<Member*> members = {&a, &b, &c};
  auto owner = [&]() -> Member* {
    Member* found = nullptr;
    for (Member* member : members) {
      if (member->coordinator->LocalItems() == std::vector<int>{0}) {
        if (found != nullptr) return nullptr;  // two owners: not settled
        found = member;
      }
    }
    return found;
  };
  ExpectConverged({"a", "b", "c"}, 1, "a");
  Quiesce();  // every coordinator has seen every instance
  ASSERT_TRUE(WaitUntil([&] { return owner() != nullptr; }));
  std::vector<std::string> order;
  for (int fire = 0; fire < 4; ++fire) {
    Member* runner = owner();
    ASSERT_NE(runner, nullptr);
    order.push_back(runner->id);
    std::string fire_id = "f" + std::to_string(fire);
    std::vector<Claim> claims = runner->coordinator->ClaimFire(fire_id);
    ASSERT_EQ(ItemsOf(claims), std::vector<int>{0});
    ASSERT_TRUE(runner->coordinator->Commit(fire_id, Succeeded(claims)).fenced.empty());
    ASSERT_TRUE(WaitUntil([&] { return owner() != nullptr && owner() != runner; }));
  }
  // Each fire's runner hands the shard to the next instance in id order, wrapping around.
  for (std::size_t i = 1; i < order.size(); ++i) {
    std::string expected = order[i - 1] == "a" ? "b" : order[i - 1] == "b" ? "c" : "a";
    EXPECT_EQ(order[i], expected);
  }
}

// T21: a commit whose reply is lost (the session survives) is found committed on re-read, not
// reported as fenced, and the next fire is not blocked.
TEST_F(CoordinationTest, ACommitWhoseReplyIsLostIsFoundCommitted) {
  Member& a = Join("a", 2);
  ExpectConverged({"a"}, 2, "a");
  std::vector<Claim> claims = a.coordinator->ClaimFire("f1");
  ASSERT_EQ(ItemsOf(claims), Range(2));
  a.session->LoseNextMulti(RecordingRegistry::LostMulti::kReply);
  CommitResult result = a.coordinator->Commit("f1", Succeeded(claims));
  EXPECT_TRUE(result.fenced.empty());
  EXPECT_TRUE(result.unknown.empty());
  EXPECT_EQ(StateOf(0)["committed_fire"], "f1");
  EXPECT_EQ(StateOf(1)["committed_fire"], "f1");
  EXPECT_EQ(ItemsOf(a.coordinator->ClaimFire("f2")), Range(2));
}

// A commit whose request is lost is simply sent again: its guards make that safe.
TEST_F(CoordinationTest, ACommitWhoseRequestIsLostIsRetried) {
  Member& a = Join("a", 2);
  ExpectConverged({"a"}, 2, "a");
  std::vector<Claim> claims = a.coordinator->ClaimFire("f1");
  a.session->LoseNextMulti(RecordingRegistry::LostMulti::kRequest);
  CommitResult result = a.coordinator->Commit("f1", Succeeded(claims));
  EXPECT_TRUE(result.fenced.empty());
  EXPECT_TRUE(result.unknown.empty());
  EXPECT_EQ(StateOf(0)["committed_token"], claims[0].fencing_token);
}

// A claim whose reply is lost is adopted (its lease carries this claim's nonce and the state was
// written by the same transaction); one whose request is lost claims nothing, and the next fire
// claims as usual.
TEST_F(CoordinationTest, AClaimWithAnUnknownOutcomeIsAdoptedOrDropped) {
  Member& a = Join("a", 2);
  ExpectConverged({"a"}, 2, "a");
  a.session->LoseNextMulti(RecordingRegistry::LostMulti::kReply);
  std::vector<Claim> adopted = a.coordinator->ClaimFire("f1");
  ASSERT_EQ(ItemsOf(adopted), Range(2));
  Json lease;
  ASSERT_EQ(LeaseOf(0, &lease, nullptr), Code::kOk);
  EXPECT_EQ(lease["fire"], "f1");
  EXPECT_TRUE(a.coordinator->Commit("f1", Succeeded(adopted)).fenced.empty());
  EXPECT_EQ(StateOf(1)["committed_fire"], "f1");

  a.session->LoseNextMulti(RecordingRegistry::LostMulti::kRequest);
  EXPECT_TRUE(a.coordinator->ClaimFire("f2").empty());
  EXPECT_EQ(LeaseOf(0, nullptr, nullptr), Code::kNoNode);
  EXPECT_EQ(ItemsOf(a.coordinator->ClaimFire("f3")), Range(2));
}

// max_time_diff_seconds: an instance whose clock differs from the registry's by more than the
// limit refuses to start the job, and says by how much.
TEST_F(CoordinationTest, AClockTooFarFromTheRegistrysRefusesToStart) {
  // The loop outlives the store: a watch still being delivered may post to it.
  EventLoop loop;
  registry::EmbeddedStore store;
  auto session = store.OpenSession();
  config::JobConfig job;
  job.name = "clocked";
  job.sharding_total_count = 1;
  job.max_time_diff_seconds = 2;
  store.SetClockOffsetForTest(std::chrono::seconds(30));
  auto skewed = std::make_shared<JobCoordinator>(*session, loop, kRoot, job, strategy_, "x");
  try {
    skewed->Start();
    FAIL() << "a clock 30 s off must not start with a 2 s limit";
  } catch (const CoordinationError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("max_time_diff_seconds=2"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("clocked"));
  }
  store.SetClockOffsetForTest(std::chrono::milliseconds(500));
  auto close_enough = std::make_shared<JobCoordinator>(*session, loop, kRoot, job, strategy_, "y");
  EXPECT_NO_THROW(close_enough->Start());
  close_enough->Stop();
}

// G2 across fires: once a fire is committed on a shard, no earlier fire of the same family
// (scheduled instants; triggers) is claimed there again, whatever was committed in between.
TEST_F(CoordinationTest, AFireOlderThanTheLastCommittedOneIsNeverClaimed) {
  Member& a = Join("a", 1);
  ExpectConverged({"a"}, 1, "a");
  std::vector<Claim> claims = a.coordinator->ClaimFire("2000");
  ASSERT_TRUE(a.coordinator->Commit("2000", Succeeded(claims)).fenced.empty());
  claims = a.coordinator->ClaimFire("trigger-0000000005");
  ASSERT_TRUE(a.coordinator->Commit("trigger-0000000005", Succeeded(claims)).fenced.empty());
  EXPECT_TRUE(a.coordinator->ClaimFire("1000").empty());  // older than 2000
  EXPECT_TRUE(a.coordinator->ClaimFire("trigger-0000000003").empty());
  EXPECT_TRUE(a.coordinator->ClaimFire("2000").empty());
  EXPECT_EQ(ItemsOf(a.coordinator->ClaimFire("3000")), std::vector<int>{0});
}

// A queued failover of a fire the shard has moved past (a later fire claimed or committed) is
// dropped, not run a second time.
TEST_F(CoordinationTest, AFailoverClaimNeedsTheFireStillUnfinished) {
  Member& a = Join("a", 1);
  ExpectConverged({"a"}, 1, "a");
  const std::vector<int> item0 = {0};
  std::vector<Claim> claims = a.coordinator->ClaimFire("1000");
  a.coordinator->Release(claims);  // its runner stopped: 1000 is unfinished, no lease
  EXPECT_EQ(LeaseOf(0, nullptr, nullptr), Code::kNoNode);
  EXPECT_EQ(StateOf(0)["claimed_fire"], "1000");
  // While unfinished, a failover claim takes it...
  std::vector<Claim> failover = a.coordinator->ClaimFire("1000", item0, /*failover=*/true);
  ASSERT_EQ(ItemsOf(failover), item0);
  a.coordinator->Release(failover);
  // ...but not once a later fire superseded it.
  claims = a.coordinator->ClaimFire("2000");
  ASSERT_TRUE(a.coordinator->Commit("2000", Succeeded(claims)).fenced.empty());
  EXPECT_TRUE(a.coordinator->ClaimFire("1000", item0, /*failover=*/true).empty());
  // And a failover claim never takes a shard whose claim is a different fire.
  claims = a.coordinator->ClaimFire("3000");
  a.coordinator->Release(claims);
  EXPECT_TRUE(a.coordinator->ClaimFire("2500", item0, /*failover=*/true).empty());
}

// A released claim whose lease another runner took since is left alone.
TEST_F(CoordinationTest, ReleaseNeverDeletesAnotherRunnersLease) {
  Member& a = Join("a", 1, LoopMode::kOwn);
  Member& b = Join("b", 1, LoopMode::kOwn);
  ExpectConverged({"a", "b"}, 1, "a");
  const std::vector<int> item0 = {0};
  std::vector<Claim> first = a.coordinator->ClaimFire("1000", item0);
  ASSERT_EQ(ItemsOf(first), item0);
  ASSERT_EQ(observer_->Delete(JobPath() + "/shards/0/lease", registry::kAnyVersion), Code::kOk);
  std::vector<Claim> second = b.coordinator->ClaimFire("1000", item0, /*failover=*/true);
  ASSERT_EQ(ItemsOf(second), item0);
  a.coordinator->Release(first);
  Json lease;
  ASSERT_EQ(LeaseOf(0, &lease, nullptr), Code::kOk);
  EXPECT_EQ(lease["instance"], "b");
  EXPECT_TRUE(b.coordinator->Commit("1000", Succeeded(second)).fenced.empty());
}

// An instance disabled by a config change at run time leaves the assignment at once.
TEST_F(CoordinationTest, DisablingAnInstanceAtRunTimeMovesItsItems) {
  Member& a = Join("a", 4);
  Member& b = Join("b", 4);
  ExpectConverged({"a", "b"}, 4, "a");
  config::JobConfig job;
  job.name = "job";
  job.sharding_total_count = 4;
  job.disabled = true;
  b.coordinator->UpdateConfig(job, strategy_);
  // Each member reads the new assignment on its own watch: wait for both.
  EXPECT_TRUE(WaitUntil([&] {
    return a.coordinator->LocalItems() == Range(4) && b.coordinator->LocalItems().empty();
  }));
}

TEST_F(CoordinationTest, AnUncommittedLeaseOfThisInstanceIsReleasedNotSkipped) {
  Member& a = Join("a", 2);
  ExpectConverged({"a"}, 2, "a");
  std::vector<Claim> lost = a.coordinator->ClaimFire("f1");
  ASSERT_EQ(ItemsOf(lost), Range(2));
  // f1's commit never happens (its outcome was lost): the leases stay with this session. The
  // next fire must still run both shards, with larger tokens.
  std::vector<Claim> next = a.coordinator->ClaimFire("f2");
  ASSERT_EQ(ItemsOf(next), Range(2));
  EXPECT_GT(next[0].fencing_token, lost[0].fencing_token);
  EXPECT_TRUE(a.coordinator->Commit("f2", Succeeded(next)).fenced.empty());
  // f1's runner, had it survived, is fenced.
  EXPECT_EQ(a.coordinator->Commit("f1", Succeeded(lost)).fenced.size(), 2u);
  EXPECT_EQ(StateOf(0)["committed_fire"], "f2");
}

TEST_F(CoordinationTest, OfTwoClaimersOfOneItemExactlyOneWins) {
  Member& a = Join("a", 1, LoopMode::kOwn);
  Member& b = Join("b", 1, LoopMode::kOwn);
  ExpectConverged({"a", "b"}, 1, "a");
  // Both claim item 0, as with a stale assignment during a reshard, or two failover claimers.
  const std::vector<int> item0 = {0};
  std::map<std::string, int> wins;
  std::vector<std::int64_t> tokens;
  for (int fire = 0; fire < 30; ++fire) {
    std::string fire_id = "f" + std::to_string(fire);
    std::latch start(2);
    std::vector<Claim> a_claims;
    std::vector<Claim> b_claims;
    auto claim_a = [&] {
      start.arrive_and_wait();
      a_claims = a.coordinator->ClaimFire(fire_id, item0);
    };
    auto claim_b = [&] {
      start.arrive_and_wait();
      b_claims = b.coordinator->ClaimFire(fire_id, item0);
    };
    // Alternate who starts first, so that each side wins some of the races.
    std::thread first(fire % 2 == 0 ? std::function<void()>(claim_a) : claim_b);
    std::thread second(fire % 2 == 0 ? std::function<void()>(claim_b) : claim_a);
    first.join();
    second.join();
    ASSERT_EQ(a_claims.size() + b_claims.size(), 1u) << fire_id;
    Member& winner = a_claims.empty() ? b : a;
    Member& loser = a_claims.empty() ? a : b;
    const Claim& claim = a_claims.empty() ? b_claims[0] : a_claims[0];
    ++wins[winner.id];
    Json lease;
    ASSERT_EQ(LeaseOf(0, &lease, nullptr), Code::kOk);
    EXPECT_EQ(lease["instance"], winner.id);
    // While the winner runs, the loser gets nothing; once committed, nobody does.
    EXPECT_TRUE(loser.coordinator->ClaimFire(fire_id, item0).empty());
    EXPECT_TRUE(winner.coordinator->Commit(fire_id, {TaskOutcome{claim, true}}).fenced.empty());
    EXPECT_TRUE(loser.coordinator->ClaimFire(fire_id, item0).empty());
    EXPECT_TRUE(winner.coordinator->ClaimFire(fire_id, item0).empty());
    Json state = StateOf(0);
    EXPECT_EQ(state["committed_fire"], fire_id);
    EXPECT_EQ(state["committed_by"], winner.id);
    EXPECT_EQ(state["committed_token"], claim.fencing_token);
    if (!tokens.empty()) {
      EXPECT_GT(claim.fencing_token, tokens.back());
    }
    tokens.push_back(claim.fencing_token);
  }
  std::printf("claim races won: a %d, b %d\n", wins["a"], wins["b"]);
}

TEST_F(CoordinationTest, ARunnerWhoseSessionExpiredIsFenced) {
  Member& a = Join("a", 1, LoopMode::kOwn);
  Member& b = Join("b", 1, LoopMode::kOwn);
  ExpectConverged({"a", "b"}, 1, "a");
  Member& holder = a.coordinator->LocalItems().empty() ? b : a;
  Member& other = a.coordinator->LocalItems().empty() ? a : b;
  std::vector<Claim> first = holder.coordinator->ClaimFire("f1");
  ASSERT_EQ(ItemsOf(first), std::vector<int>{0});

  LeaveAs(holder, Leave::kExpire);
  ExpectConverged({other.id}, 1, other.id);
  EXPECT_EQ(LeaseOf(0, nullptr, nullptr), Code::kNoNode);  // the lease went with the session
  std::vector<Claim> second = other.coordinator->ClaimFire("f1");
  ASSERT_EQ(ItemsOf(second), std::vector<int>{0});
  EXPECT_GT(second[0].fencing_token, first[0].fencing_token);

  // The zombie's commit is refused, whether it comes before or after the new runner's.
  EXPECT_EQ(holder.coordinator->Commit("f1", Succeeded(first)).fenced, std::vector<int>{0});
  EXPECT_TRUE(other.coordinator->Commit("f1", Succeeded(second)).fenced.empty());
  EXPECT_EQ(holder.coordinator->Commit("f1", Succeeded(first)).fenced, std::vector<int>{0});
  Json state = StateOf(0);
  EXPECT_EQ(state["committed_fire"], "f1");
  EXPECT_EQ(state["committed_by"], other.id);
  EXPECT_EQ(state["committed_token"], second[0].fencing_token);
  EXPECT_TRUE(other.coordinator->ClaimFire("f1").empty());
}

TEST_F(CoordinationTest, ACommitIsRefusedOnceTheLeaseOrTheStateVersionIsLost) {
  Member& a = Join("a", 2);
  Member& b = Join("b", 2);
  ExpectConverged({"a", "b"}, 2, "a");
  // a claims both items, b item 1: as with a stale assignment during a reshard.
  const std::vector<int> both = {0, 1};
  const std::vector<int> item1 = {1};

  // The lease of item 1 is lost before anyone re-claims: only the missing lease refuses.
  std::vector<Claim> claims = a.coordinator->ClaimFire("f1", both);
  ASSERT_EQ(ItemsOf(claims), (std::vector<int>{0, 1}));
  ASSERT_EQ(observer_->Delete(JobPath() + "/shards/1/lease", registry::kAnyVersion), Code::kOk);
  EXPECT_EQ(a.coordinator->Commit("f1", Succeeded(claims)).fenced, std::vector<int>{1});
  EXPECT_EQ(StateOf(0)["committed_fire"], "f1");
  EXPECT_NE(StateOf(1).value("committed_fire", ""), "f1");
  EXPECT_EQ(StateOf(1)["claimed_fire"], "f1");

  // Lost again, and re-claimed by b: now only the state's version refuses a's commit.
  claims = a.coordinator->ClaimFire("f2", both);
  ASSERT_EQ(ItemsOf(claims), (std::vector<int>{0, 1}));
  ASSERT_EQ(observer_->Delete(JobPath() + "/shards/1/lease", registry::kAnyVersion), Code::kOk);
  std::vector<Claim> taken = b.coordinator->ClaimFire("f2", item1);
  ASSERT_EQ(ItemsOf(taken), std::vector<int>{1});
  EXPECT_EQ(a.coordinator->Commit("f2", Succeeded(claims)).fenced, std::vector<int>{1});
  Json lease;
  ASSERT_EQ(LeaseOf(1, &lease, nullptr), Code::kOk);  // a's commit left b's lease alone
  EXPECT_EQ(lease["instance"], "b");
  EXPECT_TRUE(b.coordinator->Commit("f2", Succeeded(taken)).fenced.empty());
  EXPECT_EQ(StateOf(0)["committed_by"], "a");
  EXPECT_EQ(StateOf(1)["committed_by"], "b");
  EXPECT_EQ(StateOf(1)["committed_token"], taken[0].fencing_token);
}

TEST_F(CoordinationTest, TokensIncreaseStrictlyAndAreTheClaimsZxid) {
  Member& a = Join("a", 3);
  ExpectConverged({"a"}, 3, "a");
  std::map<int, std::int64_t> last;
  std::set<std::string> nonces;
  for (int fire = 0; fire < 10; ++fire) {
    std::string fire_id = "f" + std::to_string(fire);
    std::vector<Claim> claims = a.coordinator->ClaimFire(fire_id);
    ASSERT_EQ(ItemsOf(claims), Range(3));
    for (const Claim& claim : claims) {
      registry::Stat lease_stat;
      registry::Stat state_stat;
      Json lease;
      ASSERT_EQ(LeaseOf(claim.item, &lease, &lease_stat), Code::kOk);
      StateOf(claim.item, &state_stat);
      EXPECT_EQ(claim.fencing_token, lease_stat.czxid);
      EXPECT_EQ(claim.fencing_token, state_stat.mzxid);
      EXPECT_EQ(claim.state_version, state_stat.version);
      EXPECT_EQ(lease_stat.ephemeral_owner, a.session->SessionId());
      EXPECT_EQ(lease["fire"], fire_id);
      EXPECT_TRUE(nonces.insert(lease["nonce"].get<std::string>()).second);
      if (last.count(claim.item) != 0) {
        EXPECT_GT(claim.fencing_token, last[claim.item]);
      }
      last[claim.item] = claim.fencing_token;
    }
    // Failed tasks are committed too: the fire is done, not lost.
    std::vector<TaskOutcome> outcomes = Succeeded(claims);
    outcomes[0].success = fire % 2 == 0;
    ASSERT_TRUE(a.coordinator->Commit(fire_id, outcomes).fenced.empty());
  }
}

TEST_F(CoordinationTest, AFireCostsTwoRequestsPerInstanceWhateverTheShardCount) {
  for (int total : {1, 4, 64}) {
    std::string job = "requests-" + std::to_string(total);
    Join("a-" + std::to_string(total), total, LoopMode::kShared, false, job);
    Member& member = *members_.back();
    ASSERT_TRUE(WaitUntil([&] { return member.coordinator->LocalItems() == Range(total); }));
    // Warm-up: the first fire reads the shards' states.
    std::vector<Claim> claims = member.coordinator->ClaimFire("warm-up");
    ASSERT_EQ(static_cast<int>(claims.size()), total);
    ASSERT_TRUE(member.coordinator->Commit("warm-up", Succeeded(claims)).fenced.empty());
    Quiesce();
    for (int fire = 0; fire < 3; ++fire) {
      std::string fire_id = "steady-" + std::to_string(fire);
      std::uint64_t before = member.session->RequestCount();
      claims = member.coordinator->ClaimFire(fire_id);
      ASSERT_EQ(static_cast<int>(claims.size()), total);
      ASSERT_TRUE(member.coordinator->Commit(fire_id, Succeeded(claims)).fenced.empty());
      std::uint64_t requests = member.session->RequestCount() - before;
      if (fire == 0) {
        std::printf("registry requests per fire per instance with %2d item(s): %llu\n", total,
                    static_cast<unsigned long long>(requests));
      }
      EXPECT_EQ(requests, 2u) << total << " items";
    }
  }
  // Three instances sharing 64 items: two each.
  for (const char* id : {"x", "y", "z"}) Join(id, 64, LoopMode::kShared, false, "shared-64");
  ExpectConverged({"x", "y", "z"}, 64, "x", "shared-64");
  for (const std::string fire_id : {"warm-up", "steady"}) {
    for (auto& member : members_) {
      if (member->job != "shared-64") continue;
      std::uint64_t before = member->session->RequestCount();
      std::vector<Claim> claims = member->coordinator->ClaimFire(fire_id);
      ASSERT_FALSE(claims.empty());
      ASSERT_TRUE(member->coordinator->Commit(fire_id, Succeeded(claims)).fenced.empty());
      if (fire_id == "steady") {
        EXPECT_EQ(member->session->RequestCount() - before, 2u) << member->id;
      }
    }
  }
}

}  // namespace
}  // namespace shardjob::coordination

namespace shardjob::coordination {
namespace {

// Checkpoints are guarded writes of the shard's state: each moves the claim's guard on, and the
// commit that follows is guarded by the last one.
TEST_F(CoordinationTest, ACheckpointMovesTheClaimsGuardAndTheCommitStillLands) {
  Member& a = Join("a", 1);
  ExpectConverged({"a"}, 1, "a");
  std::vector<Claim> claims = a.coordinator->ClaimFire("1000");
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_FALSE(claims[0].checkpoint);  // a new fire starts with nothing to resume
  const std::int32_t claimed_version = claims[0].state_version;
  ASSERT_EQ(a.coordinator->SaveCheckpoint("1000", &claims[0], "row=10"), CheckpointResult::kSaved);
  ASSERT_EQ(a.coordinator->SaveCheckpoint("1000", &claims[0], "row=20"), CheckpointResult::kSaved);
  EXPECT_EQ(claims[0].state_version, claimed_version + 2);
  EXPECT_EQ(StateOf(0)["checkpoint"]["record"], "row=20");
  EXPECT_EQ(StateOf(0)["checkpoint"]["fire"], "1000");
  ASSERT_TRUE(a.coordinator->Commit("1000", Succeeded(claims)).fenced.empty());
  EXPECT_EQ(StateOf(0)["committed_fire"], "1000");
  EXPECT_FALSE(StateOf(0).contains("checkpoint"));  // the task is done: nothing to resume
}

// The "resume from the break point": the runner dies after saving; whoever fails the shard over
// starts from the last record, and the old runner can neither save nor commit any more.
TEST_F(CoordinationTest, AFailoverResumesFromTheLastCheckpointAndTheOldRunnerIsFenced) {
  Member& a = Join("a", 1, LoopMode::kOwn);
  Member& b = Join("b", 1, LoopMode::kOwn);
  ExpectConverged({"a", "b"}, 1, "a");
  const std::vector<int> item0 = {0};
  std::vector<Claim> first = a.coordinator->ClaimFire("1000", item0);
  ASSERT_EQ(ItemsOf(first), item0);
  ASSERT_EQ(a.coordinator->SaveCheckpoint("1000", &first[0], "row=42"), CheckpointResult::kSaved);
  // The runner's session ends (its lease goes); b takes the unfinished fire over.
  ASSERT_EQ(observer_->Delete(JobPath() + "/shards/0/lease", registry::kAnyVersion), Code::kOk);
  std::vector<Claim> second = b.coordinator->ClaimFire("1000", item0, /*failover=*/true);
  ASSERT_EQ(ItemsOf(second), item0);
  ASSERT_TRUE(second[0].checkpoint);
  EXPECT_EQ(*second[0].checkpoint, "row=42");
  // The zombie's next save and its commit are refused by the guard b's claim moved on.
  EXPECT_EQ(a.coordinator->SaveCheckpoint("1000", &first[0], "row=43"), CheckpointResult::kFenced);
  EXPECT_EQ(StateOf(0)["checkpoint"]["record"], "row=42");
  EXPECT_EQ(a.coordinator->Commit("1000", Succeeded(first)).fenced, item0);
  ASSERT_EQ(b.coordinator->SaveCheckpoint("1000", &second[0], "row=50"), CheckpointResult::kSaved);
  EXPECT_TRUE(b.coordinator->Commit("1000", Succeeded(second)).fenced.empty());
}

// A record belongs to its fire: the next fire of the shard starts from scratch.
TEST_F(CoordinationTest, ACheckpointOfAnotherFireIsNotResumed) {
  Member& a = Join("a", 1);
  ExpectConverged({"a"}, 1, "a");
  std::vector<Claim> claims = a.coordinator->ClaimFire("1000");
  ASSERT_EQ(claims.size(), 1u);
  ASSERT_EQ(a.coordinator->SaveCheckpoint("1000", &claims[0], "half"), CheckpointResult::kSaved);
  a.coordinator->Release(claims);  // stopped before the end: 1000 stays unfinished
  std::vector<Claim> later = a.coordinator->ClaimFire("2000");
  ASSERT_EQ(later.size(), 1u);
  EXPECT_FALSE(later[0].checkpoint);
  EXPECT_FALSE(StateOf(0).contains("checkpoint"));
}

// A save whose reply is lost is found to have landed (the state is exactly what it wrote), and
// the claim's guard follows it, so the commit is not fenced.
TEST_F(CoordinationTest, ACheckpointWhoseReplyIsLostIsRecognised) {
  Member& a = Join("a", 1);
  ExpectConverged({"a"}, 1, "a");
  std::vector<Claim> claims = a.coordinator->ClaimFire("1000");
  ASSERT_EQ(claims.size(), 1u);
  a.session->LoseNextSet(RecordingRegistry::LostMulti::kReply);
  ASSERT_EQ(a.coordinator->SaveCheckpoint("1000", &claims[0], "row=7"), CheckpointResult::kSaved);
  a.session->LoseNextSet(RecordingRegistry::LostMulti::kRequest);
  EXPECT_EQ(a.coordinator->SaveCheckpoint("1000", &claims[0], "row=8"), CheckpointResult::kUnknown);
  EXPECT_EQ(StateOf(0)["checkpoint"]["record"], "row=7");
  EXPECT_TRUE(a.coordinator->Commit("1000", Succeeded(claims)).fenced.empty());
}

// A save whose reply and the read after it are both lost stays unknown; once the state can be
// read, the next save (or the commit) finds that it had landed and follows its version, so the
// claim is not taken for fenced.
TEST_F(CoordinationTest, ACheckpointWhoseOutcomeStayedUnknownIsSettledByTheNextSave) {
  Member& a = Join("a", 1);
  ExpectConverged({"a"}, 1, "a");
  std::vector<Claim> claims = a.coordinator->ClaimFire("1000");
  ASSERT_EQ(claims.size(), 1u);
  a.session->LoseNextSet(RecordingRegistry::LostMulti::kReply);
  a.session->LoseGets(1000);  // more than the bounded re-read tries
  EXPECT_EQ(a.coordinator->SaveCheckpoint("1000", &claims[0], "row=7"), CheckpointResult::kUnknown);
  a.session->LoseGets(0);
  EXPECT_EQ(StateOf(0)["checkpoint"]["record"], "row=7");  // it had landed
  ASSERT_EQ(a.coordinator->SaveCheckpoint("1000", &claims[0], "row=8"), CheckpointResult::kSaved);
  EXPECT_TRUE(a.coordinator->Commit("1000", Succeeded(claims)).fenced.empty());

  // The same, settled by the commit.
  claims = a.coordinator->ClaimFire("2000");
  ASSERT_EQ(claims.size(), 1u);
  a.session->LoseNextSet(RecordingRegistry::LostMulti::kReply);
  a.session->LoseGets(1000);
  EXPECT_EQ(a.coordinator->SaveCheckpoint("2000", &claims[0], "row=1"), CheckpointResult::kUnknown);
  a.session->LoseGets(0);
  CommitResult committed = a.coordinator->Commit("2000", Succeeded(claims));
  EXPECT_TRUE(committed.fenced.empty());
  EXPECT_TRUE(committed.unknown.empty());
  EXPECT_EQ(StateOf(0)["committed_fire"], "2000");

  // And by the release of a task that stopped: its lease is deleted, not left behind.
  claims = a.coordinator->ClaimFire("3000");
  ASSERT_EQ(claims.size(), 1u);
  a.session->LoseNextSet(RecordingRegistry::LostMulti::kReply);
  a.session->LoseGets(1000);
  EXPECT_EQ(a.coordinator->SaveCheckpoint("3000", &claims[0], "row=2"),
            CheckpointResult::kUnknown);
  a.session->LoseGets(0);
  a.coordinator->Release(claims);
  EXPECT_EQ(LeaseOf(0, nullptr, nullptr), Code::kNoNode);
}

}  // namespace
}  // namespace shardjob::coordination

namespace shardjob::coordination {
namespace {

// The API's delete can remove a job's whole folder between an instance reading the job's config
// and its coordinator registering (no instance was registered yet, so nothing waited for one).
// A coordinator told its config was in the registry treats the missing config as a deletion.
TEST_F(CoordinationTest, AJobDeletedBeforeItsCoordinatorStartedIsReportedDeleted) {
  auto session = std::make_unique<RecordingRegistry>(store_.OpenSession());
  ItemChanges changes;
  config::JobConfig job;
  job.name = "job";
  job.sharding_total_count = 2;
  job.sharding_strategy = strategy_name_;
  CoordinatorOptions options;
  options.config_in_registry = true;  // read from there a moment ago; gone since
  auto coordinator = std::make_shared<JobCoordinator>(*session, *shared_loop_, kRoot, job,
                                                      strategy_, "late", &changes, options);
  coordinator->Start();
  EXPECT_EQ(changes.configs_deleted(), 1);
  EXPECT_TRUE(coordinator->ConfigWasDeleted());
  coordinator->Stop();

  // Without that knowledge a missing config is a job that has none yet: it runs.
  auto unaware_session = std::make_unique<RecordingRegistry>(store_.OpenSession());
  ItemChanges unaware_changes;
  auto unaware = std::make_shared<JobCoordinator>(*unaware_session, *shared_loop_, kRoot, job,
                                                  strategy_, "unaware", &unaware_changes);
  unaware->Start();
  EXPECT_TRUE(WaitUntil([&] { return unaware_changes.held().size() == 2; }));
  EXPECT_EQ(unaware_changes.configs_deleted(), 0);
  EXPECT_FALSE(unaware->ConfigWasDeleted());
  unaware->Stop();
  coordinator.reset();
  unaware.reset();
  DrainLoops();
}

}  // namespace
}  // namespace shardjob::coordination
