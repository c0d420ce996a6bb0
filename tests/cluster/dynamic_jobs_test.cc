// Jobs added, changed and removed at run time on a cluster of `shardjob run` processes, through
// the HTTP API and `shardjob ctl`, with a real ZooKeeper server (cluster_harness.h). The YAML of
// every instance names only the harness's job; the others exist only in the registry.

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cluster/cluster_harness.h"
#include "support/child_process.h"
#include "support/http_client.h"
#include "support/test_support.h"

namespace shardjob {
namespace {

using testing::ChildProcess;
using testing::ClusterHarness;
using testing::Ends;
using ::testing::HasSubstr;
using testing::HttpReply;
using testing::HttpRequest;
using testing::ReadRecords;
using testing::WaitUntil;
using Json = nlohmann::json;

constexpr auto kWait = std::chrono::seconds(30);
const std::string kJsonBody = "Content-Type: application/json\r\n";

class DynamicJobsTest : public ClusterHarness {
 protected:
  DynamicJobsTest() : ClusterHarness("dynamic", "RECORDING_LISTENER") {}

  // Two instances whose file has only the harness's job (triggered, never scheduled).
  void StartTwo() {
    Start("a", "", 0);
    Start("b", "", 0);
    // Registered for their job: started (the endpoint is up earlier).
    ASSERT_TRUE(WaitUntil(
        [&] {
          return Instances() == std::set<std::string>{"a", "b"} && !HttpAddressOf("a").empty() &&
                 !HttpAddressOf("b").empty();
        },
        kWait));
  }

  HttpReply Api(const std::string& id, const std::string& method, const std::string& target,
                const std::string& body = "") {
    return HttpRequest(HttpAddressOf(id), method, target, body, body.empty() ? "" : kJsonBody);
  }

  Json AddedJob(int shards, const std::string& name = "added") const {
    return {{"name", name},
            {"class", "RECORDING_JOB"},
            {"cron", "* * * * * ?"},
            {"sharding_total_count", shards},
            {"props", {{"record.file", RecordOf(name)}, {"work.ms", "0"}}}};
  }

  std::string RecordOf(const std::string& job) const {
    return job == "added" ? added_record_ : dir_.File(job + ".txt");
  }

  // The instances that finished tasks of an added job.
  std::set<std::string> Runners(const std::string& job = "added") {
    std::set<std::string> runners;
    for (const auto& record : ReadRecords(RecordOf(job))) {
      if (record.event == "end") runners.insert(record.instance);
    }
    return runners;
  }

  // The newest fire of the added job, by its scheduled instant (fire ids are epoch ms).
  long long NewestFire() {
    long long newest = 0;
    for (const auto& [fire, items] : Ends(ReadRecords(added_record_))) {
      newest = std::max(newest, std::stoll(fire));
    }
    return newest;
  }

  // True once a fire after `after` ended on exactly `items`, and every fire after `after` ran
  // no item outside them.
  bool FiresAfterRanExactly(long long after, const std::set<int>& items) {
    bool complete = false;
    for (const auto& [fire, ended] : Ends(ReadRecords(added_record_))) {
      if (std::stoll(fire) <= after) continue;
      std::set<int> ran;
      for (const auto& [item, instances] : ended) ran.insert(item);
      if (!std::includes(items.begin(), items.end(), ran.begin(), ran.end())) return false;
      if (ran == items) complete = true;
    }
    return complete;
  }

  std::string added_record_ = dir_.File("added.txt");
};

TEST_F(DynamicJobsTest, AJobAddedThroughTheApiRunsOnBothInstancesReshardsAndIsDeleted) {
  StartTwo();
  HttpReply created = Api("a", "POST", "/api/jobs", AddedJob(4).dump());
  ASSERT_EQ(created.status, 201) << created.body;

  // Started by both without a restart: each runs some of its shards.
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Runners() == std::set<std::string>{"a", "b"};
      },
      kWait))
      << processes_.at("a")->output();

  // Six shards from the next fire on, through the other instance's endpoint.
  HttpReply updated = Api("b", "PUT", "/api/jobs/added", AddedJob(6).dump());
  ASSERT_EQ(updated.status, 200) << updated.body;
  long long before_update = NewestFire();
  ASSERT_TRUE(WaitUntil(
      [&] {
        return FiresAfterRanExactly(before_update + 2000, {0, 1, 2, 3, 4, 5});
      },
      kWait));

  // A disabled shard is run by nobody.
  HttpReply disabled = Api("a", "POST", "/api/jobs/added/shards/5/disable");
  ASSERT_EQ(disabled.status, 200) << disabled.body;
  long long before_disable = NewestFire();
  ASSERT_TRUE(WaitUntil(
      [&] {
        return FiresAfterRanExactly(before_disable + 2000, {0, 1, 2, 3, 4});
      },
      kWait));
  HttpReply shards = Api("b", "GET", "/api/jobs/added/shards");
  ASSERT_EQ(shards.status, 200);
  Json shard_list = Json::parse(shards.body);
  ASSERT_EQ(shard_list.size(), 6u) << shards.body;
  EXPECT_TRUE(shard_list[5]["disabled"].get<bool>()) << shards.body;
  EXPECT_FALSE(shard_list[4]["disabled"].get<bool>()) << shards.body;

  // Deleted: it stops everywhere and its nodes go; the instances and their own job stay.
  HttpReply deleted = Api("b", "DELETE", "/api/jobs/added");
  ASSERT_TRUE(deleted.status == 200 || deleted.status == 202) << deleted.body;
  auto jobs = [&] { return Children("/" + namespace_ + "/jobs"); };
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::vector<std::string> names = jobs();
        return std::find(names.begin(), names.end(), "added") == names.end();
      },
      kWait));
  for (const std::string id : {"a", "b"}) {
    const std::string stopped = "job=added instance=" + id + " stopped";
    EXPECT_TRUE(processes_.at(id)->ReadUntil(
        [&](const std::string& output) { return output.find(stopped) != std::string::npos; },
        kWait))
        << processes_.at(id)->output();
  }
  EXPECT_EQ(Instances(), (std::set<std::string>{"a", "b"}));
  HttpReply listed = Api("a", "GET", "/api/jobs");
  ASSERT_EQ(listed.status, 200);
  EXPECT_THAT(listed.body, ::testing::Not(HasSubstr("\"added\"")));
  StopAll();
}

TEST_F(DynamicJobsTest, AJobCreatedWithCtlRunsOnBothInstancesAndIsDeletedWithIt) {
  StartTwo();
  const std::string job_file = dir_.File("ctl-job.yaml");
  testing::WriteFile(job_file,
                     "name: added\n"
                     "class: RECORDING_JOB\n"
                     "cron: \"* * * * * ?\"\n"
                     "sharding_total_count: 4\n"
                     "props: {record.file: \"" +
                         added_record_ + "\", work.ms: \"0\"}\n");
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {SHARDJOB_BINARY, "ctl", "-c", dir_.File("a.yaml")});
    ChildProcess child(args);
    int code = child.Wait();
    EXPECT_EQ(code, 0) << child.output();
    return child.output();
  };
  ctl({"job", "create", "-f", job_file});
  ASSERT_TRUE(WaitUntil([&] { return Runners() == std::set<std::string>{"a", "b"}; }, kWait));
  Json jobs = Json::parse(ctl({"--json", "jobs"}), nullptr, false);
  ASSERT_TRUE(jobs.is_array()) << jobs;
  auto added = std::find_if(jobs.begin(), jobs.end(),
                            [](const Json& job) { return job["name"] == "added"; });
  ASSERT_NE(added, jobs.end()) << jobs;
  EXPECT_EQ((*added)["instances"], 2) << jobs;

  ctl({"job", "delete", "added"});
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::vector<std::string> names = Children("/" + namespace_ + "/jobs");
        return std::find(names.begin(), names.end(), "added") == names.end();
      },
      kWait));
  StopAll();
}

// An expired session takes its watches with it: the job list is watched again on the new one.
TEST_F(DynamicJobsTest, AJobCreatedAfterAnInstanceLostItsSessionStillReachesIt) {
  StartTwo();
  // A first job reaches both: a's watch on the job list is set.
  ASSERT_EQ(Api("b", "POST", "/api/jobs", AddedJob(4, "first").dump()).status, 201);
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Runners("first") == std::set<std::string>{"a", "b"};
      },
      kWait));
  const std::string a_registration = "/" + namespace_ + "/instances/a";
  Kill("a", SIGSTOP);
  // Paused past the session timeout: the server expires a's session (its process node goes).
  ASSERT_TRUE(WaitUntil([&] { return HttpAddressOf("a").empty(); }, kWait));
  Kill("a", SIGCONT);
  processes_.at("a")->ReadUntil(
      [](const std::string& output) {
        return output.find("new registry session") != std::string::npos;
      },
      kWait);
  ASSERT_TRUE(WaitUntil([&] { return !HttpAddressOf("a").empty(); }, kWait))
      << processes_.at("a")->output();

  HttpReply created = Api("b", "POST", "/api/jobs", AddedJob(4).dump());
  ASSERT_EQ(created.status, 201) << created.body;
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Runners() == std::set<std::string>{"a", "b"};
      },
      kWait))
      << processes_.at("a")->output();
  StopAll();
}

TEST_F(DynamicJobsTest, ShutdownRequestsStopAJobOnOneInstanceThenAProcess) {
  Start("a", kEverySecond, 0);
  Start("b", kEverySecond, 0);
  ASSERT_TRUE(
      WaitUntil([&] { return !HttpAddressOf("a").empty() && !HttpAddressOf("b").empty(); }, kWait));
  ASSERT_TRUE(WaitUntil([&] { return Assignment().size() == 2; }, kWait));

  // The job stops on a only: b takes every shard; a goes on running.
  HttpReply job_shutdown = Api("b", "POST", "/api/jobs/job/shutdown", R"({"instance": "a"})");
  ASSERT_EQ(job_shutdown.status, 202) << job_shutdown.body;
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto assignment = Assignment();
        return Instances() == std::set<std::string>{"b"} && assignment.size() == 1 &&
               assignment["b"].size() == 4;
      },
      kWait));
  EXPECT_TRUE(processes_.at("a")->ReadUntil(
      [](const std::string& output) {
        return output.find("job=job instance=a stopped (shut down by an operator's request)") !=
               std::string::npos;
      },
      kWait))
      << processes_.at("a")->output();

  // The process b stops as SIGTERM would stop it: gracefully, exit status 0.
  HttpReply process_shutdown = Api("a", "POST", "/api/instances/b/shutdown");
  ASSERT_EQ(process_shutdown.status, 202) << process_shutdown.body;
  ASSERT_TRUE(processes_.at("b")->ReadUntil(
      [](const std::string& output) {
        return output.find("instance=b stopped\n") != std::string::npos;
      },
      kWait))
      << processes_.at("b")->output();
  EXPECT_EQ(processes_.at("b")->Wait(kWait), 0) << processes_.at("b")->output();
  ASSERT_TRUE(WaitUntil([&] { return HttpAddressOf("b").empty(); }, kWait));
  StopAll();
}

}  // namespace
}  // namespace shardjob
