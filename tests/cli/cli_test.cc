// Tests of the `shardjob` program itself: exit codes and what it prints.

#include <signal.h>
#include <stdlib.h>

#include <regex>
#include <set>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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

constexpr const char* kShardjob = SHARDJOB_BINARY;

class CliTest : public ::testing::Test {
 protected:
  // The example configs find the plugins of this build (not build/plugins) through it.
  // Their HTTP endpoint takes a free port, and their trace database lives in a temp dir.
  static void SetUpTestSuite() {
    setenv("SHARDJOB_PLUGIN_DIR", SHARDJOB_PLUGIN_DIR, 1);
    setenv("SHARDJOB_HTTP", "127.0.0.1:0", 1);
  }
  void SetUp() override { setenv("SHARDJOB_TRACE_DB", dir_.File("trace.db").c_str(), 1); }

  std::string WriteConfig(const std::string& text) {
    std::string path = dir_.File("config.yaml");
    WriteFile(path, text);
    return path;
  }

  TempDir dir_;
};

TEST_F(CliTest, QuickstartRunsEveryShardWithItsParameterAndStopsOnSigterm) {
  ChildProcess run({kShardjob, "run", "-c", SHARDJOB_SOURCE_DIR "/examples/quickstart.yaml"});
  // The three jobs of the quick start, every shard, each with its item parameter.
  const std::set<std::string> expected = {
      "order-archive shard=0/4 parameter=Beijing",   "order-archive shard=1/4 parameter=Shanghai",
      "order-archive shard=2/4 parameter=Guangzhou", "order-archive shard=3/4 parameter=Shenzhen",
      "order-sync shard=0/4 parameter=Beijing",      "order-sync shard=1/4 parameter=Shanghai",
      "order-sync shard=2/4 parameter=Guangzhou",    "order-sync shard=3/4 parameter=Shenzhen",
      "report-script shard=0/4 parameter=north",     "report-script shard=1/4 parameter=south",
      "report-script shard=2/4 parameter=east",      "report-script shard=3/4 parameter=west"};
  std::regex started(R"(job=(\S+) fire=\d+ shard=(\d+/\d+) .*parameter=(\S+) started)");
  std::set<std::string> seen;
  bool all = run.ReadUntil(
      [&](const std::string& output) {
        seen.clear();
        for (std::sregex_iterator it(output.begin(), output.end(), started), end; it != end; ++it) {
          seen.insert((*it)[1].str() + " shard=" + (*it)[2].str() + " parameter=" + (*it)[3].str());
        }
        return seen == expected;
      },
      std::chrono::seconds(20));
  ASSERT_TRUE(all) << run.output();
  ASSERT_EQ(kill(run.pid(), SIGTERM), 0);
  EXPECT_EQ(run.Wait(), 0) << run.output();
  EXPECT_THAT(run.output(), HasSubstr("stopping gracefully"));
  EXPECT_THAT(run.output(), HasSubstr("stopped"));
}

TEST_F(CliTest, ValidateAcceptsTheQuickstart) {
  ChildProcess validate(
      {kShardjob, "validate", "-c", SHARDJOB_SOURCE_DIR "/examples/quickstart.yaml"});
  EXPECT_EQ(validate.Wait(), 0) << validate.output();
  EXPECT_THAT(validate.output(), HasSubstr("OK"));
}

TEST_F(CliTest, ValidateRejectsAMisspeltKeyNamingTheKeyAndTheLine) {
  std::string path = WriteConfig(
      "registry: {type: embedded}\n"
      "plugins: {dirs: [" SHARDJOB_PLUGIN_DIR
      "]}\n"
      "jobs:\n"
      "  - name: typo\n"
      "    type: SCRIPT\n"
      "    shardng_total_count: 4\n"
      "    props: {script.command.line: /bin/true}\n");
  ChildProcess validate({kShardjob, "validate", "-c", path});
  EXPECT_EQ(validate.Wait(), 1);
  EXPECT_THAT(validate.output(), HasSubstr(path + ":6:"));
  EXPECT_THAT(validate.output(), HasSubstr("shardng_total_count"));
  EXPECT_THAT(validate.output(), HasSubstr("sharding_total_count"));  // the suggestion
}

TEST_F(CliTest, ValidateRejectsAnUnknownPluginTypeNamingIt) {
  std::string path = WriteConfig(
      "registry: {type: embedded}\n"
      "plugins: {dirs: [" SHARDJOB_PLUGIN_DIR
      "]}\n"
      "jobs:\n"
      "  - name: grpc-call\n"
      "    type: GRPC\n");
  ChildProcess validate({kShardjob, "validate", "-c", path});
  EXPECT_EQ(validate.Wait(), 1);
  EXPECT_THAT(validate.output(), HasSubstr("unknown executor type 'GRPC'"));
  EXPECT_THAT(validate.output(), HasSubstr("job 'grpc-call'"));
  EXPECT_THAT(validate.output(), HasSubstr(path + ":4:"));
}

TEST_F(CliTest, RunRefusesABadConfigWithoutStarting) {
  std::string path = WriteConfig(
      "registry: {type: embedded}\n"
      "plugins: {dirs: [" SHARDJOB_PLUGIN_DIR
      "]}\n"
      "jobs:\n"
      "  - name: bad-cron\n"
      "    type: SCRIPT\n"
      "    cron: \"0 0 25 * * ?\"\n"
      "    props: {script.command.line: /bin/true}\n");
  ChildProcess run({kShardjob, "run", "-c", path});
  EXPECT_EQ(run.Wait(), 1);
  EXPECT_THAT(run.output(), HasSubstr(path + ":6:"));
  EXPECT_THAT(run.output(), HasSubstr("25"));
}

TEST_F(CliTest, PluginsListsEveryBuiltInType) {
  ChildProcess plugins({kShardjob, "plugins", "-d", SHARDJOB_PLUGIN_DIR});
  EXPECT_EQ(plugins.Wait(), 0) << plugins.output();
  for (const char* type : {"SIMPLE", "SCRIPT", "AVG_ALLOCATION", "ODEVITY", "ROUND_ROBIN", "LOG",
                           "THROW", "IGNORE", "EXAMPLE_ORDER_SYNC"}) {
    EXPECT_THAT(plugins.output(), HasSubstr(std::string(" ") + type + " ")) << type;
  }
  EXPECT_THAT(plugins.output(), Not(HasSubstr("REFUSED")));
}

TEST_F(CliTest, PluginsReportsARefusedLibraryAndFails) {
  WriteFile(dir_.File("junk.so"), "not a shared object");
  ChildProcess plugins({kShardjob, "plugins", "-d", dir_.path().string()});
  EXPECT_EQ(plugins.Wait(), 1);
  EXPECT_THAT(plugins.output(), HasSubstr("REFUSED"));
  EXPECT_THAT(plugins.output(), HasSubstr("junk.so"));
}

TEST_F(CliTest, TriggerAndStatusOperateAZookeeperCluster) {
  testing::ZookeeperServer server;
  std::string record = dir_.File("record.txt");
  std::string path = WriteConfig(
      "registry:\n  type: zookeeper\n  zookeeper: {servers: " + server.connect_string() +
      ", namespace: cli}\n"
      "plugins: {dirs: [" SHARDJOB_PLUGIN_DIR
      "]}\n"
      "jobs:\n"
      "  - name: on-demand\n"
      "    type: SCRIPT\n"
      "    sharding_total_count: 2\n"
      "    props: {script.command.line: /bin/sh -c 'echo $SHARDJOB_FIRE_ID >> " +
      record + "'}\n");
  ChildProcess run({kShardjob, "run", "-c", path});
  ASSERT_TRUE(run.ReadUntil(
      [](const std::string& output) { return output.find("is the leader") != std::string::npos; },
      std::chrono::seconds(20)))
      << run.output();
  ChildProcess trigger({kShardjob, "trigger", "-c", path, "on-demand"});
  ASSERT_EQ(trigger.Wait(), 0) << trigger.output();
  EXPECT_THAT(trigger.output(), HasSubstr("trigger-0000000000"));
  ASSERT_TRUE(testing::WaitUntil([&] { return testing::ReadLines(record).size() == 2; }));
  EXPECT_EQ(testing::ReadLines(record)[0], "trigger-0000000000");
  ASSERT_TRUE(testing::WaitUntil([&] {
    ChildProcess status({kShardjob, "status", "-c", path});
    return status.Wait() == 0 &&
           status.output().find("shard 1     committed trigger-0000000000") != std::string::npos;
  }));
  ChildProcess status({kShardjob, "status", "-c", path});
  ASSERT_EQ(status.Wait(), 0);
  EXPECT_THAT(status.output(), HasSubstr("job on-demand"));
  EXPECT_THAT(status.output(), HasSubstr("leader"));
  ChildProcess unknown({kShardjob, "trigger", "-c", path, "no-such-job"});
  EXPECT_EQ(unknown.Wait(), 1);
  EXPECT_THAT(unknown.output(), HasSubstr("no-such-job"));
  ASSERT_EQ(kill(run.pid(), SIGTERM), 0);
  EXPECT_EQ(run.Wait(), 0) << run.output();
}

TEST_F(CliTest, TriggerRefusesTheEmbeddedRegistry) {
  ChildProcess trigger(
      {kShardjob, "trigger", "-c", SHARDJOB_SOURCE_DIR "/examples/quickstart.yaml", "order-sync"});
  EXPECT_EQ(trigger.Wait(), 1);
  EXPECT_THAT(trigger.output(), HasSubstr("embedded"));
}

TEST_F(CliTest, UnknownCommandPrintsUsage) {
  ChildProcess bad({kShardjob, "launch"});
  EXPECT_EQ(bad.Wait(), 2);
  EXPECT_THAT(bad.output(), HasSubstr("usage: shardjob"));
}

}  // namespace
}  // namespace shardjob
