#include "cluster/cluster_harness.h"

#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <utility>

namespace shardjob::testing {

using Json = nlohmann::json;

std::vector<Record> ReadRecords(const std::string& path) {
  std::vector<Record> records;
  for (const std::string& line : ReadLines(path)) {
    std::istringstream in(line);
    Record record;
    in >> record.event >> record.fire >> record.item;
    if (record.event == "start") {
      std::string parameter, token;
      in >> parameter >> token;
    }
    in >> record.instance;
    if (!record.instance.empty()) records.push_back(record);
  }
  return records;
}

std::map<std::string, std::map<int, std::vector<std::string>>> Ends(
    const std::vector<Record>& records) {
  std::map<std::string, std::map<int, std::vector<std::string>>> ends;
  for (const Record& record : records) {
    if (record.event == "end") ends[record.fire][record.item].push_back(record.instance);
  }
  return ends;
}

std::set<int> ParseItems(const std::string& list) {
  std::set<int> items;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    if (item != "-") items.insert(std::stoi(item));
  }
  return items;
}

ZookeeperServer* ClusterHarness::shared_server_ = nullptr;
int ClusterHarness::counter_ = 0;

ClusterHarness::ClusterHarness(std::string namespace_prefix, std::string listeners)
    : namespace_prefix_(std::move(namespace_prefix)), listeners_(std::move(listeners)) {}

void ClusterHarness::SetUpTestSuite() { shared_server_ = new ZookeeperServer(); }

void ClusterHarness::TearDownTestSuite() {
  delete shared_server_;
  shared_server_ = nullptr;
}

void ClusterHarness::SetUp() {
  namespace_ =
      namespace_prefix_ + "-" + std::to_string(++counter_) + "-" + std::to_string(getpid());
  ConnectObserver(shared_server_);
}

void ClusterHarness::ConnectObserver(ZookeeperServer* server) {
  server_ = server;
  observer_.reset();
  std::string error;
  registry::ZookeeperOptions options;
  options.connect_string = server_->connect_string();
  observer_ = registry::ZookeeperRegistry::Connect(options, &error);
  ASSERT_NE(observer_, nullptr) << error;
}

ChildProcess& ClusterHarness::Start(const std::string& id, const std::string& schedule, int work_ms,
                                    bool failover) {
  std::string path = dir_.File(id + ".yaml");
  WriteFile(path, "instance_id: " + id +
                      "\n"
                      "registry:\n"
                      "  type: zookeeper\n"
                      "  zookeeper:\n"
                      "    servers: " +
                      server_->connect_string() + "\n    namespace: " + namespace_ +
                      "\n    session_timeout: " + std::to_string(kSessionTimeout.count()) +
                      "ms\n"
                      "    connect_timeout: 10s\n"
                      "plugins:\n"
                      "  dirs: [" SHARDJOB_PLUGIN_DIR ", " SHARDJOB_APP_FIXTURE_DIR
                      "]\n"
                      "http:\n"
                      "  listen: 127.0.0.1:0\n"
                      "shutdown_grace: 3s\n"
                      "jobs:\n"
                      "  - name: job\n"
                      "    class: RECORDING_JOB\n" +
                      schedule +
                      "    sharding_total_count: 4\n"
                      "    listeners: [" +
                      listeners_ +
                      "]\n"
                      "    failover: " +
                      (failover ? "true" : "false") +
                      "\n"
                      "    props: {record.file: " +
                      record_ + ", work.ms: \"" + std::to_string(work_ms) + "\"}\n");
  processes_[id] =
      std::make_unique<ChildProcess>(std::vector<std::string>{SHARDJOB_BINARY, "run", "-c", path});
  return *processes_[id];
}

void ClusterHarness::Kill(const std::string& id, int signal) {
  ASSERT_EQ(kill(processes_.at(id)->pid(), signal), 0);
  if (signal == SIGKILL) processes_.at(id)->Wait();
}

void ClusterHarness::StopAll() {
  for (auto& [id, process] : processes_) {
    if (process->Exited()) continue;
    kill(process->pid(), SIGTERM);
    EXPECT_EQ(process->Wait(), 0) << id << ":\n" << process->output();
  }
}

std::string ClusterHarness::HttpAddressOf(const std::string& id) {
  std::string data;
  if (observer_->Get("/" + namespace_ + "/instances/" + id, &data, nullptr, nullptr) !=
      registry::Code::kOk) {
    return "";
  }
  nlohmann::json info = nlohmann::json::parse(data, nullptr, false);
  return info.is_object() && info.contains("http") && info["http"].is_string()
             ? info["http"].get<std::string>()
             : "";
}

std::vector<std::string> ClusterHarness::Children(const std::string& path) {
  std::vector<std::string> children;
  observer_->GetChildren(path, &children, nullptr);
  return children;
}

std::set<std::string> ClusterHarness::Instances() {
  std::vector<std::string> children = Children(JobPath() + "/instances");
  return {children.begin(), children.end()};
}

std::vector<std::string> ClusterHarness::Candidates() {
  std::vector<std::string> names = Children(JobPath() + "/leader");
  std::sort(names.begin(), names.end());
  std::vector<std::string> ids;
  for (const std::string& name : names) {
    std::string id;
    if (observer_->Get(JobPath() + "/leader/" + name, &id, nullptr, nullptr) ==
        registry::Code::kOk) {
      ids.push_back(id);
    }
  }
  return ids;
}

std::string ClusterHarness::Leader() {
  std::vector<std::string> candidates = Candidates();
  return candidates.empty() ? "" : candidates[0];
}

std::map<std::string, std::vector<int>> ClusterHarness::Assignment() {
  std::string data;
  std::map<std::string, std::vector<int>> assignment;
  if (observer_->Get(JobPath() + "/assignment", &data, nullptr, nullptr) != registry::Code::kOk) {
    return assignment;
  }
  Json json = Json::parse(data, nullptr, false);
  if (!json.is_object() || !json.contains("instances")) return assignment;
  for (auto& [instance, items] : json["instances"].items()) {
    assignment[instance] = items.get<std::vector<int>>();
  }
  return assignment;
}

Json ClusterHarness::State(int item) {
  std::string data;
  observer_->Get(JobPath() + "/shards/" + std::to_string(item) + "/state", &data, nullptr, nullptr);
  Json state = Json::parse(data, nullptr, false);
  return state.is_object() ? state : Json::object();
}

std::set<int> ClusterHarness::StartedItems(const std::string& fire) {
  std::set<int> started;
  for (const Record& record : ReadRecords(record_)) {
    if (record.event == "start" && record.fire == fire) started.insert(record.item);
  }
  return started;
}

bool ClusterHarness::Committed(const std::string& fire, const std::vector<int>& items,
                               const std::string& by) {
  for (int item : items) {
    Json state = State(item);
    if (state.value("committed_fire", "") != fire) return false;
    if (!by.empty() && state.value("committed_by", "") != by) return false;
  }
  return true;
}

std::string ClusterHarness::Trigger() {
  std::string created;
  EXPECT_EQ(observer_->Create(JobPath() + "/triggers/trigger-", "",
                              registry::NodeMode::kPersistentSequential, &created),
            registry::Code::kOk);
  return created.substr(created.rfind('/') + 1);
}

void ClusterHarness::ExpectNoTaskCommittedTwice() {
  std::map<std::pair<std::string, int>, std::vector<std::string>> committers;
  for (const std::string& line : ReadLines(record_)) {
    std::istringstream in(line);
    std::string event, fire, failed, items, instance;
    in >> event >> fire >> failed >> items >> instance;
    if (event != "after") continue;
    std::set<int> refused = ParseItems(failed.substr(failed.find('=') + 1));
    for (int item : ParseItems(items.substr(items.find('=') + 1))) {
      if (refused.count(item) == 0) committers[{fire, item}].push_back(instance);
    }
  }
  EXPECT_FALSE(committers.empty());
  for (const auto& [task, instances] : committers) {
    EXPECT_EQ(instances.size(), 1u) << "fire " << task.first << " shard " << task.second
                                    << " committed by " << ::testing::PrintToString(instances);
  }
}

}  // namespace shardjob::testing
