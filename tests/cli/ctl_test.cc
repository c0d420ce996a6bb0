// Tests of `shardjob ctl`: the real program against a real ZooKeeper, mostly with no instance up.

#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/test_support.h"
#include "support/zookeeper_server.h"

namespace shardjob {
namespace {

using testing::ChildProcess;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;
using testing::WriteFile;
using Json = nlohmann::json;

constexpr const char* kShardjob = SHARDJOB_BINARY;

// The fire id `job trigger` printed, among whatever else the output holds.
std::string FireId(const std::string& output) {
  std::smatch match;
  static const std::regex fire(R"(^trigger-\d+$)", std::regex::multiline);
  return std::regex_search(output, match, fire) ? match.str() : std::string();
}

struct Result {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

class CtlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    setenv("SHARDJOB_HTTP", "127.0.0.1:0", 1);
    setenv("TZ", "UTC", 1);
    server_ = new testing::ZookeeperServer();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  // A config naming the suite's ZooKeeper, in a namespace of this test's own; `extra` is appended
  // (tracing, jobs).
  std::string WriteConfig(const std::string& extra = std::string()) {
    static std::atomic<int> counter{0};
    std::string path = dir_.File("config.yaml");
    WriteFile(path, "registry:\n  type: zookeeper\n  zookeeper: {servers: \"" +
                        server_->connect_string() + "\", namespace: ctl" +
                        std::to_string(counter++) +
                        "}\n"
                        "plugins: {dirs: [\"" +
                        plugins_ + "\"]}\n" + extra);
    return path;
  }

  std::string WriteJobFile(const std::string& name, const std::string& text) {
    std::string path = dir_.File(name);
    WriteFile(path, text);
    return path;
  }

  Result Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {kShardjob, "ctl", "-c", config_});
    ChildProcess child(args);
    Result result;
    result.exit_code = child.Wait();
    result.output = child.output();
    return result;
  }

  // Runs `ctl --json ARGS` with stderr kept apart, and parses its output.
  Json CtlJson(std::vector<std::string> args) {
    std::string errors = dir_.File("stderr.txt");
    std::vector<std::string> argv = {"/bin/sh", "-c",    "exec \"$0\" \"$@\" 2>" + errors,
                                     kShardjob, "ctl",   "-c",
                                     config_,   "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildProcess child(argv);
    int exit_code = child.Wait();
    std::string stderr_text;
    for (const std::string& line : testing::ReadLines(errors)) stderr_text += line + "\n";
    EXPECT_EQ(exit_code, 0) << child.output() << stderr_text;
    Json parsed = Json::parse(child.output(), nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << child.output();
    return parsed;
  }

  static constexpr const char* kNightly =
      "# a job made with shardjob ctl\n"
      "name: nightly\n"
      "type: SCRIPT\n"
      "description: the nightly export\n"
      "cron: \"0 0 2 * * ?\"\n"
      "time_zone: UTC\n"
      "sharding_total_count: 3\n"
      "props:\n"
      "  script.command.line: /bin/true\n";

  void CreateNightly() {
    Result created = Ctl({"job", "create", "-f", WriteJobFile("nightly.yaml", kNightly)});
    ASSERT_EQ(created.exit_code, 0) << created.output;
  }

  // The plugins these tests use, linked into a dir of their own: a library of the build's plugin
  // dir that is stale or refused does not concern them.
  std::string LinkPlugins() {
    std::filesystem::path dir = dir_.File("plugins");
    std::filesystem::create_directories(dir);
    for (const char* name : {"shardjob_executor_script.so", "shardjob_sharding_strategy_average.so",
                             "shardjob_error_handler_log.so", "shardjob_tracer_sqlite.so"}) {
      std::filesystem::create_symlink(std::filesystem::path(SHARDJOB_PLUGIN_DIR) / name,
                                      dir / name);
    }
    return dir.string();
  }

  static testing::ZookeeperServer* server_;
  TempDir dir_;
  std::string plugins_ = LinkPlugins();
  std::string config_ = WriteConfig();
};

testing::ZookeeperServer* CtlTest::server_ = nullptr;

TEST_F(CtlTest, CreatesListsShowsUpdatesAndDeletesAJob) {
  Result created = Ctl({"job", "create", "-f", WriteJobFile("nightly.yaml", kNightly)});
  ASSERT_EQ(created.exit_code, 0) << created.output;
  EXPECT_THAT(created.output, HasSubstr("created job nightly"));

  Result table = Ctl({"jobs"});
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("JOB"));
  EXPECT_THAT(table.output, HasSubstr("STATUS"));
  EXPECT_THAT(table.output, HasSubstr("NEXT FIRE"));
  EXPECT_THAT(table.output, HasSubstr("\nnightly "));
  EXPECT_THAT(table.output, HasSubstr("CRASHED"));  // no instance runs it

  Json jobs = CtlJson({"jobs"});
  ASSERT_TRUE(jobs.is_array()) << jobs;
  ASSERT_EQ(jobs.size(), 1u) << jobs;
  EXPECT_EQ(jobs[0]["name"], "nightly");
  EXPECT_EQ(jobs[0]["shard_count"], 3);
  EXPECT_EQ(jobs[0]["status"], "CRASHED");

  Result show = Ctl({"job", "show", "nightly"});
  ASSERT_EQ(show.exit_code, 0) << show.output;
  EXPECT_THAT(show.output, HasSubstr("the nightly export"));
  EXPECT_THAT(show.output, HasSubstr("sharding_total_count: 3"));
  Json job = CtlJson({"job", "show", "nightly"});
  ASSERT_TRUE(job.contains("config_version")) << job;
  EXPECT_EQ(job["config"]["sharding_total_count"], 3);
  const int version = job["config_version"].get<int>();

  std::string wider = kNightly;
  wider.replace(wider.find("sharding_total_count: 3"), 23, "sharding_total_count: 4");
  std::string wider_file = WriteJobFile("wider.yaml", wider);
  Result updated =
      Ctl({"job", "update", "nightly", "-f", wider_file, "--if-version", std::to_string(version)});
  ASSERT_EQ(updated.exit_code, 0) << updated.output;
  EXPECT_THAT(updated.output, HasSubstr("updated job nightly"));
  EXPECT_EQ(CtlJson({"job", "show", "nightly"})["config"]["sharding_total_count"], 4);

  // The version read before that update is stale now.
  Result stale =
      Ctl({"job", "update", "nightly", "-f", wider_file, "--if-version", std::to_string(version)});
  EXPECT_EQ(stale.exit_code, 1) << stale.output;
  EXPECT_THAT(stale.output, HasSubstr("conflict"));

  Result again = Ctl({"job", "create", "-f", wider_file});
  EXPECT_EQ(again.exit_code, 1) << again.output;
  EXPECT_THAT(again.output, HasSubstr("conflict"));

  Result deleted = Ctl({"job", "delete", "nightly"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.output;
  EXPECT_THAT(deleted.output, HasSubstr("deleted job nightly"));
  EXPECT_EQ(CtlJson({"jobs"}), Json::array());
  Result gone = Ctl({"job", "show", "nightly"});
  EXPECT_EQ(gone.exit_code, 1) << gone.output;
  EXPECT_THAT(gone.output, HasSubstr("nightly"));
}

TEST_F(CtlTest, UpdateTakesTheNameFromTheCommandLineWhenTheFileHasNone) {
  CreateNightly();
  std::string nameless = WriteJobFile("nameless.json",
                                      "{\"type\": \"SCRIPT\", \"sharding_total_count\": 2, "
                                      "\"props\": {\"script.command.line\": \"/bin/true\"}}\n");
  Result updated = Ctl({"job", "update", "nightly", "-f", nameless});
  ASSERT_EQ(updated.exit_code, 0) << updated.output;
  EXPECT_EQ(CtlJson({"job", "show", "nightly"})["config"]["sharding_total_count"], 2);
  Result other = Ctl({"job", "update", "other", "-f", dir_.File("nightly.yaml")});
  EXPECT_EQ(other.exit_code, 1) << other.output;
  EXPECT_THAT(other.output, HasSubstr("nightly.yaml:2:"));
  EXPECT_THAT(other.output, HasSubstr("'other'"));
}

TEST_F(CtlTest, TheJobFileIsSubstitutedOnceAndStoredLiterally) {
  setenv("CTL_TEST_GREETING", "hello", 1);
  std::string path = WriteJobFile("dollars.yaml",
                                  "name: dollars\n"
                                  "type: SCRIPT\n"
                                  "props:\n"
                                  "  script.command.line: echo ${CTL_TEST_GREETING} $1 $$HOME\n");
  Result created = Ctl({"job", "create", "-f", path});
  ASSERT_EQ(created.exit_code, 0) << created.output;
  EXPECT_EQ(CtlJson({"job", "show", "dollars"})["config"]["props"]["script.command.line"],
            "echo hello $1 $HOME");
}

TEST_F(CtlTest, DisablesAndEnablesShardsJobsAndInstances) {
  CreateNightly();
  Result disabled = Ctl({"shard", "disable", "nightly", "1"});
  ASSERT_EQ(disabled.exit_code, 0) << disabled.output;
  Json shards = CtlJson({"shards", "nightly"});
  ASSERT_TRUE(shards.is_array()) << shards;
  ASSERT_EQ(shards.size(), 3u) << shards;
  for (const Json& shard : shards) {
    EXPECT_EQ(shard["disabled"], shard["item"] == 1) << shard;
  }
  Result table = Ctl({"shards", "nightly"});
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("ITEM"));
  EXPECT_THAT(table.output, HasSubstr("OWNER"));
  ASSERT_EQ(Ctl({"shard", "enable", "nightly", "1"}).exit_code, 0);
  for (const Json& shard : CtlJson({"shards", "nightly"})) EXPECT_EQ(shard["disabled"], false);

  ASSERT_EQ(Ctl({"job", "disable", "nightly"}).exit_code, 0);
  EXPECT_EQ(CtlJson({"job", "show", "nightly"})["disabled"], true);
  ASSERT_EQ(Ctl({"job", "enable", "nightly"}).exit_code, 0);
  EXPECT_EQ(CtlJson({"job", "show", "nightly"})["disabled"], false);

  // An instance that is not live can be disabled: it stays disabled if it comes.
  Result instance = Ctl({"instance", "disable", "host-a@-@4242"});
  ASSERT_EQ(instance.exit_code, 0) << instance.output;
  EXPECT_THAT(instance.output, HasSubstr("nightly"));
  EXPECT_THAT(CtlJson({"dump", "nightly"}).dump(), HasSubstr("host-a@-@4242"));
  Json enabled = CtlJson({"instance", "enable", "host-a@-@4242", "--job", "nightly"});
  EXPECT_EQ(enabled["jobs"], Json::array({"nightly"})) << enabled;
  EXPECT_THAT(CtlJson({"dump", "nightly"}).dump(), Not(HasSubstr("host-a@-@4242")));
}

TEST_F(CtlTest, TriggerWritesATriggerNodeThatDumpShows) {
  CreateNightly();
  Result trigger = Ctl({"job", "trigger", "nightly"});
  ASSERT_EQ(trigger.exit_code, 0) << trigger.output;
  EXPECT_THAT(trigger.output, HasSubstr("trigger-"));
  std::string fire = FireId(trigger.output);
  ASSERT_FALSE(fire.empty()) << trigger.output;
  Json dump = CtlJson({"dump", "nightly"});
  ASSERT_TRUE(dump.is_object()) << dump;
  bool found = false;
  for (const auto& [path, node] : dump.items()) {
    if (path.find("/triggers/" + fire) != std::string::npos) found = true;
  }
  EXPECT_TRUE(found) << fire << " not in " << dump.dump(2);
}

TEST_F(CtlTest, AnInvalidJobFileIsRefusedNamingTheFileLineAndKey) {
  std::string typo = WriteJobFile("typo.yaml",
                                  "name: typo\n"
                                  "type: SCRIPT\n"
                                  "shardng_total_count: 4\n"
                                  "props: {script.command.line: /bin/true}\n");
  Result refused = Ctl({"job", "create", "-f", typo});
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr(typo + ":3:1:"));
  EXPECT_THAT(refused.output, HasSubstr("shardng_total_count"));
  EXPECT_THAT(refused.output, HasSubstr("sharding_total_count"));  // the suggestion
  EXPECT_THAT(refused.output, Not(HasSubstr("jobs[0]")));

  std::string unknown_type = WriteJobFile("grpc.yaml", "name: grpc-call\ntype: GRPC\n");
  Result plugin = Ctl({"job", "create", "-f", unknown_type});
  EXPECT_EQ(plugin.exit_code, 1) << plugin.output;
  EXPECT_THAT(plugin.output, HasSubstr("unknown executor type 'GRPC'"));
  EXPECT_THAT(plugin.output, HasSubstr(unknown_type + ":1:"));

  std::string broken = WriteJobFile("broken.yaml", "name: broken\ntype: [SCRIPT\n");
  Result syntax = Ctl({"job", "create", "-f", broken});
  EXPECT_EQ(syntax.exit_code, 1) << syntax.output;
  EXPECT_THAT(syntax.output, HasSubstr(broken + ":"));
  EXPECT_THAT(syntax.output, HasSubstr("invalid YAML"));

  Result missing = Ctl({"job", "create", "-f", dir_.File("absent.yaml")});
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_THAT(missing.output, HasSubstr("absent.yaml"));
  EXPECT_EQ(CtlJson({"jobs"}), Json::array());
}

TEST_F(CtlTest, AnUnknownJobFailsNamingIt) {
  for (std::vector<std::string> args : {std::vector<std::string>{"job", "show", "no-such-job"},
                                        std::vector<std::string>{"job", "trigger", "no-such-job"},
                                        std::vector<std::string>{"job", "disable", "no-such-job"},
                                        std::vector<std::string>{"shards", "no-such-job"},
                                        std::vector<std::string>{"job", "delete", "no-such-job"}}) {
    Result result = Ctl(args);
    EXPECT_EQ(result.exit_code, 1) << args[1] << ": " << result.output;
    EXPECT_THAT(result.output, HasSubstr("no-such-job")) << args[1];
    EXPECT_THAT(result.output, HasSubstr("not found")) << args[1];
  }
}

TEST_F(CtlTest, BadUsageExitsTwoWithTheUsage) {
  std::vector<std::vector<std::string>> cases = {
      {"ctl"},
      {"ctl", "jobs"},  // no -c
      {"ctl", "-c", config_, "launch"},
      {"ctl", "-c", config_, "job"},
      {"ctl", "-c", config_, "job", "frobnicate", "x"},
      {"ctl", "-c", config_, "job", "show"},
      {"ctl", "-c", config_, "jobs", "extra"},
      {"ctl", "-c", config_, "jobs", "--bogus"},
      {"ctl", "-c", config_, "jobs", "--if-version", "3"},
      {"ctl", "-c", config_, "job", "create"},  // no -f
      {"ctl", "-c", config_, "job", "update", "x", "-f", "x.yaml", "--if-version", "soon"},
      {"ctl", "-c", config_, "shard", "disable", "nightly", "one"},
      {"ctl", "-c", config_, "history", "executions", "--since", "yesterday"},
      {"ctl", "-c", config_, "history", "executions", "--failed", "--succeeded"},
  };
  for (std::vector<std::string> args : cases) {
    args.insert(args.begin(), kShardjob);
    ChildProcess child(args);
    EXPECT_EQ(child.Wait(), 2) << args.back() << ": " << child.output();
    EXPECT_THAT(child.output(), HasSubstr("usage: shardjob ctl")) << args.back();
  }
  ChildProcess help({kShardjob, "ctl", "help"});
  EXPECT_EQ(help.Wait(), 0);
  EXPECT_THAT(help.output(), HasSubstr("history executions"));
}

TEST_F(CtlTest, TheEmbeddedRegistryIsRefused) {
  config_ = dir_.File("embedded.yaml");
  WriteFile(config_, "registry: {type: embedded}\n");
  Result jobs = Ctl({"jobs"});
  EXPECT_EQ(jobs.exit_code, 1) << jobs.output;
  EXPECT_THAT(jobs.output, HasSubstr("embedded"));
}

// With digest auth every node carries the creator's ACL: another identity, or none, can neither
// read nor change the namespace, and says why.
TEST_F(CtlTest, WithDigestAuthOtherIdentitiesAreKeptOutOfTheNamespace) {
  auto config_with = [&](const std::string& name, const std::string& digest) {
    std::string path = dir_.File(name);
    WriteFile(path, "registry:\n  type: zookeeper\n  zookeeper:\n    servers: \"" +
                        server_->connect_string() + "\"\n    namespace: ctl-digest\n" +
                        (digest.empty() ? "" : "    digest: " + digest + "\n") +
                        "plugins: {dirs: [\"" + plugins_ + "\"]}\n");
    return path;
  };
  const std::string owner = config_with("owner.yaml", "ops:secret");
  const std::string stranger = config_with("stranger.yaml", "ops:guess");
  const std::string anonymous = config_with("anonymous.yaml", "");

  config_ = owner;
  CreateNightly();
  Json jobs = CtlJson({"jobs"});
  ASSERT_EQ(jobs.size(), 1u);

  for (const std::string& other : {stranger, anonymous}) {
    config_ = other;
    Result listed = Ctl({"jobs"});
    EXPECT_EQ(listed.exit_code, 1) << listed.output;
    EXPECT_THAT(listed.output, HasSubstr("NOAUTH")) << listed.output;
    Result triggered = Ctl({"job", "trigger", "nightly"});
    EXPECT_EQ(triggered.exit_code, 1) << triggered.output;
    Result deleted = Ctl({"job", "delete", "nightly"});
    EXPECT_EQ(deleted.exit_code, 1) << deleted.output;
  }
  config_ = owner;
  Json still = CtlJson({"job", "show", "nightly"});
  EXPECT_EQ(still["name"], "nightly");
}

// A running instance: it shows in `instances` with its job, and what it traces can be read back.
TEST_F(CtlTest, ShowsARunningInstanceAndReadsItsTraceHistory) {
  std::string database = dir_.File("trace.db");
  config_ = WriteConfig("tracing:\n  type: SQLITE\n  props: {path: \"" + database +
                        "\"}\n"
                        "jobs:\n"
                        "  - name: on-demand\n"
                        "    type: SCRIPT\n"
                        "    sharding_total_count: 2\n"
                        "    props: {script.command.line: /bin/true}\n");
  ChildProcess run({kShardjob, "run", "-c", config_});
  ASSERT_TRUE(run.ReadUntil(
      [](const std::string& output) { return output.find("is the leader") != std::string::npos; },
      std::chrono::seconds(20)))
      << run.output();

  Json instances = CtlJson({"instances"});
  ASSERT_TRUE(instances.is_array()) << instances;
  ASSERT_EQ(instances.size(), 1u) << instances;
  EXPECT_EQ(instances[0]["jobs"], Json::array({"on-demand"})) << instances;
  EXPECT_EQ(instances[0]["pid"], run.pid()) << instances;
  const std::string id = instances[0]["id"].get<std::string>();
  Result table = Ctl({"instances"});
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("INSTANCE"));
  EXPECT_THAT(table.output, HasSubstr(id));
  EXPECT_THAT(table.output, HasSubstr("on-demand"));
  Result jobs = Ctl({"jobs"});
  EXPECT_THAT(jobs.output, HasSubstr(id));  // the leader

  Result trigger = Ctl({"job", "trigger", "on-demand"});
  ASSERT_EQ(trigger.exit_code, 0) << trigger.output;
  std::string fire = FireId(trigger.output);
  ASSERT_FALSE(fire.empty()) << trigger.output;
  Json page;
  ASSERT_TRUE(testing::WaitUntil([&] {
    page = CtlJson({"history", "executions", "--job", "on-demand", "--fire", fire, "--succeeded"});
    return page.is_object() && page["total"] == 2;
  })) << page.dump(2);
  ASSERT_EQ(page["events"].size(), 2u);
  std::vector<int> items;
  for (const Json& event : page["events"]) {
    EXPECT_EQ(event["fire_id"], fire);
    EXPECT_EQ(event["instance_id"], id);
    EXPECT_EQ(event["success"], true);
    items.push_back(event["sharding_item"].get<int>());
  }
  std::sort(items.begin(), items.end());
  EXPECT_EQ(items, (std::vector<int>{0, 1}));
  EXPECT_EQ(CtlJson({"history", "executions", "--fire", fire, "--failed"})["total"], 0);
  EXPECT_EQ(CtlJson({"history", "executions", "--fire", fire, "--item", "1"})["total"], 1);

  Result executions = Ctl({"history", "executions", "--job", "on-demand", "--since", "1h"});
  ASSERT_EQ(executions.exit_code, 0) << executions.output;
  EXPECT_THAT(executions.output, HasSubstr("START"));
  EXPECT_THAT(executions.output, HasSubstr(fire));
  EXPECT_THAT(executions.output, HasSubstr("OK"));
  Json status = CtlJson({"history", "status", "--fire", fire, "--state", "finished"});
  EXPECT_GE(status["total"].get<int>(), 1) << status;
  Result status_table = Ctl({"history", "status", "--job", "on-demand"});
  ASSERT_EQ(status_table.exit_code, 0) << status_table.output;
  EXPECT_THAT(status_table.output, HasSubstr("TASK_FINISHED"));

  ASSERT_EQ(kill(run.pid(), SIGTERM), 0);
  EXPECT_EQ(run.Wait(), 0) << run.output();
}

TEST_F(CtlTest, HistoryWithoutTracingFailsSayingSo) {
  Result history = Ctl({"history", "executions"});
  EXPECT_EQ(history.exit_code, 1) << history.output;
  EXPECT_THAT(history.output, HasSubstr("tracing"));
}

}  // namespace
}  // namespace shardjob
