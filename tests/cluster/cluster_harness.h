#pragma once

// The harness the multi-process tests (cluster_test, faults_test) share: several `shardjob run`
// processes against a real ZooKeeper server that the test suite starts itself. Each test gets its
// own registry namespace and temp dir; its jobs record every task in one shared file
// (tests/app/fixtures), which the free functions below parse, and the fixture reads the
// registry's state with our own ZooKeeper client. Processes are stopped by their pid (and
// killed by ChildProcess's destructor if a test fails first); every wait is a bounded poll.

#include <signal.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "registry/zookeeper_registry.h"
#include "support/child_process.h"
#include "support/test_support.h"
#include "support/zookeeper_server.h"

namespace shardjob::testing {

// One task line of the recording fixtures: its event ("start", "end"), fire, item and instance.
struct Record {
  std::string event, fire, instance;
  int item = -1;
};

std::vector<Record> ReadRecords(const std::string& path);

// fire -> item -> instances that finished the task ("end" records).
std::map<std::string, std::map<int, std::vector<std::string>>> Ends(
    const std::vector<Record>& records);

// "0,2,3" -> {0, 2, 3}; "-" is the empty list.
std::set<int> ParseItems(const std::string& list);

class ClusterHarness : public ::testing::Test {
 protected:
  static constexpr auto kSessionTimeout = std::chrono::milliseconds(1500);
  static inline const std::string kEverySecond = "    cron: \"* * * * * ?\"\n";

  // Each test's namespace is "<namespace_prefix>-<n>-<pid>"; `listeners` is the YAML list of
  // listeners the job of every instance gets.
  ClusterHarness(std::string namespace_prefix, std::string listeners);

  // One server for the whole suite.
  static void SetUpTestSuite();
  static void TearDownTestSuite();

  // A fresh namespace, and the observer connected to the suite's server.
  void SetUp() override;

  // Points server_ at `server` (what Start writes into the configs) and connects the observer to
  // it.
  void ConnectObserver(ZookeeperServer* server);

  std::string JobPath() const { return "/" + namespace_ + "/jobs/job"; }

  // Writes the instance's config and starts `shardjob run` with it.
  ChildProcess& Start(const std::string& id, const std::string& schedule, int work_ms,
                      bool failover = true);

  void Kill(const std::string& id, int signal = SIGKILL);

  // Stops every process still running with SIGTERM and expects a clean exit.
  void StopAll();

  std::vector<std::string> Children(const std::string& path);
  std::set<std::string> Instances();
  // The instance id of every election candidate, lowest sequence first.
  std::vector<std::string> Candidates();
  std::string Leader();
  std::map<std::string, std::vector<int>> Assignment();
  // The shard's state node as a JSON object (empty when missing or not an object).
  nlohmann::json State(int item);
  // The shards some instance started for `fire` ("start" records).
  std::set<int> StartedItems(const std::string& fire);
  // True once every one of `items` has `fire` committed (by `by`, when given). Tasks write their
  // "end" record just before they commit: tests that check commits wait for this.
  bool Committed(const std::string& fire, const std::vector<int>& items,
                 const std::string& by = "");
  // Writes a trigger node; returns its name (the fire id).
  std::string Trigger();
  // Where a running instance serves HTTP (its process node says; "" when it has no endpoint or
  // is not registered yet). Start() gives every instance an endpoint on a free port.
  std::string HttpAddressOf(const std::string& id);

  // G2: no task is committed twice. The recording listener's "after" line, written after the
  // commit, names the items the instance ran and those that failed or were refused.
  void ExpectNoTaskCommittedTwice();

  static ZookeeperServer* shared_server_;
  static int counter_;
  TempDir dir_;
  std::string record_ = dir_.File("record.txt");
  std::string namespace_;
  ZookeeperServer* server_ = nullptr;
  std::unique_ptr<registry::ZookeeperRegistry> observer_;
  std::map<std::string, std::unique_ptr<ChildProcess>> processes_;

 private:
  std::string namespace_prefix_;
  std::string listeners_;
};

}  // namespace shardjob::testing
