// ShardPlans: every runner of a fire sees the same shards, whichever instance generated them.
// Each test runs on the embedded store and on a real ZooKeeper server, every "instance" a
// ShardPlans on a session of its own.

#include "coordination/shard_plans.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <memory>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "registry/embedded_registry.h"
#include "registry/registry.h"
#include "registry/zookeeper_registry.h"
#include "support/zookeeper_server.h"

namespace shardjob::coordination {
namespace {

using registry::Code;
using registry::NodeMode;
using ::testing::HasSubstr;
using Json = nlohmann::json;
using Shards = std::vector<spi::ShardSpec>;

// One ZooKeeper server for the whole binary, started on first use, stopped after the last test.
std::unique_ptr<testing::ZookeeperServer>& SharedServerSlot() {
  static std::unique_ptr<testing::ZookeeperServer> server;
  return server;
}

testing::ZookeeperServer& SharedServer() {
  auto& server = SharedServerSlot();
  if (!server) server = std::make_unique<testing::ZookeeperServer>();
  return *server;
}

class SharedServerEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { SharedServerSlot().reset(); }
};
[[maybe_unused]] ::testing::Environment* const kSharedServerEnvironment =
    ::testing::AddGlobalTestEnvironment(new SharedServerEnvironment);

// Not deterministic: each call gives other ranges (as a source reading a table's size would
// while rows arrive), so only a shared plan makes two instances agree.
class ShiftingSource : public spi::ShardSource {
 public:
  bool Deterministic() const noexcept override { return false; }
  spi::Status Generate(const spi::ShardSourceRequest& request, Shards* shards) noexcept override {
    int call = ++calls_;
    if (!failure_.empty()) return spi::Status::Unavailable(failure_);
    int count = request.shard_count + extra_shards_;
    for (int i = 0; i < count; ++i) {
      std::string start = std::to_string(call * 1000 + i * 10);
      std::string end = std::to_string(call * 1000 + i * 10 + 10);
      shards->push_back({label_prefix_ + "[" + start + ", " + end + ")",
                         {{"start", start}, {"end", end}, {"padding", padding_}},
                         i % 3});  // pages: 0 (all), 1, 2
    }
    return spi::Status::Ok();
  }

  int calls() const { return calls_; }
  void FailWith(std::string message) { failure_ = std::move(message); }
  void GiveExtraShards(int extra) { extra_shards_ = extra; }
  void PadParams(std::size_t bytes) { padding_.assign(bytes, 'x'); }
  void PrefixLabels(std::string prefix) { label_prefix_ = std::move(prefix); }

 private:
  std::atomic<int> calls_{0};
  std::string failure_;
  int extra_shards_ = 0;
  std::string padding_;
  std::string label_prefix_;
};

// A pure function of the request, as RANGE is.
class FixedSource : public spi::ShardSource {
 public:
  bool Deterministic() const noexcept override { return true; }
  spi::Status Generate(const spi::ShardSourceRequest& request, Shards* shards) noexcept override {
    ++calls_;
    for (int i = 0; i < request.shard_count; ++i) {
      shards->push_back({"#" + std::to_string(i), {{"item", std::to_string(i)}}});
    }
    return spi::Status::Ok();
  }
  int calls() const { return calls_; }

 private:
  std::atomic<int> calls_{0};
};

std::vector<std::string> Labels(const Shards& shards) {
  std::vector<std::string> labels;
  for (const spi::ShardSpec& shard : shards) labels.push_back(shard.label);
  return labels;
}

enum class Backend { kEmbedded, kZookeeper };

void PrintTo(Backend backend, std::ostream* out) {
  *out << (backend == Backend::kEmbedded ? "embedded" : "zookeeper");
}

class ShardPlansTest : public ::testing::TestWithParam<Backend> {
 protected:
  // A new session: what one instance of the job has.
  registry::Registry& OpenSession() {
    if (GetParam() == Backend::kEmbedded) {
      sessions_.push_back(store_.OpenSession());
    } else {
      registry::ZookeeperOptions options;
      options.connect_string = SharedServer().connect_string();
      options.session_timeout = std::chrono::milliseconds(4000);
      std::string error;
      std::unique_ptr<registry::Registry> session =
          registry::ZookeeperRegistry::Connect(options, &error);
      if (!session) throw std::runtime_error("cannot connect to ZooKeeper: " + error);
      sessions_.push_back(std::move(session));
    }
    return *sessions_.back();
  }

  // A ShardPlans on a session of its own.
  ShardPlans& NewInstance() {
    plans_.push_back(std::make_unique<ShardPlans>(OpenSession(), JobPath(), "job"));
    return *plans_.back();
  }

  // Each test has a job of its own: the ZooKeeper server is shared by the whole binary.
  std::string JobPath() const {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '-');
    return "/shardjob/jobs/" + name;
  }
  std::string PlanPath(const std::string& fire_id) const { return JobPath() + "/plans/" + fire_id; }

  // A node a test writes by hand, as a buggy or older writer might have.
  void StorePlan(const std::string& fire_id, const std::string& data) {
    registry::Registry& session = sessions_.empty() ? OpenSession() : *sessions_.front();
    ASSERT_EQ(registry::EnsurePath(session, JobPath() + "/plans"), Code::kOk);
    ASSERT_EQ(session.Create(PlanPath(fire_id), data, NodeMode::kPersistent, nullptr), Code::kOk);
  }

  registry::EmbeddedStore store_;
  // Destroyed before the sessions they use.
  std::vector<std::unique_ptr<registry::Registry>> sessions_;
  std::vector<std::unique_ptr<ShardPlans>> plans_;
};

TEST_P(ShardPlansTest, TwoInstancesGetTheSameShardsFromAShiftingSource) {
  ShardPlans& first = NewInstance();
  ShardPlans& second = NewInstance();
  ShiftingSource first_source;
  ShiftingSource second_source;
  Shards first_shards;
  Shards second_shards;
  std::string error;
  ASSERT_TRUE(first.Get(first_source, "1000", 4, &first_shards, &error)) << error;
  ASSERT_TRUE(second.Get(second_source, "1000", 4, &second_shards, &error)) << error;

  EXPECT_EQ(Labels(first_shards), (std::vector<std::string>{"[1000, 1010)", "[1010, 1020)",
                                                            "[1020, 1030)", "[1030, 1040)"}));
  EXPECT_EQ(Labels(second_shards), Labels(first_shards));
  EXPECT_EQ(second_shards[2].params, first_shards[2].params);
  EXPECT_EQ(second_shards[2].params.at("start"), "1020");
  // The second instance read the plan: its source was never asked.
  EXPECT_EQ(first_source.calls(), 1);
  EXPECT_EQ(second_source.calls(), 0);

  // The next fire gets a plan of its own.
  Shards next;
  ASSERT_TRUE(second.Get(second_source, "2000", 4, &next, &error)) << error;
  EXPECT_EQ(next[0].label, "[1000, 1010)");  // second_source's first call
  ASSERT_TRUE(first.Get(first_source, "2000", 4, &first_shards, &error)) << error;
  EXPECT_EQ(Labels(first_shards), Labels(next));
}

TEST_P(ShardPlansTest, StoresThePlanAsJson) {
  ShardPlans& plans = NewInstance();
  ShiftingSource source;
  Shards shards;
  std::string error;
  ASSERT_TRUE(plans.Get(source, "1000", 2, &shards, &error)) << error;
  std::string data;
  ASSERT_EQ(sessions_.front()->Get(PlanPath("1000"), &data, nullptr, nullptr), Code::kOk);
  Json stored = Json::parse(data);
  ASSERT_EQ(stored["shards"].size(), 2u);
  EXPECT_EQ(stored["shards"][1]["label"], "[1010, 1020)");
  EXPECT_EQ(stored["shards"][1]["params"]["start"], "1010");
  EXPECT_EQ(stored["shards"][1]["params"]["end"], "1020");
  EXPECT_FALSE(stored["shards"][0].contains("pages"));  // all of them: not written
  EXPECT_EQ(stored["shards"][1]["pages"], 1);
  // Another instance reads the page counts back.
  Shards read;
  ASSERT_TRUE(NewInstance().Get(source, "1000", 2, &read, &error)) << error;
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[0].pages, 0);
  EXPECT_EQ(read[1].pages, 1);
}

TEST_P(ShardPlansTest, RacingFirstRunnersAllGetTheFirstWritersShards) {
  constexpr int kInstances = 6;
  std::vector<ShardPlans*> instances;
  std::vector<std::unique_ptr<ShiftingSource>> sources;
  for (int i = 0; i < kInstances; ++i) {
    instances.push_back(&NewInstance());
    sources.push_back(std::make_unique<ShiftingSource>());
    // Each instance's source gives other labels: any disagreement shows.
    sources.back()->PrefixLabels("instance " + std::to_string(i) + " ");
  }
  std::vector<Shards> results(kInstances);
  std::vector<std::string> errors(kInstances);
  std::vector<char> ok(kInstances);  // not vector<bool>: its bits share words across threads
  std::latch start(kInstances);
  std::vector<std::thread> threads;
  for (int i = 0; i < kInstances; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      ok[i] = instances[i]->Get(*sources[i], "1000", 3, &results[i], &errors[i]);
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int i = 0; i < kInstances; ++i) {
    ASSERT_TRUE(ok[i]) << errors[i];
    EXPECT_EQ(Labels(results[i]), Labels(results[0])) << "instance " << i;
  }
}

TEST_P(ShardPlansTest, TheTasksOfAFireAskOnce) {
  ShardPlans& plans = NewInstance();
  ShiftingSource source;
  constexpr int kTasks = 8;
  std::vector<Shards> results(kTasks);
  std::latch start(kTasks);
  std::vector<std::thread> threads;
  for (int i = 0; i < kTasks; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      std::string error;
      EXPECT_TRUE(plans.Get(source, "1000", 8, &results[i], &error)) << error;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(source.calls(), 1);
  for (const Shards& result : results) EXPECT_EQ(Labels(result), Labels(results[0]));
}

TEST_P(ShardPlansTest, AFireAlreadySeenCostsNoRequest) {
  ShardPlans& plans = NewInstance();
  registry::Registry& session = *sessions_.back();
  ShiftingSource source;
  Shards first;
  Shards again;
  std::string error;
  ASSERT_TRUE(plans.Get(source, "1000", 4, &first, &error)) << error;
  std::uint64_t requests = session.RequestCount();
  ASSERT_TRUE(plans.Get(source, "1000", 4, &again, &error)) << error;
  EXPECT_EQ(session.RequestCount(), requests);
  EXPECT_EQ(source.calls(), 1);
  EXPECT_EQ(Labels(again), Labels(first));
}

TEST_P(ShardPlansTest, ADeterministicSourceIsCalledAndNothingIsStored) {
  ShardPlans& first = NewInstance();
  ShardPlans& second = NewInstance();
  FixedSource source;
  Shards shards;
  std::string error;
  std::uint64_t requests = sessions_[0]->RequestCount();
  ASSERT_TRUE(first.Get(source, "1000", 3, &shards, &error)) << error;
  EXPECT_EQ(Labels(shards), (std::vector<std::string>{"#0", "#1", "#2"}));
  ASSERT_TRUE(second.Get(source, "1000", 3, &shards, &error)) << error;
  ASSERT_TRUE(first.Get(source, "1000", 3, &shards, &error)) << error;  // remembered
  EXPECT_EQ(source.calls(), 2);
  EXPECT_EQ(sessions_[0]->RequestCount(), requests);
  EXPECT_EQ(sessions_[0]->Exists(JobPath() + "/plans", nullptr, nullptr), Code::kNoNode);
}

TEST_P(ShardPlansTest, AStoredPlanOfAnotherCountIsAnError) {
  ShardPlans& first = NewInstance();
  ShardPlans& second = NewInstance();
  ShiftingSource source;
  Shards shards;
  std::string error;
  ASSERT_TRUE(first.Get(source, "1000", 3, &shards, &error)) << error;
  // sharding_total_count went from 3 to 4 during the fire.
  EXPECT_FALSE(second.Get(source, "1000", 4, &shards, &error));
  EXPECT_THAT(error, HasSubstr("job 'job' fire '1000'"));
  EXPECT_THAT(error, HasSubstr(PlanPath("1000") + " has 3 shards, but the job now has 4"));
  EXPECT_EQ(source.calls(), 1);
  // The instance that stored it is told too, though it remembers 3.
  EXPECT_FALSE(first.Get(source, "1000", 4, &shards, &error));
  EXPECT_THAT(error, HasSubstr("has 3 shards"));
}

TEST_P(ShardPlansTest, AMalformedStoredPlanIsAnError) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json {", "not a JSON object"},
      {"[]", "not a JSON object"},
      {"{}", "no \"shards\" array"},
      {R"({"shards": 3})", "no \"shards\" array"},
      {R"({"shards": [7]})", "shard 0 is not an object"},
      {R"({"shards": [{"label": "a", "params": {}}, {"label": 1, "params": {}}]})",
       "shard 1 is not an object with a string \"label\""},
      {R"({"shards": [{"label": "a"}]})", "shard 0 is not an object"},
      {R"({"shards": [{"label": "a", "params": {"start": 0}}]})",
       "shard 0's param \"start\" is not a string"},
  };
  ShardPlans& plans = NewInstance();
  ShiftingSource source;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    std::string fire_id = std::to_string(1000 + i);
    StorePlan(fire_id, cases[i].first);
    Shards shards;
    std::string error;
    EXPECT_FALSE(plans.Get(source, fire_id, 1, &shards, &error)) << cases[i].first;
    EXPECT_THAT(error, HasSubstr("the shards stored at " + PlanPath(fire_id) +
                                 " are malformed: " + cases[i].second));
  }
  EXPECT_EQ(source.calls(), 0);  // never silently replaced
}

TEST_P(ShardPlansTest, ASourceFailureIsAnErrorAndNothingIsStored) {
  ShardPlans& plans = NewInstance();
  ShiftingSource source;
  source.FailWith("the orders table is locked");
  Shards shards;
  std::string error;
  EXPECT_FALSE(plans.Get(source, "1000", 2, &shards, &error));
  EXPECT_EQ(error,
            "job 'job' fire '1000': the shard source failed: unavailable: the orders table is "
            "locked");
  EXPECT_EQ(sessions_.front()->Exists(PlanPath("1000"), nullptr, nullptr), Code::kNoNode);
  // Not remembered: the retry asks again, and succeeds.
  source.FailWith("");
  ASSERT_TRUE(plans.Get(source, "1000", 2, &shards, &error)) << error;
  EXPECT_EQ(source.calls(), 2);
}

TEST_P(ShardPlansTest, ASourceGivingTheWrongCountIsAnError) {
  ShardPlans& plans = NewInstance();
  ShiftingSource source;
  source.GiveExtraShards(1);
  Shards shards;
  std::string error;
  EXPECT_FALSE(plans.Get(source, "1000", 2, &shards, &error));
  EXPECT_EQ(error, "job 'job' fire '1000': the shard source returned 3 shards for a job of 2");
  EXPECT_EQ(sessions_.front()->Exists(PlanPath("1000"), nullptr, nullptr), Code::kNoNode);
}

TEST_P(ShardPlansTest, KeepsTheNewest64Plans) {
  ShardPlans& plans = NewInstance();
  ShiftingSource source;
  // Fire ids whose names sort against their age: the age is the creation, not the name.
  std::vector<std::string> fires;
  for (int i = 0; i < 70; ++i) fires.push_back(std::to_string(9000 - i));
  for (const std::string& fire : fires) {
    Shards shards;
    std::string error;
    ASSERT_TRUE(plans.Get(source, fire, 1, &shards, &error)) << error;
  }
  std::vector<std::string> kept;
  ASSERT_EQ(sessions_.front()->GetChildren(JobPath() + "/plans", &kept, nullptr), Code::kOk);
  EXPECT_EQ(kept.size(), ShardPlans::kPlansKept);
  std::set<std::string> expected(fires.end() - ShardPlans::kPlansKept, fires.end());
  EXPECT_EQ(std::set<std::string>(kept.begin(), kept.end()), expected);
}

TEST_P(ShardPlansTest, APlanTooLargeForANodeIsRefusedClearly) {
  ShardPlans& plans = NewInstance();
  ShiftingSource source;
  source.PadParams(300 * 1000);
  Shards shards;
  std::string error;
  EXPECT_FALSE(plans.Get(source, "1000", 4, &shards, &error));
  EXPECT_THAT(error, HasSubstr("job 'job' fire '1000': the plan of 4 shards is "));
  EXPECT_THAT(error, HasSubstr("bytes, more than the 1000000 a registry node may hold"));
  EXPECT_EQ(sessions_.front()->Exists(PlanPath("1000"), nullptr, nullptr), Code::kNoNode);
}

TEST_P(ShardPlansTest, APlanJustUnderTheLimitIsStoredAndRead) {
  // ZooKeeper's own limit (jute.maxbuffer, 1 MiB with the request's overhead) must not refuse
  // what ShardPlans lets through.
  ShardPlans& first = NewInstance();
  ShardPlans& second = NewInstance();
  ShiftingSource source;
  source.PadParams(ShardPlans::kMaxPlanBytes / 2 - 200);
  Shards written;
  Shards read;
  std::string error;
  ASSERT_TRUE(first.Get(source, "1000", 2, &written, &error)) << error;
  ASSERT_TRUE(second.Get(source, "1000", 2, &read, &error)) << error;
  EXPECT_EQ(read[1].params, written[1].params);
}

TEST_P(ShardPlansTest, EveryRunnerSeesTheSameLabelWhenItIsNotUtf8) {
  ShardPlans& first = NewInstance();
  ShardPlans& second = NewInstance();
  ShiftingSource source;
  source.PrefixLabels("orders \xff ");
  Shards written;
  Shards read;
  std::string error;
  ASSERT_TRUE(first.Get(source, "1000", 2, &written, &error)) << error;
  ASSERT_TRUE(second.Get(source, "1000", 2, &read, &error)) << error;
  EXPECT_EQ(Labels(read), Labels(written));
  EXPECT_EQ(written[0].label, "orders \xEF\xBF\xBD [1000, 1010)");  // U+FFFD
}

TEST_P(ShardPlansTest, RefusesAFireIdThatCannotNameANode) {
  ShardPlans& plans = NewInstance();
  ShiftingSource source;
  Shards shards;
  std::string error;
  EXPECT_FALSE(plans.Get(source, "a/b", 2, &shards, &error));
  EXPECT_THAT(error, HasSubstr("not a fire id a registry node can be named after"));
  EXPECT_FALSE(plans.Get(source, "", 2, &shards, &error));
  EXPECT_EQ(source.calls(), 0);
}

TEST_P(ShardPlansTest, ForgetsOldFiresButStillReadsTheirPlans) {
  ShardPlans& plans = NewInstance();
  ShiftingSource source;
  Shards oldest;
  std::string error;
  ASSERT_TRUE(plans.Get(source, "1000", 1, &oldest, &error)) << error;
  for (std::size_t i = 1; i <= ShardPlans::kFiresRemembered; ++i) {
    Shards shards;
    ASSERT_TRUE(plans.Get(source, std::to_string(1000 + i), 1, &shards, &error)) << error;
  }
  std::uint64_t requests = sessions_.front()->RequestCount();
  Shards again;
  ASSERT_TRUE(plans.Get(source, "1000", 1, &again, &error)) << error;
  EXPECT_GT(sessions_.front()->RequestCount(), requests);  // read from the registry this time
  EXPECT_EQ(Labels(again), Labels(oldest));
}

INSTANTIATE_TEST_SUITE_P(Registries, ShardPlansTest,
                         ::testing::Values(Backend::kEmbedded, Backend::kZookeeper),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kEmbedded ? "Embedded" : "Zookeeper";
                         });

}  // namespace
}  // namespace shardjob::coordination
