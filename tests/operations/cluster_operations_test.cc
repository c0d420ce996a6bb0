// ClusterOperations against the embedded store and a real ZooKeeper server: every operation, the
// statuses it reports, what it writes (read back as the instances read it), and what it refuses.

#include "operations/cluster_operations.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/job_config_json.h"
#include "operations/instance_commands.h"
#include "registry/embedded_registry.h"
#include "registry/registry.h"
#include "registry/zookeeper_registry.h"
#include "support/zookeeper_server.h"

namespace shardjob::operations {
namespace {

using Json = nlohmann::json;
using Kind = OperationError::Kind;
using registry::Code;
using registry::NodeMode;
using shardjob::testing::ZookeeperServer;

enum class Backend { kEmbedded, kZookeeper };

// One ZooKeeper server for the whole binary, started on first use.
std::unique_ptr<ZookeeperServer>& SharedServerSlot() {
  static std::unique_ptr<ZookeeperServer> server;
  return server;
}

class SharedServerEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { SharedServerSlot().reset(); }
};
[[maybe_unused]] ::testing::Environment* const kSharedServerEnvironment =
    ::testing::AddGlobalTestEnvironment(new SharedServerEnvironment);

// The kind of the OperationError `action` throws, and its message in *message.
template <typename Action>
std::optional<Kind> KindOf(Action action, std::string* message = nullptr) {
  try {
    action();
  } catch (const OperationError& e) {
    if (message != nullptr) *message = e.what();
    return e.kind();
  }
  return std::nullopt;
}

Json CronJob(const std::string& name, int shards = 3) {
  return {{"name", name},
          {"type", "SCRIPT"},
          {"cron", "0/5 * * * * ?"},
          {"time_zone", "UTC"},
          {"sharding_total_count", shards},
          {"description", "copies orders"},
          {"props", {{"script.command_line", "true"}}}};
}

class OperationsTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '_');
    root_ = "/ops-" + std::to_string(counter++) + "-" + name;
    if (GetParam() == Backend::kEmbedded) store_ = std::make_unique<registry::EmbeddedStore>();
    registry_ = OpenSession();
    ASSERT_NE(registry_, nullptr);
    ASSERT_EQ(registry::EnsurePath(*registry_, root_), Code::kOk);
    ops_ = std::make_unique<ClusterOperations>(*registry_, root_);
  }

  std::unique_ptr<registry::Registry> OpenSession() {
    if (store_) return store_->OpenSession();
    auto& server = SharedServerSlot();
    if (!server) server = std::make_unique<ZookeeperServer>();
    registry::ZookeeperOptions options;
    options.connect_string = server->connect_string();
    options.session_timeout = std::chrono::milliseconds(4000);
    options.connect_timeout = std::chrono::seconds(10);
    options.logger = [](registry::ZookeeperLogLevel, const std::string&) {};
    std::string error;
    std::unique_ptr<registry::Registry> session =
        registry::ZookeeperRegistry::Connect(options, &error);
    EXPECT_NE(session, nullptr) << error;
    return session;
  }

  std::string JobPath(const std::string& job) const { return root_ + "/jobs/" + job; }

  // `id` joins `job` as a coordinator does: an ephemeral node on a session of its own.
  void Register(const std::string& job, const std::string& id, bool disabled = false) {
    ASSERT_EQ(registry::EnsurePath(*registry_, JobPath(job) + "/instances"), Code::kOk);
    Json data = {{"pid", 42}, {"disabled", disabled}, {"label", "blue"}};
    ASSERT_EQ(Instance(id).Create(JobPath(job) + "/instances/" + id, data.dump(),
                                  NodeMode::kEphemeral, nullptr),
              Code::kOk);
  }

  // The process node of `id`, as a live instance writes it.
  void StartProcess(const std::string& id) {
    ASSERT_EQ(registry::EnsurePath(*registry_, root_ + "/instances"), Code::kOk);
    ProcessInfo info;
    info.host = "host-" + id;
    info.ip = "10.0.0.1";
    info.pid = 77;
    info.labels = {"red"};
    info.version = "1.2.3";
    info.http = "127.0.0.1:8899";
    info.started_ms = 1234;
    ASSERT_EQ(Instance(id).Create(ProcessNodePath(root_, id), FormatProcessInfo(info),
                                  NodeMode::kEphemeral, nullptr),
              Code::kOk);
  }

  registry::Registry& Instance(const std::string& id) {
    for (auto& [name, session] : instances_) {
      if (name == id) return *session;
    }
    instances_.emplace_back(id, OpenSession());
    return *instances_.back().second;
  }

  std::string Read(const std::string& path, registry::Stat* stat = nullptr) {
    std::string data;
    EXPECT_EQ(registry_->Get(path, &data, stat, nullptr), Code::kOk) << path;
    return data;
  }
  bool Exists(const std::string& path) {
    return registry_->Exists(path, nullptr, nullptr) == Code::kOk;
  }
  void Write(const std::string& path, const std::string& data) {
    ASSERT_EQ(registry::EnsurePath(*registry_, path), Code::kOk);
    ASSERT_EQ(registry_->Set(path, data, registry::kAnyVersion, nullptr), Code::kOk);
  }
  std::string Status(const std::string& job) { return ops_->GetJob(job)["status"]; }

  std::string root_;
  std::unique_ptr<registry::EmbeddedStore> store_;
  std::unique_ptr<registry::Registry> registry_;
  std::vector<std::pair<std::string, std::unique_ptr<registry::Registry>>> instances_;
  std::unique_ptr<ClusterOperations> ops_;
};

// What only the embedded store makes cheap or possible: thousands of nodes, a forced expiry.
class EmbeddedOperationsTest : public OperationsTest {};

TEST_P(OperationsTest, CreateThenGetRoundTrips) {
  Json config = CronJob("orders");
  // A literal '$' from the API stays literal: the server's environment is never substituted.
  config["description"] = "costs $5 ${HOME}";
  Json created = ops_->CreateJob(config);
  Json job = ops_->GetJob("orders");
  EXPECT_EQ(created, job);
  EXPECT_EQ(job["name"], "orders");
  EXPECT_EQ(job["status"], "CRASHED");  // no instance yet
  EXPECT_EQ(job["shard_count"], 3);
  EXPECT_EQ(job["instances"], 0);
  EXPECT_EQ(job["leader"], nullptr);
  EXPECT_EQ(job["executor"], "SCRIPT");
  EXPECT_EQ(job["description"], "costs $5 ${HOME}");
  EXPECT_EQ(job["config"]["description"], "costs $5 ${HOME}");
  EXPECT_EQ(job["config"]["cron"], "0/5 * * * * ?");
  EXPECT_EQ(job["config"]["sharding_total_count"], 3);
  EXPECT_EQ(job["config"]["props"]["script.command_line"], "true");
  EXPECT_EQ(job["config_version"], 0);
  EXPECT_EQ(job["schedule"], "cron 0/5 * * * * ? (UTC)");
  EXPECT_EQ(job["running_shards"], 0);
  std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  std::int64_t next_ms = job["next_fire_ms"];
  EXPECT_GT(next_ms, now_ms - 1000);
  EXPECT_LE(next_ms, now_ms + 5000);
  EXPECT_EQ(next_ms % 5000, 0);
  std::string next = job["next_fire"];
  EXPECT_EQ(next.size(), 20u);
  EXPECT_EQ(next.back(), 'Z');

  // Stored normalised, as an instance reads it.
  std::string stored = Read(JobPath("orders") + "/config");
  config::JobConfig parsed = config::JobConfigFromJson(stored, "test");
  EXPECT_EQ(stored, config::JobConfigToJson(parsed));
  EXPECT_EQ(parsed.description, "costs $5 ${HOME}");
  EXPECT_EQ(parsed.sharding_total_count, 3);

  // The config shown is accepted back unchanged.
  Json updated = ops_->UpdateJob("orders", job["config"], 0);
  EXPECT_EQ(updated["config"], job["config"]);
  EXPECT_EQ(updated["config_version"], 1);
}

TEST_P(OperationsTest, FixedRateAndTriggerOnlyJobsHaveNoNextFire) {
  ops_->CreateJob({{"name", "rate"}, {"type", "SCRIPT"}, {"fixed_rate", "5s"}});
  ops_->CreateJob({{"name", "manual"}, {"type", "SCRIPT"}});
  Json rate = ops_->GetJob("rate");
  EXPECT_EQ(rate["schedule"], "fixed_rate 5000ms");
  EXPECT_EQ(rate["next_fire"], nullptr);
  EXPECT_EQ(rate["next_fire_ms"], nullptr);
  Json manual = ops_->GetJob("manual");
  EXPECT_EQ(manual["schedule"], nullptr);
  EXPECT_EQ(manual["next_fire"], nullptr);
}

TEST_P(OperationsTest, InvalidConfigsAreRefusedNamingTheKey) {
  std::string message;
  Json unknown = CronJob("orders");
  unknown["shardng_total_count"] = 2;
  EXPECT_EQ(KindOf([&] { ops_->CreateJob(unknown); }, &message), Kind::kInvalid);
  EXPECT_NE(message.find("shardng_total_count"), std::string::npos) << message;
  EXPECT_NE(message.find("sharding_total_count"), std::string::npos) << message;  // suggestion
  // Without the line and column of a document the client never saw.
  EXPECT_EQ(message.rfind("config of job 'orders': shardng_total_count: unknown key", 0), 0u)
      << message;

  Json bad_cron = CronJob("orders");
  bad_cron["cron"] = "0 0 25 * * ?";
  EXPECT_EQ(KindOf([&] { ops_->CreateJob(bad_cron); }, &message), Kind::kInvalid);
  EXPECT_NE(message.find("cron"), std::string::npos) << message;
  EXPECT_NE(message.find("25"), std::string::npos) << message;

  Json bad_count = CronJob("orders");
  bad_count["sharding_total_count"] = "many";
  EXPECT_EQ(KindOf([&] { ops_->CreateJob(bad_count); }, &message), Kind::kInvalid);
  EXPECT_NE(message.find("sharding_total_count"), std::string::npos) << message;

  Json not_utf8 = CronJob("orders");
  not_utf8["description"] = "\xff";
  EXPECT_EQ(KindOf([&] { ops_->CreateJob(not_utf8); }), Kind::kInvalid);

  EXPECT_EQ(KindOf([&] { ops_->CreateJob(Json::array({1, 2})); }), Kind::kInvalid);
  EXPECT_EQ(KindOf([&] { ops_->CreateJob({{"type", "SCRIPT"}}); }, &message), Kind::kInvalid);
  EXPECT_NE(message.find("name"), std::string::npos) << message;
  EXPECT_FALSE(Exists(root_ + "/jobs/orders"));

  // The job check runs after the config's own rules.
  ClusterOperations checked(*registry_, root_, [](const config::JobConfig& job) {
    return job.executor_type == "SCRIPT"
               ? std::vector<std::string>{}
               : std::vector<std::string>{"no executor type '" + job.executor_type + "'"};
  });
  Json unknown_type = CronJob("orders");
  unknown_type["type"] = "NOPE";
  EXPECT_EQ(KindOf([&] { checked.CreateJob(unknown_type); }, &message), Kind::kInvalid);
  EXPECT_NE(message.find("no executor type 'NOPE'"), std::string::npos) << message;
  EXPECT_FALSE(Exists(root_ + "/jobs/orders/config"));
  checked.CreateJob(CronJob("orders"));
  EXPECT_EQ(KindOf([&] { checked.UpdateJob("orders", unknown_type); }), Kind::kInvalid);
  EXPECT_EQ(Read(JobPath("orders") + "/config").find("NOPE"), std::string::npos);
}

TEST_P(OperationsTest, AStoredConfigThatDoesNotValidateIsStillListed) {
  ops_->CreateJob(CronJob("good"));
  Write(JobPath("bad") + "/config", R"({"name":"bad","type":"SCRIPT","cron":"nope"})");
  Json jobs = ops_->ListJobs();
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0]["name"], "bad");
  EXPECT_EQ(jobs[0]["status"], "CRASHED");
  ASSERT_TRUE(jobs[0].contains("config_error"));
  EXPECT_NE(jobs[0]["config_error"].get<std::string>().find("cron"), std::string::npos);
  EXPECT_EQ(jobs[1]["name"], "good");
  EXPECT_FALSE(jobs[1].contains("config_error"));
  EXPECT_EQ(ops_->GetJob("bad")["config"]["cron"], "nope");
  EXPECT_EQ(KindOf([&] { ops_->SetShardDisabled("bad", 0, true); }), Kind::kInvalid);
  EXPECT_EQ(KindOf([&] { ops_->ListShards("bad"); }), Kind::kInvalid);
  // Disabling it needs no validation: only the flag changes.
  ops_->SetJobDisabled("bad", true);
  EXPECT_EQ(ops_->GetJob("bad")["disabled"], true);
  EXPECT_EQ(ops_->GetJob("bad")["config"]["cron"], "nope");
}

TEST_P(OperationsTest, DuplicateCreateConflicts) {
  ops_->CreateJob(CronJob("orders"));
  Json other = CronJob("orders", 7);
  EXPECT_EQ(KindOf([&] { ops_->CreateJob(other); }), Kind::kConflict);
  EXPECT_EQ(ops_->GetJob("orders")["shard_count"], 3);
}

TEST_P(OperationsTest, UpdateGuardsTheVersion) {
  ops_->CreateJob(CronJob("orders"));
  Json first = ops_->UpdateJob("orders", CronJob("orders", 4), 0);
  EXPECT_EQ(first["config_version"], 1);
  EXPECT_EQ(first["shard_count"], 4);
  // A writer that read version 0 is refused, and changes nothing.
  EXPECT_EQ(KindOf([&] { ops_->UpdateJob("orders", CronJob("orders", 9), 0); }), Kind::kConflict);
  EXPECT_EQ(ops_->GetJob("orders")["shard_count"], 4);
  // Without a version, last writer wins.
  EXPECT_EQ(ops_->UpdateJob("orders", CronJob("orders", 5))["shard_count"], 5);
  // The name may be left out, not changed.
  Json nameless = CronJob("orders", 6);
  nameless.erase("name");
  EXPECT_EQ(ops_->UpdateJob("orders", nameless)["shard_count"], 6);
  EXPECT_EQ(KindOf([&] { ops_->UpdateJob("orders", CronJob("other")); }), Kind::kInvalid);
  EXPECT_EQ(KindOf([&] { ops_->UpdateJob("missing", CronJob("missing")); }), Kind::kNotFound);
  EXPECT_FALSE(Exists(JobPath("missing")));
}

TEST_P(OperationsTest, DeleteWithoutInstancesRemovesTheSubtree) {
  ops_->CreateJob(CronJob("orders"));
  ops_->CreateJob(CronJob("orders-2"));
  Write(JobPath("orders") + "/shards/0/state", R"({"committed_fire":"s-1"})");
  Write(JobPath("orders") + "/assignment", "{}");
  ASSERT_EQ(registry::EnsurePath(*registry_, JobPath("orders") + "/instances"), Code::kOk);
  ops_->TriggerJob("orders");
  Json result = ops_->DeleteJob("orders");
  EXPECT_EQ(result["job"], "orders");
  EXPECT_EQ(result["state"], "deleted");
  EXPECT_EQ(result["instances"], Json::array());
  EXPECT_FALSE(Exists(JobPath("orders")));
  EXPECT_TRUE(Exists(JobPath("orders-2") + "/config"));  // a prefix is not a parent
  Json jobs = ops_->ListJobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["name"], "orders-2");
  EXPECT_EQ(KindOf([&] { ops_->DeleteJob("orders"); }), Kind::kNotFound);
  EXPECT_EQ(KindOf([&] { ops_->GetJob("orders"); }), Kind::kNotFound);
}

TEST_P(OperationsTest, DeleteWithALiveInstanceLeavesItStopping) {
  ops_->CreateJob(CronJob("orders"));
  Register("orders", "i1");
  Json result = ops_->DeleteJob("orders");
  EXPECT_EQ(result["state"], "stopping");
  EXPECT_EQ(result["instances"], Json::array({"i1"}));
  EXPECT_FALSE(Exists(JobPath("orders") + "/config"));
  EXPECT_TRUE(Exists(JobPath("orders") + "/instances/i1"));
  Json jobs = ops_->ListJobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["status"], "DELETING");
  EXPECT_EQ(Status("orders"), "DELETING");
  EXPECT_EQ(ops_->GetJob("orders")["config"], nullptr);
  // Not created again over what is left of it (its shards' states, its stopping instances).
  EXPECT_EQ(KindOf([&] { ops_->CreateJob(CronJob("orders")); }), Kind::kConflict);
  EXPECT_FALSE(Exists(JobPath("orders") + "/config"));
  // Once the instance left, deleting again finishes the cleanup.
  ASSERT_EQ(Instance("i1").Delete(JobPath("orders") + "/instances/i1", registry::kAnyVersion),
            Code::kOk);
  EXPECT_EQ(ops_->DeleteJob("orders")["state"], "deleted");
  EXPECT_FALSE(Exists(JobPath("orders")));
  EXPECT_EQ(ops_->ListJobs(), Json::array());
  ops_->CreateJob(CronJob("orders"));  // gone: a new job of the name is welcome
  EXPECT_EQ(Status("orders"), "CRASHED");
}

TEST_P(OperationsTest, StatusFollowsInstancesAssignmentAndDisabling) {
  ops_->CreateJob(CronJob("orders"));
  EXPECT_EQ(Status("orders"), "CRASHED");
  Register("orders", "i1");
  EXPECT_EQ(Status("orders"), "SHARDING_FLAG");  // no assignment yet
  std::string assignment = JobPath("orders") + "/assignment";
  Write(assignment, R"({"total":3,"instances":{"i1":[0,1,2]}})");
  EXPECT_EQ(Status("orders"), "OK");
  Register("orders", "i2");
  EXPECT_EQ(Status("orders"), "SHARDING_FLAG");  // i2 not sharded in yet
  Write(assignment, R"({"total":3,"instances":{"i1":[0,1],"i2":[2]}})");
  EXPECT_EQ(Status("orders"), "OK");
  Write(assignment, R"({"total":3,"instances":{"i1":[0,1],"i2":[1]}})");
  EXPECT_EQ(Status("orders"), "SHARDING_FLAG");  // item 2 unowned, item 1 twice
  Write(assignment, R"({"total":3,"instances":{"i1":[0,1],"i2":[2],"gone":[]}})");
  EXPECT_EQ(Status("orders"), "SHARDING_FLAG");  // an owner that left
  Write(assignment, R"({"total":3,"instances":{"i1":[0,1],"i2":[2]}})");
  ops_->UpdateJob("orders", CronJob("orders", 4));
  EXPECT_EQ(Status("orders"), "SHARDING_FLAG");  // the total changed
  ops_->UpdateJob("orders", CronJob("orders", 3));
  EXPECT_EQ(Status("orders"), "OK");

  // The job disabled.
  ops_->SetJobDisabled("orders", true);
  Json job = ops_->GetJob("orders");
  EXPECT_EQ(job["status"], "DISABLED");
  EXPECT_EQ(job["disabled"], true);
  EXPECT_EQ(job["config"]["disabled"], true);
  EXPECT_EQ(job["next_fire"], nullptr);
  EXPECT_TRUE(config::JobConfigFromJson(Read(JobPath("orders") + "/config"), "t").disabled);
  int version = job["config_version"];
  ops_->SetJobDisabled("orders", true);  // no change, no write
  EXPECT_EQ(ops_->GetJob("orders")["config_version"], version);
  ops_->SetJobDisabled("orders", false);
  EXPECT_EQ(Status("orders"), "OK");
  EXPECT_EQ(KindOf([&] { ops_->SetJobDisabled("missing", true); }), Kind::kNotFound);

  // Every live instance disabled for the job: i1 by the operator, i2 by its own registration.
  ops_->SetInstanceDisabled("i1", true, "orders");
  EXPECT_EQ(Status("orders"), "SHARDING_FLAG");  // i1 still owns shards
  Write(assignment, R"({"total":3,"instances":{"i2":[0,1,2]}})");
  EXPECT_EQ(Status("orders"), "OK");
  ASSERT_EQ(Instance("i2").Delete(JobPath("orders") + "/instances/i2", registry::kAnyVersion),
            Code::kOk);
  ASSERT_EQ(Instance("i2").Create(JobPath("orders") + "/instances/i2",
                                  R"({"pid":1,"disabled":true})", NodeMode::kEphemeral, nullptr),
            Code::kOk);
  EXPECT_EQ(Status("orders"), "DISABLED");

  // A disabled shard is owned by nobody, and that is covered.
  ops_->SetInstanceDisabled("i1", false, "orders");
  ops_->SetShardDisabled("orders", 1, true);
  Write(assignment, R"({"total":3,"instances":{"i1":[0,2]}})");
  EXPECT_EQ(Status("orders"), "OK");
}

TEST_P(OperationsTest, LeaderAndRunningShards) {
  ops_->CreateJob(CronJob("orders"));
  Register("orders", "i1");
  Register("orders", "i2");
  ASSERT_EQ(registry::EnsurePath(*registry_, JobPath("orders") + "/leader"), Code::kOk);
  std::string first;
  ASSERT_EQ(Instance("i2").Create(JobPath("orders") + "/leader/candidate-", "i2",
                                  NodeMode::kEphemeralSequential, &first),
            Code::kOk);
  ASSERT_EQ(Instance("i1").Create(JobPath("orders") + "/leader/candidate-", "i1",
                                  NodeMode::kEphemeralSequential, nullptr),
            Code::kOk);
  EXPECT_EQ(ops_->GetJob("orders")["leader"], "i2");
  ASSERT_EQ(Instance("i2").Delete(first, registry::kAnyVersion), Code::kOk);
  EXPECT_EQ(ops_->GetJob("orders")["leader"], "i1");

  ASSERT_EQ(registry::EnsurePath(*registry_, JobPath("orders") + "/shards/1"), Code::kOk);
  ASSERT_EQ(Instance("i1").Create(JobPath("orders") + "/shards/1/lease",
                                  R"({"fire":"s-1","instance":"i1","nonce":"n"})",
                                  NodeMode::kEphemeral, nullptr),
            Code::kOk);
  EXPECT_EQ(ops_->GetJob("orders")["running_shards"], 1);
  EXPECT_EQ(ops_->ListJobs()[0]["running_shards"], 1);
  EXPECT_EQ(ops_->ListJobs()[0]["instances"], 2);
}

TEST_P(EmbeddedOperationsTest, ListJobsBoundsLeaseCounting) {
  ops_->CreateJob(CronJob("big", 2001));
  ops_->CreateJob(CronJob("small", 2));
  Json jobs = ops_->ListJobs();
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0]["running_shards"], nullptr);  // past the budget: not counted
  EXPECT_EQ(jobs[1]["running_shards"], 0);
  EXPECT_EQ(ops_->GetJob("big")["running_shards"], nullptr);  // one job: the same budget
  EXPECT_EQ(ops_->GetJob("small")["running_shards"], 0);
}

TEST_P(OperationsTest, ShardDisabling) {
  ops_->CreateJob(CronJob("orders"));
  std::string disabled = JobPath("orders") + "/disabled";
  ops_->SetShardDisabled("orders", 2, true);
  ops_->SetShardDisabled("orders", 0, true);
  ops_->SetShardDisabled("orders", 2, true);
  Json stored = Json::parse(Read(disabled));
  EXPECT_EQ(stored["shards"], Json::array({0, 2}));
  EXPECT_EQ(stored["instances"], Json::array());
  Json shards = ops_->ListShards("orders");
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_EQ(shards[0]["disabled"], true);
  EXPECT_EQ(shards[1]["disabled"], false);
  EXPECT_EQ(shards[2]["disabled"], true);
  ops_->SetShardDisabled("orders", 0, false);
  EXPECT_EQ(Json::parse(Read(disabled))["shards"], Json::array({2}));

  std::string message;
  EXPECT_EQ(KindOf([&] { ops_->SetShardDisabled("orders", 3, true); }, &message), Kind::kNotFound);
  EXPECT_NE(message.find("orders"), std::string::npos) << message;
  EXPECT_NE(message.find("3"), std::string::npos) << message;
  EXPECT_EQ(KindOf([&] { ops_->SetShardDisabled("orders", -1, true); }), Kind::kInvalid);
  EXPECT_EQ(KindOf([&] { ops_->SetShardDisabled("missing", 0, true); }), Kind::kNotFound);
  EXPECT_FALSE(Exists(JobPath("missing")));
  EXPECT_EQ(Json::parse(Read(disabled))["shards"], Json::array({2}));
}

TEST_P(OperationsTest, InstanceDisabling) {
  ops_->CreateJob(CronJob("a"));
  ops_->CreateJob(CronJob("b"));
  Register("a", "i1");
  Register("b", "i1");
  // Another writer's entry, out of order and doubled, is kept (normalised).
  Write(JobPath("a") + "/disabled", R"({"shards":[1],"instances":["z","i0","z"]})");
  EXPECT_EQ(ops_->SetInstanceDisabled("i1", true), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Json::parse(Read(JobPath("a") + "/disabled"))["instances"],
            Json::array({"i0", "i1", "z"}));
  EXPECT_EQ(Json::parse(Read(JobPath("a") + "/disabled"))["shards"], Json::array({1}));
  EXPECT_EQ(Json::parse(Read(JobPath("b") + "/disabled"))["instances"], Json::array({"i1"}));
  EXPECT_EQ(ops_->SetInstanceDisabled("i1", true), std::vector<std::string>{});  // no change
  EXPECT_EQ(ops_->SetInstanceDisabled("i1", false, "b"), std::vector<std::string>{"b"});
  EXPECT_EQ(Json::parse(Read(JobPath("b") + "/disabled"))["instances"], Json::array());
  // An id that is not live stays disabled for when it comes back.
  EXPECT_EQ(ops_->SetInstanceDisabled("later", true, "b"), std::vector<std::string>{"b"});
  EXPECT_EQ(Json::parse(Read(JobPath("b") + "/disabled"))["instances"], Json::array({"later"}));

  Json instances = ops_->ListInstances();
  ASSERT_EQ(instances.size(), 1u);
  EXPECT_EQ(instances[0]["id"], "i1");
  EXPECT_EQ(instances[0]["jobs"], Json::array({"a", "b"}));
  EXPECT_EQ(instances[0]["disabled_jobs"], Json::array({"a"}));
  EXPECT_EQ(Status("a"), "DISABLED");
  EXPECT_EQ(KindOf([&] { ops_->SetInstanceDisabled("i1", true, "missing"); }), Kind::kNotFound);
  EXPECT_FALSE(Exists(JobPath("missing")));
}

TEST_P(OperationsTest, ShutdownWritesCommandsTheInstancesParse) {
  ops_->CreateJob(CronJob("orders"));
  StartProcess("i1");
  Register("orders", "i1");
  Register("orders", "i2");

  ops_->ShutdownInstance("i1");
  std::vector<std::string> commands;
  ASSERT_EQ(registry_->GetChildren(CommandsPath(root_, "i1"), &commands, nullptr), Code::kOk);
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_EQ(commands[0].rfind("command-", 0), 0u);
  std::optional<InstanceCommand> command =
      ParseCommand(Read(CommandsPath(root_, "i1") + "/" + commands[0]));
  ASSERT_TRUE(command);
  EXPECT_EQ(command->op, InstanceCommand::Op::kShutdown);
  // i2 registered for the job but has no process node: not live as a process.
  EXPECT_EQ(KindOf([&] { ops_->ShutdownInstance("i2"); }), Kind::kNotFound);
  EXPECT_FALSE(Exists(CommandsPath(root_, "i2")));

  EXPECT_EQ(ops_->ShutdownJob("orders"), (std::vector<std::string>{"i1", "i2"}));
  ASSERT_EQ(registry_->GetChildren(CommandsPath(root_, "i2"), &commands, nullptr), Code::kOk);
  ASSERT_EQ(commands.size(), 1u);
  command = ParseCommand(Read(CommandsPath(root_, "i2") + "/" + commands[0]));
  ASSERT_TRUE(command);
  EXPECT_EQ(command->op, InstanceCommand::Op::kShutdownJob);
  EXPECT_EQ(command->job, "orders");
  ASSERT_EQ(registry_->GetChildren(CommandsPath(root_, "i1"), &commands, nullptr), Code::kOk);
  EXPECT_EQ(commands.size(), 2u);  // sequential: the second does not replace the first

  EXPECT_EQ(ops_->ShutdownJob("orders", "i2"), std::vector<std::string>{"i2"});
  EXPECT_EQ(KindOf([&] { ops_->ShutdownJob("orders", "i3"); }), Kind::kNotFound);
  EXPECT_EQ(KindOf([&] { ops_->ShutdownJob("missing"); }), Kind::kNotFound);
  EXPECT_FALSE(Exists(CommandsPath(root_, "i3")));
}

TEST_P(OperationsTest, ListInstancesJoinsProcessesAndRegistrations) {
  ops_->CreateJob(CronJob("a"));
  ops_->CreateJob(CronJob("b"));
  StartProcess("i1");
  StartProcess("idle");
  Register("a", "i1");
  Register("b", "i1");
  Register("b", "old");  // an older version: no process node
  Json instances = ops_->ListInstances();
  ASSERT_EQ(instances.size(), 3u);
  EXPECT_EQ(instances[0]["id"], "i1");
  EXPECT_EQ(instances[0]["host"], "host-i1");
  EXPECT_EQ(instances[0]["pid"], 77);
  EXPECT_EQ(instances[0]["labels"], Json::array({"red"}));
  EXPECT_EQ(instances[0]["version"], "1.2.3");
  EXPECT_EQ(instances[0]["http"], "127.0.0.1:8899");
  EXPECT_EQ(instances[0]["started_ms"], 1234);
  EXPECT_EQ(instances[0]["jobs"], Json::array({"a", "b"}));
  EXPECT_EQ(instances[1]["id"], "idle");
  EXPECT_EQ(instances[1]["jobs"], Json::array());
  EXPECT_EQ(instances[2]["id"], "old");
  EXPECT_EQ(instances[2]["process"], false);
  EXPECT_EQ(instances[2]["pid"], 42);  // from its registration
  EXPECT_EQ(instances[2]["labels"], Json::array({"blue"}));
  EXPECT_EQ(instances[2]["jobs"], Json::array({"b"}));
}

TEST_P(OperationsTest, ListShardsShowsStatesLeasesAndOwners) {
  ops_->CreateJob(CronJob("orders"));
  Register("orders", "i1");
  Write(JobPath("orders") + "/assignment", R"({"total":3,"instances":{"i1":[0,2]}})");
  Write(JobPath("orders") + "/shards/0/state",
        R"({"committed_fire":"s-100","committed_by":"i1","committed_token":7,)"
        R"("claimed_fire":"s-105","claimed_by":"i1","claim_nonce":"n",)"
        R"("checkpoint":{"fire":"s-105","record":"12345"}})");
  ASSERT_EQ(Instance("i1").Create(JobPath("orders") + "/shards/0/lease",
                                  R"({"fire":"s-105","instance":"i1","nonce":"n"})",
                                  NodeMode::kEphemeral, nullptr),
            Code::kOk);
  registry::Stat lease_stat;
  Read(JobPath("orders") + "/shards/0/lease", &lease_stat);
  Json shards = ops_->ListShards("orders");
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_EQ(shards[0]["item"], 0);
  EXPECT_EQ(shards[0]["owner"], "i1");
  EXPECT_EQ(shards[0]["committed_fire"], "s-100");
  EXPECT_EQ(shards[0]["committed_by"], "i1");
  EXPECT_EQ(shards[0]["claimed_fire"], "s-105");
  EXPECT_EQ(shards[0]["claimed_by"], "i1");
  EXPECT_EQ(shards[0]["checkpoint_bytes"], 5);
  ASSERT_TRUE(shards[0]["lease"].is_object());
  EXPECT_EQ(shards[0]["lease"]["instance"], "i1");
  EXPECT_EQ(shards[0]["lease"]["fire"], "s-105");
  EXPECT_EQ(shards[0]["lease"]["token"], lease_stat.czxid);
  EXPECT_NE(lease_stat.czxid, 0);
  EXPECT_EQ(shards[1]["owner"], nullptr);
  EXPECT_EQ(shards[1]["lease"], nullptr);
  EXPECT_EQ(shards[1]["committed_fire"], nullptr);
  EXPECT_EQ(shards[2]["owner"], "i1");
  EXPECT_EQ(KindOf([&] { ops_->ListShards("missing"); }), Kind::kNotFound);
}

TEST_P(OperationsTest, TriggerWritesASequentialNode) {
  ops_->CreateJob(CronJob("orders"));
  std::string first = ops_->TriggerJob("orders");
  std::string second = ops_->TriggerJob("orders");
  EXPECT_EQ(first.rfind("trigger-", 0), 0u);
  EXPECT_LT(first, second);
  EXPECT_TRUE(Exists(JobPath("orders") + "/triggers/" + first));
  EXPECT_EQ(KindOf([&] { ops_->TriggerJob("missing"); }), Kind::kNotFound);
  EXPECT_FALSE(Exists(JobPath("missing")));
}

TEST_P(OperationsTest, PathInjectionIsRefused) {
  ops_->CreateJob(CronJob("orders"));
  // A node that "../x"-style names would reach.
  Write(root_ + "/x/config",
        config::JobConfigToJson(config::JobConfigFromJson(CronJob("x").dump(), "test")));
  for (const std::string bad : {"../x", "a/b", "..", ".", "", "orders/../../x", "x\n"}) {
    SCOPED_TRACE("job name '" + bad + "'");
    EXPECT_EQ(KindOf([&] { ops_->GetJob(bad); }), Kind::kInvalid);
    EXPECT_EQ(KindOf([&] { ops_->UpdateJob(bad, CronJob(bad)); }), Kind::kInvalid);
    EXPECT_EQ(KindOf([&] { ops_->DeleteJob(bad); }), Kind::kInvalid);
    EXPECT_EQ(KindOf([&] { ops_->TriggerJob(bad); }), Kind::kInvalid);
    EXPECT_EQ(KindOf([&] { ops_->SetJobDisabled(bad, true); }), Kind::kInvalid);
    EXPECT_EQ(KindOf([&] { ops_->ShutdownJob(bad); }), Kind::kInvalid);
    EXPECT_EQ(KindOf([&] { ops_->ListShards(bad); }), Kind::kInvalid);
    EXPECT_EQ(KindOf([&] { ops_->SetShardDisabled(bad, 0, true); }), Kind::kInvalid);
    EXPECT_EQ(KindOf([&] { ops_->DumpJob(bad); }), Kind::kInvalid);
    if (!bad.empty()) {  // "" means every job
      EXPECT_EQ(KindOf([&] { ops_->SetInstanceDisabled("i1", true, bad); }), Kind::kInvalid);
    }
    EXPECT_EQ(KindOf([&] { ops_->CreateJob(CronJob(bad)); }), Kind::kInvalid);
  }
  for (const std::string bad : {"../i", "a/b", "..", "."}) {
    SCOPED_TRACE("instance id '" + bad + "'");
    EXPECT_EQ(KindOf([&] { ops_->ShutdownInstance(bad); }), Kind::kInvalid);
    EXPECT_EQ(KindOf([&] { ops_->SetInstanceDisabled(bad, true); }), Kind::kInvalid);
    EXPECT_EQ(KindOf([&] { ops_->ShutdownJob("orders", bad); }), Kind::kInvalid);
  }
  // Nothing reached the registry.
  EXPECT_TRUE(Exists(root_ + "/x/config"));
  EXPECT_FALSE(Exists(root_ + "/x/triggers"));
  EXPECT_FALSE(Exists(root_ + "/x/disabled"));
  EXPECT_FALSE(Exists(root_ + "/commands"));
  EXPECT_FALSE(Exists(JobPath("orders") + "/disabled"));
  EXPECT_TRUE(Exists(JobPath("orders") + "/config"));
}

TEST_P(OperationsTest, DumpListsTheSubtree) {
  ops_->CreateJob(CronJob("orders"));
  Register("orders", "i1");
  Write(JobPath("orders") + "/shards/0/state", "{\"committed_fire\":\"s-1\"}");
  Write(JobPath("orders") + "/shards/1/state", "\xff\xfe not utf-8");
  Write(JobPath("other") + "/config", "{}");  // not under the job
  Json dump = ops_->DumpJob("orders");
  EXPECT_FALSE(dump.contains("truncated"));
  std::vector<std::string> paths;
  for (auto& [path, node] : dump.items()) paths.push_back(path);
  EXPECT_EQ(paths,
            (std::vector<std::string>{
                JobPath("orders"), JobPath("orders") + "/config", JobPath("orders") + "/instances",
                JobPath("orders") + "/instances/i1", JobPath("orders") + "/shards",
                JobPath("orders") + "/shards/0", JobPath("orders") + "/shards/0/state",
                JobPath("orders") + "/shards/1", JobPath("orders") + "/shards/1/state"}));
  EXPECT_EQ(dump[JobPath("orders") + "/config"]["data"], Read(JobPath("orders") + "/config"));
  EXPECT_EQ(dump[JobPath("orders") + "/shards/0/state"]["version"], 1);
  EXPECT_EQ(dump[JobPath("orders") + "/instances/i1"]["ephemeral_owner"],
            Instance("i1").SessionId());
  EXPECT_EQ(dump[JobPath("orders") + "/config"]["ephemeral_owner"], 0);
  EXPECT_GT(dump[JobPath("orders") + "/config"]["mtime_ms"].get<std::int64_t>(), 0);
  EXPECT_NO_THROW(dump.dump());  // the bytes that were not UTF-8 were replaced
  EXPECT_EQ(KindOf([&] { ops_->DumpJob("missing"); }), Kind::kNotFound);
}

TEST_P(EmbeddedOperationsTest, DumpIsCapped) {
  ops_->CreateJob(CronJob("orders"));
  ASSERT_EQ(registry::EnsurePath(*registry_, JobPath("orders") + "/many"), Code::kOk);
  for (int i = 0; i < 10010; ++i) {
    ASSERT_EQ(registry_->Create(JobPath("orders") + "/many/n", "", NodeMode::kPersistentSequential,
                                nullptr),
              Code::kOk);
  }
  Json dump = ops_->DumpJob("orders");
  EXPECT_EQ(dump["truncated"], true);
  EXPECT_EQ(dump.size(), 10001u);
  // The first nodes in path order are the ones kept.
  EXPECT_TRUE(dump.contains(JobPath("orders") + "/config"));
  EXPECT_TRUE(dump.contains(JobPath("orders") + "/many/n0000000000"));
  EXPECT_FALSE(dump.contains(JobPath("orders") + "/many/n0000010009"));
  // And DeleteJob gets rid of all of them.
  EXPECT_EQ(ops_->DeleteJob("orders")["state"], "deleted");
  EXPECT_FALSE(Exists(JobPath("orders")));
}

TEST_P(EmbeddedOperationsTest, AnUnreachableRegistryIsUnavailable) {
  ops_->CreateJob(CronJob("orders"));
  store_->ExpireSession(registry_->SessionId());
  std::string message;
  EXPECT_EQ(KindOf([&] { ops_->ListJobs(); }, &message), Kind::kUnavailable);
  EXPECT_NE(message.find(registry::CodeName(Code::kSessionExpired)), std::string::npos) << message;
  EXPECT_EQ(KindOf([&] { ops_->CreateJob(CronJob("b")); }), Kind::kUnavailable);
  EXPECT_EQ(KindOf([&] { ops_->SetShardDisabled("orders", 0, true); }), Kind::kUnavailable);
}

INSTANTIATE_TEST_SUITE_P(Embedded, EmbeddedOperationsTest, ::testing::Values(Backend::kEmbedded),
                         [](const ::testing::TestParamInfo<Backend>&) { return "embedded"; });
INSTANTIATE_TEST_SUITE_P(Backends, OperationsTest,
                         ::testing::Values(Backend::kEmbedded, Backend::kZookeeper),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kEmbedded ? "embedded" : "zookeeper";
                         });

}  // namespace
}  // namespace shardjob::operations
