// End-to-end tests of one instance on the embedded registry: real plugins loaded from .so files,
// real timers, real threads. Jobs record what they do into a file (see fixtures/).

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "shardjob/shardjob.h"
#include "support/test_support.h"

namespace shardjob {
namespace {

using ::testing::HasSubstr;
using testing::ReadLines;
using testing::TempDir;
using testing::WaitUntil;
using testing::WriteFile;

struct Record {
  std::string event, fire;
  int item = -1;
  std::string parameter;
  long long token = 0;
};

std::vector<Record> ReadRecords(const std::string& path) {
  std::vector<Record> records;
  for (const std::string& line : ReadLines(path)) {
    std::istringstream in(line);
    Record record;
    in >> record.event >> record.fire;
    if (record.event != "before" && record.event != "after") {
      in >> record.item >> record.parameter >> record.token;
    }
    records.push_back(record);
  }
  return records;
}

std::vector<Record> Only(const std::vector<Record>& records, const std::string& event) {
  std::vector<Record> matching;
  for (const Record& record : records) {
    if (record.event == event) matching.push_back(record);
  }
  return matching;
}

class InstanceTest : public ::testing::Test {
 protected:
  // A config with the built plugins and the recording fixtures, and `jobs` appended.
  std::string WriteConfig(const std::string& jobs, const std::string& extra = "") {
    std::string path = dir_.File("shardjob.yaml");
    WriteFile(path, std::string("registry: {type: embedded}\n") +
                        "plugins:\n  dirs: [" SHARDJOB_PLUGIN_DIR ", " SHARDJOB_APP_FIXTURE_DIR
                        "]\n" +
                        "shutdown_grace: 200ms\nlog_level: warn\n" + extra + "jobs:\n" + jobs);
    return path;
  }

  TempDir dir_;
  std::string record_ = dir_.File("record.txt");
};

TEST_F(InstanceTest, TriggeredFireRunsEveryShardOnceWithItsParameter) {
  auto instance =
      Instance::Start(WriteConfig("  - name: sync\n"
                                  "    class: RECORDING_JOB\n"
                                  "    sharding_total_count: 4\n"
                                  "    sharding_item_parameters: \"0=A,1=B,2=C,3=D\"\n"
                                  "    listeners: [RECORDING_LISTENER]\n"
                                  "    props: {record.file: " +
                                  record_ + "}\n"));
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("sync").local_items.size() == 4; }));
  instance->Trigger("sync");
  ASSERT_TRUE(WaitUntil([&] { return Only(ReadRecords(record_), "after").size() == 1; }));

  auto records = ReadRecords(record_);
  auto starts = Only(records, "start");
  ASSERT_EQ(starts.size(), 4u);
  std::map<int, std::string> parameters;
  for (const Record& start : starts) parameters[start.item] = start.parameter;
  EXPECT_EQ(parameters, (std::map<int, std::string>{{0, "A"}, {1, "B"}, {2, "C"}, {3, "D"}}));
  EXPECT_EQ(Only(records, "end").size(), 4u);
  EXPECT_EQ(records.front().event, "before");
  EXPECT_EQ(records.back().event, "after");
  EXPECT_THAT(ReadLines(record_).back(), HasSubstr("after " + starts[0].fire + " failed=- "));
  JobStats stats = instance->Stats("sync");
  EXPECT_EQ(stats.tasks_succeeded, 4u);
  EXPECT_EQ(stats.tasks_failed, 0u);
  EXPECT_TRUE(stats.leader);
}

TEST_F(InstanceTest, CronJobFiresRepeatedlyAndNoTaskRunsTwice) {
  auto instance =
      Instance::Start(WriteConfig("  - name: every-second\n"
                                  "    class: RECORDING_JOB\n"
                                  "    cron: \"* * * * * ?\"\n"
                                  "    time_zone: Europe/Berlin\n"
                                  "    sharding_total_count: 3\n"
                                  "    props: {record.file: " +
                                  record_ + "}\n"));
  ASSERT_TRUE(WaitUntil([&] { return Only(ReadRecords(record_), "end").size() >= 6; }));
  instance->Stop();

  std::set<std::pair<std::string, int>> tasks;
  std::set<std::string> fires;
  for (const Record& start : Only(ReadRecords(record_), "start")) {
    EXPECT_TRUE(tasks.insert({start.fire, start.item}).second)
        << "fire " << start.fire << " shard " << start.item << " ran twice";
    fires.insert(start.fire);
  }
  for (const std::string& fire : fires) {
    // Cron fire ids are the scheduled instant: whole seconds.
    EXPECT_EQ(std::stoll(fire) % 1000, 0) << fire;
  }
  EXPECT_GE(fires.size(), 2u);
}

TEST_F(InstanceTest, FencingTokensGrowFromFireToFire) {
  auto instance =
      Instance::Start(WriteConfig("  - name: tokens\n"
                                  "    class: RECORDING_JOB\n"
                                  "    fixed_rate: 100ms\n"
                                  "    props: {record.file: " +
                                  record_ + "}\n"));
  ASSERT_TRUE(WaitUntil([&] { return Only(ReadRecords(record_), "end").size() >= 3; }));
  instance->Stop();
  auto starts = Only(ReadRecords(record_), "start");
  for (std::size_t i = 1; i < starts.size(); ++i) {
    EXPECT_GT(starts[i].token, starts[i - 1].token);
  }
}

// overlap: buffer_one (the default): a fire arriving while the shard's previous fire runs waits,
// and a newer one replaces it; fires of one shard never overlap.
TEST_F(InstanceTest, OverlapBufferOneWaitsAndCoalesces) {
  auto instance =
      Instance::Start(WriteConfig("  - name: slow\n"
                                  "    class: RECORDING_JOB\n"
                                  "    fixed_rate: 50ms\n"
                                  "    props: {record.file: " +
                                  record_ + ", work.ms: \"300\"}\n"));
  ASSERT_TRUE(WaitUntil([&] { return Only(ReadRecords(record_), "end").size() >= 3; }));
  instance->Stop();

  JobStats stats = instance->Stats("slow");
  EXPECT_GT(stats.overlaps, 0u);
  EXPECT_GT(stats.coalesced_tasks, 0u);
  EXPECT_EQ(stats.skipped_tasks, 0u);
  auto records = ReadRecords(record_);
  for (std::size_t i = 1; i < records.size(); ++i) {
    if (records[i].event == "start") {
      EXPECT_NE(records[i - 1].event, "start");
    }
  }
  EXPECT_EQ(stats.fires, Only(records, "start").size());
}

// overlap: skip (or ElasticJob's misfire: false): the arriving fire is dropped, and counted.
TEST_F(InstanceTest, OverlapSkipDropsTheFireAndCountsIt) {
  auto instance =
      Instance::Start(WriteConfig("  - name: slow\n"
                                  "    class: RECORDING_JOB\n"
                                  "    fixed_rate: 50ms\n"
                                  "    misfire: false\n"
                                  "    props: {record.file: " +
                                  record_ + ", work.ms: \"300\"}\n"));
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("slow").skipped_tasks >= 2; }));
  instance->Stop();
  JobStats stats = instance->Stats("slow");
  // misfire: false skips overlaps and missed fires alike (a fire may come due between the
  // shard's creation and the first claim): every one of them is counted as skipped.
  EXPECT_EQ(stats.overlaps + stats.missed_tasks, stats.skipped_tasks);
  // Never two runs of a shard at once: each start follows the previous run's end. (A fire that
  // comes while the previous one is committing, not running, waits for the commit: so
  // buffered_tasks may be above 0, and is not a sign of overlap.)
  std::map<int, bool> running;
  for (const Record& record : ReadRecords(record_)) {
    if (record.event == "start") {
      EXPECT_FALSE(running[record.item]) << "shard " << record.item << " started fire "
                                         << record.fire << " while running another";
      running[record.item] = true;
    } else if (record.event == "end") {
      running[record.item] = false;
    }
  }
}

// overlap: buffer_all: every fire runs, in order, one after the other.
TEST_F(InstanceTest, OverlapBufferAllRunsEveryFireInOrder) {
  auto instance =
      Instance::Start(WriteConfig("  - name: slow\n"
                                  "    class: RECORDING_JOB\n"
                                  "    fixed_rate: 100ms\n"
                                  "    overlap: buffer_all\n"
                                  "    props: {record.file: " +
                                  record_ + ", work.ms: \"150\"}\n"));
  ASSERT_TRUE(WaitUntil([&] { return Only(ReadRecords(record_), "start").size() >= 4; }));
  instance->Stop();
  JobStats stats = instance->Stats("slow");
  EXPECT_GT(stats.buffered_tasks, 0u);
  EXPECT_EQ(stats.skipped_tasks, 0u);
  EXPECT_EQ(stats.coalesced_tasks, 0u);
  auto starts = Only(ReadRecords(record_), "start");
  ASSERT_GE(starts.size(), 3u);
  for (std::size_t i = 1; i < starts.size(); ++i) {
    // Consecutive instants of a 100 ms rate: none left out.
    EXPECT_EQ(std::stoll(starts[i].fire) - std::stoll(starts[i - 1].fire), 100);
  }
}

// T25: a slow shard does not hold its siblings back: the fast shard runs fire after fire while
// the slow one is still on its first.
TEST_F(InstanceTest, ASlowShardDoesNotHoldItsSiblingsBack) {
  auto instance =
      Instance::Start(WriteConfig("  - name: skewed\n"
                                  "    class: RECORDING_JOB\n"
                                  "    fixed_rate: 100ms\n"
                                  "    sharding_total_count: 2\n"
                                  "    overlap: skip\n"
                                  "    props: {record.file: " +
                                  record_ + ", slow.items: \"1\", slow.ms: \"1500\"}\n"));
  ASSERT_TRUE(WaitUntil([&] {
    int fast = 0;
    for (const Record& record : Only(ReadRecords(record_), "end")) fast += record.item == 0;
    return fast >= 4;
  }));
  auto records = ReadRecords(record_);
  instance->Stop();
  int slow_ends = 0;
  for (const Record& record : Only(records, "end")) slow_ends += record.item == 1;
  EXPECT_EQ(slow_ends, 0);  // shard 1 is still on its first fire
}

// timeout: the task is told to stop, counts as failed, and the next fire runs.
TEST_F(InstanceTest, ATaskOverItsTimeoutIsCancelledAndFailed) {
  auto instance =
      Instance::Start(WriteConfig("  - name: hung\n"
                                  "    class: RECORDING_JOB\n"
                                  "    fixed_rate: 100ms\n"
                                  "    timeout: 150ms\n"
                                  "    props: {record.file: " +
                                  record_ + ", work.ms: \"60000\"}\n"));
  ASSERT_TRUE(WaitUntil([&] { return Only(ReadRecords(record_), "cancelled").size() >= 2; }));
  instance->Stop();
  JobStats stats = instance->Stats("hung");
  EXPECT_GE(stats.tasks_timed_out, 2u);
  EXPECT_GE(stats.tasks_failed, stats.tasks_timed_out);
  EXPECT_EQ(stats.tasks_released, Only(ReadRecords(record_), "cancelled").size() -
                                      stats.tasks_timed_out);  // the last one, by Stop at most
}

// max_retries: a failing task runs again after its backoff, then counts as failed once.
TEST_F(InstanceTest, AFailingTaskIsRetriedWithBackoff) {
  auto instance =
      Instance::Start(WriteConfig("  - name: flaky\n"
                                  "    class: RECORDING_JOB\n"
                                  "    max_retries: 2\n"
                                  "    retry_backoff: 20ms\n"
                                  "    props: {record.file: " +
                                  record_ + ", fail.items: \"0\"}\n"));
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("flaky").local_items.size() == 1; }));
  instance->Trigger("flaky");
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("flaky").tasks_failed == 1; }));
  instance->Stop();
  JobStats stats = instance->Stats("flaky");
  EXPECT_EQ(stats.task_retries, 2u);
  EXPECT_EQ(Only(ReadRecords(record_), "fail").size(), 3u);
}

TEST_F(InstanceTest, OverlapAllowIsRefusedWithTheReason) {
  try {
    Instance::Start(
        WriteConfig("  - name: both\n"
                    "    class: RECORDING_JOB\n"
                    "    overlap: allow\n"
                    "    props: {record.file: " +
                    record_ + "}\n"));
    FAIL() << "overlap: allow must be refused";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("jobs[0].overlap"));
    EXPECT_THAT(e.what(), HasSubstr("lease per shard and fire"));
  }
}

TEST_F(InstanceTest, FailedShardIsReportedAndTheOthersStillRun) {
  auto instance =
      Instance::Start(WriteConfig("  - name: partly\n"
                                  "    class: RECORDING_JOB\n"
                                  "    sharding_total_count: 3\n"
                                  "    listeners: [RECORDING_LISTENER]\n"
                                  "    props: {record.file: " +
                                  record_ + ", fail.items: \"1\"}\n"));
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("partly").local_items.size() == 3; }));
  instance->Trigger("partly");
  ASSERT_TRUE(WaitUntil([&] { return Only(ReadRecords(record_), "after").size() == 1; }));
  EXPECT_THAT(ReadLines(record_).back(), HasSubstr("failed=1"));
  JobStats stats = instance->Stats("partly");
  EXPECT_EQ(stats.tasks_succeeded, 2u);
  EXPECT_EQ(stats.tasks_failed, 1u);
}

TEST_F(InstanceTest, ThrowErrorHandlerAbandonsTheRestOfTheFire) {
  auto instance =
      Instance::Start(WriteConfig("  - name: strict\n"
                                  "    class: RECORDING_JOB\n"
                                  "    sharding_total_count: 3\n"
                                  "    executor_thread_pool: SINGLE_THREAD\n"
                                  "    error_handler: THROW\n"
                                  "    props: {record.file: " +
                                  record_ + ", fail.items: \"0\"}\n"));
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("strict").local_items.size() == 3; }));
  instance->Trigger("strict");
  ASSERT_TRUE(WaitUntil([&] {
    JobStats stats = instance->Stats("strict");
    return stats.tasks_failed + stats.tasks_succeeded == 3;
  }));
  // One thread runs the shards in order: shard 0 fails, THROW escalates, 1 and 2 never start.
  auto starts = Only(ReadRecords(record_), "start");
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0].item, 0);
  EXPECT_EQ(instance->Stats("strict").tasks_failed, 3u);
}

TEST_F(InstanceTest, StopCancelsTasksThatOutliveTheGracePeriod) {
  auto instance =
      Instance::Start(WriteConfig("  - name: endless\n"
                                  "    class: RECORDING_JOB\n"
                                  "    props: {record.file: " +
                                  record_ + ", work.ms: \"600000\"}\n"));
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("endless").local_items.size() == 1; }));
  instance->Trigger("endless");
  ASSERT_TRUE(WaitUntil([&] { return Only(ReadRecords(record_), "start").size() == 1; }));
  instance->Stop();  // grace is 200 ms; the job then sees its cancellation flag
  EXPECT_EQ(Only(ReadRecords(record_), "cancelled").size(), 1u);
  // Its work was not done: the claim is released, not committed, so the task runs again.
  EXPECT_EQ(instance->Stats("endless").tasks_released, 1u);
  EXPECT_EQ(instance->Stats("endless").tasks_failed, 0u);
}

TEST_F(InstanceTest, ScriptJobGetsTheContextAsLastArgumentAndInTheEnvironment) {
  std::string script = dir_.File("record.sh");
  WriteFile(script, "echo \"$SHARDJOB_SHARDING_ITEM $SHARDJOB_SHARDING_PARAMETER $2\" >> " +
                        record_ + "\n");
  auto instance =
      Instance::Start(WriteConfig("  - name: script\n"
                                  "    type: SCRIPT\n"
                                  "    sharding_total_count: 2\n"
                                  "    sharding_item_parameters: {0: left, 1: right}\n"
                                  "    props:\n"
                                  "      script.command.line: /bin/sh " +
                                  script + " '$HOME stays literal'\n"));
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("script").local_items.size() == 2; }));
  instance->Trigger("script");
  ASSERT_TRUE(WaitUntil([&] { return ReadLines(record_).size() == 2; }));
  auto lines = ReadLines(record_);
  std::sort(lines.begin(), lines.end());
  EXPECT_THAT(lines[0], HasSubstr("0 left {\"jobName\":\"script\""));
  EXPECT_THAT(lines[1], HasSubstr("1 right {\"jobName\":\"script\""));
  EXPECT_THAT(lines[0], HasSubstr("\"shardingParameter\":\"left\""));
}

// Grid pages, a shard source and dynamic sharding from YAML down to a script: 2 items of the
// range [0, 100), each cut into 2 pages, are 4 tasks, each told its item's range and its page.
TEST_F(InstanceTest, GridPagesAndARangeSourceReachTheTask) {
  std::string script = dir_.File("record.sh");
  WriteFile(script, "echo \"$1\" >> " + record_ + "\n");
  auto instance =
      Instance::Start(WriteConfig("  - name: ranges\n"
                                  "    type: SCRIPT\n"
                                  "    sharding_total_count: 2\n"
                                  "    grid_pages: 2\n"
                                  "    shard_source: RANGE\n"
                                  "    sharding_mode: dynamic\n"
                                  "    executor_thread_pool: 2\n"
                                  "    props:\n"
                                  "      range.start: \"0\"\n"
                                  "      range.end: \"100\"\n"
                                  "      script.command.line: /bin/sh " +
                                  script + "\n"));
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("ranges").local_items.size() == 4; }));
  instance->Trigger("ranges");
  ASSERT_TRUE(WaitUntil([&] { return ReadLines(record_).size() == 4; }));
  auto lines = ReadLines(record_);
  std::sort(lines.begin(), lines.end(), [](const std::string& a, const std::string& b) {
    return a.substr(a.find("\"shard\":")) < b.substr(b.find("\"shard\":"));
  });
  for (int shard = 0; shard < 4; ++shard) {
    const std::string& line = lines[static_cast<std::size_t>(shard)];
    const int item = shard / 2;
    EXPECT_THAT(line, HasSubstr("\"shardingTotalCount\":2"));
    EXPECT_THAT(line, HasSubstr("\"shardingItem\":" + std::to_string(item)));
    EXPECT_THAT(line, HasSubstr("\"shard\":" + std::to_string(shard) +
                                ",\"shardCount\":4,\"page\":" + std::to_string(shard % 2) +
                                ",\"pageCount\":2"));
    EXPECT_THAT(
        line, HasSubstr(item == 0 ? "\"shardLabel\":\"[0, 50)\"" : "\"shardLabel\":\"[50, 100)\""));
    EXPECT_THAT(line, HasSubstr(item == 0 ? "\"shardParams\":{\"end\":\"50\",\"start\":\"0\"}"
                                          : "\"shardParams\":{\"end\":\"100\",\"start\":\"50\"}"));
  }
  // Counted once each task has returned, a moment after its line was written.
  EXPECT_TRUE(WaitUntil([&] { return instance->Stats("ranges").tasks_succeeded == 4; }));
}

TEST_F(InstanceTest, UnknownPluginTypesAreNamedAndNothingStarts) {
  std::string path = WriteConfig(
      "  - name: broken\n"
      "    class: NO_SUCH_JOB\n"
      "    sharding_strategy: NO_SUCH_STRATEGY\n");
  try {
    Instance::Start(path);
    FAIL() << "an unknown class must not start";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("job 'broken'"));
    EXPECT_THAT(e.what(), HasSubstr("unknown job type 'NO_SUCH_JOB'"));
    EXPECT_THAT(e.what(), HasSubstr("unknown sharding_strategy type 'NO_SUCH_STRATEGY'"));
    EXPECT_THAT(e.what(), HasSubstr("RECORDING_JOB"));  // the known ones are listed
  }
  auto problems = ValidateConfigFile(path);
  EXPECT_EQ(problems.size(), 2u);
}

TEST_F(InstanceTest, PluginRefusingItsPropsIsAnErrorNamingThePropAndJob) {
  std::string path = WriteConfig(
      "  - name: no-command\n"
      "    type: SCRIPT\n");
  auto problems = ValidateConfigFile(path);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0], HasSubstr("job 'no-command'"));
  EXPECT_THAT(problems[0], HasSubstr("script.command.line"));
}

TEST_F(InstanceTest, ClassedExecutorNamedAsTypeIsRejected) {
  auto problems =
      ValidateConfigFile(WriteConfig("  - name: confused\n"
                                     "    type: SIMPLE\n"));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0], HasSubstr("`class:`"));
}

TEST_F(InstanceTest, TriggerOfAnUnknownJobThrows) {
  auto instance =
      Instance::Start(WriteConfig("  - name: known\n"
                                  "    class: RECORDING_JOB\n"
                                  "    props: {record.file: " +
                                  record_ + "}\n"));
  EXPECT_THROW(instance->Trigger("unknown"), std::invalid_argument);
}

}  // namespace
}  // namespace shardjob
