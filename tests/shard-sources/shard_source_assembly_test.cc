// A job with a shard source as the kernel assembles it, with the real plugins loaded: a
// deterministic source is tried at start, so that its bad props or a count its range does not
// make refuse the job with a line naming the file, the job and the key.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "app/job_assembly.h"
#include "config/config.h"
#include "execution/job_runtime.h"
#include "plugin/plugin_registry.h"

namespace shardjob::app {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kFile[] = "/etc/shardjob/ranges.yaml";

class ShardSourceAssemblyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    plugins_ = new plugin::PluginRegistry();
    plugins_->LoadDirectory(SHARDJOB_PLUGIN_DIR);
  }
  static void TearDownTestSuite() {
    delete plugins_;
    plugins_ = nullptr;
  }

  // One SCRIPT job whose entry starts on line 3 of kFile, with `extra` keys added to it.
  static config::JobConfig Job(const std::string& extra) {
    std::string yaml =
        "registry: {type: embedded}\n"
        "jobs:\n"
        "  - name: ranges\n"
        "    type: SCRIPT\n" +
        extra;
    config::Config config = config::ParseConfig(yaml, kFile);
    return config.jobs.at(0);
  }

  // Assembles the job; returns the problems (none when it was accepted).
  static std::vector<std::string> Assemble(const config::JobConfig& job,
                                           execution::JobPlugins* assembled) {
    std::vector<std::string> problems;
    bool ok = AssembleJob(job, *plugins_, assembled, &problems);
    EXPECT_EQ(ok, problems.empty());
    return problems;
  }

  static plugin::PluginRegistry* plugins_;
};

plugin::PluginRegistry* ShardSourceAssemblyTest::plugins_ = nullptr;

TEST_F(ShardSourceAssemblyTest, BuildsTheShardSource) {
  execution::JobPlugins assembled;
  EXPECT_THAT(Assemble(Job("    sharding_total_count: 11\n"
                           "    shard_source: RANGE\n"
                           "    props: {script.command.line: 'true', range.start: '0',\n"
                           "            range.end: '1050', range.page_size: '100'}\n"),
                       &assembled),
              IsEmpty());
  ASSERT_NE(assembled.shard_source, nullptr);
  EXPECT_TRUE(assembled.shard_source->Deterministic());
  std::vector<spi::ShardSpec> shards;
  spi::Status status = assembled.shard_source->Generate({"ranges", "1", 11}, &shards);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(shards.back().label, "[1000, 1050)");
}

TEST_F(ShardSourceAssemblyTest, NoShardSourceWithoutTheKey) {
  execution::JobPlugins assembled;
  EXPECT_THAT(Assemble(Job("    props: {script.command.line: 'true'}\n"), &assembled), IsEmpty());
  EXPECT_EQ(assembled.shard_source, nullptr);
}

TEST_F(ShardSourceAssemblyTest, RefusesAPageCountOtherThanTheShardCount) {
  execution::JobPlugins assembled;
  EXPECT_THAT(Assemble(Job("    sharding_total_count: 10\n"
                           "    shard_source: RANGE\n"
                           "    props: {script.command.line: 'true', range.start: '0',\n"
                           "            range.end: '1050', range.page_size: '100'}\n"),
                       &assembled),
              ElementsAre(std::string(kFile) +
                          ":3:5: job 'ranges': shard_source: RANGE: range.page_size 100 over "
                          "[0, 1050) makes 11 shards; set sharding_total_count: 11"));
  EXPECT_EQ(assembled.shard_source, nullptr);
}

TEST_F(ShardSourceAssemblyTest, RefusesMoreShardsThanValues) {
  execution::JobPlugins assembled;
  EXPECT_THAT(
      Assemble(Job("    sharding_total_count: 4\n"
                   "    shard_source: RANGE\n"
                   "    props: {script.command.line: 'true', range.start: '0',\n"
                   "            range.end: '3'}\n"),
               &assembled),
      ElementsAre(AllOf(HasSubstr(std::string(kFile) + ":3:5: job 'ranges': shard_source: "),
                        HasSubstr("fewer than the 4 shards"))));
}

TEST_F(ShardSourceAssemblyTest, RefusesBadProps) {
  execution::JobPlugins assembled;
  EXPECT_THAT(Assemble(Job("    shard_source: RANGE\n"
                           "    props: {script.command.line: 'true', range.end: '3'}\n"),
                       &assembled),
              ElementsAre(AllOf(HasSubstr(std::string(kFile) + ":3:5: "), HasSubstr("job 'ranges'"),
                                HasSubstr("shard_source 'RANGE'"),
                                HasSubstr("prop 'range.start' is required"))));
}

TEST_F(ShardSourceAssemblyTest, RefusesAnUnknownShardSource) {
  execution::JobPlugins assembled;
  EXPECT_THAT(
      Assemble(Job("    shard_source: RANGES\n"
                   "    props: {script.command.line: 'true'}\n"),
               &assembled),
      ElementsAre(AllOf(HasSubstr(std::string(kFile) + ":3:5: job 'ranges': shard_source: unknown "
                                                       "shard_source type 'RANGES'"),
                        HasSubstr("RANGE"))));
}

TEST_F(ShardSourceAssemblyTest, RefusesItemParametersWithAShardSource) {
  execution::JobPlugins assembled;
  EXPECT_THAT(Assemble(Job("    sharding_total_count: 2\n"
                           "    sharding_item_parameters: '0=A,1=B'\n"
                           "    shard_source: RANGE\n"
                           "    props: {script.command.line: 'true', range.start: '0',\n"
                           "            range.end: '10'}\n"),
                       &assembled),
              ElementsAre(std::string(kFile) +
                          ":3:5: job 'ranges': shard_source: a shard source generates what each "
                          "item covers; drop sharding_item_parameters"));
}

}  // namespace
}  // namespace shardjob::app
