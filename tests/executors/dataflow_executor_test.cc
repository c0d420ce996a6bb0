#include "executors/dataflow/dataflow_executor.h"

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "shardjob/spi/plugin.h"

namespace shardjob::executors {
namespace {

using ::testing::HasSubstr;

// What the user's job hands out, one batch per fetch, and what it processed. A hook runs after
// each processed batch (to raise a flag mid-stream).
struct Script {
  std::deque<std::vector<int>> batches;
  std::vector<int> processed;
  int fetches = 0;
  std::function<void()> after_process;
  static Script* current;  // the one the next job is built with
};
Script* Script::current = nullptr;

class ScriptedDataflowJob : public spi::DataflowJob<int> {
 public:
  ScriptedDataflowJob() : script_(*Script::current) {}
  std::vector<int> FetchData(const spi::ShardingContext&) override {
    ++script_.fetches;
    if (script_.batches.empty()) return {};
    std::vector<int> batch = script_.batches.front();
    script_.batches.pop_front();
    return batch;
  }
  void ProcessData(const spi::ShardingContext&, std::vector<int>& data) override {
    if (data.front() < 0) throw std::runtime_error("bad item " + std::to_string(data.front()));
    script_.processed.insert(script_.processed.end(), data.begin(), data.end());
    if (script_.after_process) script_.after_process();
  }

 private:
  Script& script_;
};

class NullLogger : public spi::Logger {
 public:
  void Log(spi::LogLevel, std::string_view) override {}
};

std::map<std::string, std::string> Streaming(const std::string& value) {
  return {{"streaming.process", value}};
}

// The executor and the user's job wrapped as SHARDJOB_PLUGIN wraps it, with the kernel's flags.
class Harness {
 public:
  explicit Harness(std::map<std::string, std::string> props = std::map<std::string, std::string>())
      : props_(std::move(props)), context_{props_, logger_, "archive"} {
    Script::current = &script;
    job_ = std::make_unique<spi::GuardedDataflowJob<ScriptedDataflowJob>>(context_);
  }

  spi::Status Run() {
    spi::ShardingContext task;
    task.job_name = "archive";
    task.cancellation = &cancellation;
    task.reassigned = &reassigned;
    task.progress = &progress;
    return DataflowExecutor(context_).Execute(job_.get(), task);
  }

  Script script;
  spi::Properties props_;
  NullLogger logger_;
  spi::PluginContext context_;
  spi::Cancellation cancellation;
  spi::Cancellation reassigned;
  spi::TaskProgress progress;

 private:
  std::unique_ptr<spi::GuardedDataflowJob<ScriptedDataflowJob>> job_;
};

TEST(DataflowExecutorTest, WithoutStreamingOneBatchIsFetchedAndProcessed) {
  Harness harness;
  harness.script.batches = {{1, 2, 3}, {4, 5}};
  ASSERT_TRUE(harness.Run().ok());
  EXPECT_EQ(harness.script.processed, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(harness.script.fetches, 1);
  EXPECT_EQ(harness.progress.items_processed(), 3u);
}

TEST(DataflowExecutorTest, StreamingGoesOnUntilAFetchIsEmpty) {
  Harness harness(Streaming("true"));
  harness.script.batches = {{1, 2, 3}, {4, 5}, {6}};
  ASSERT_TRUE(harness.Run().ok());
  EXPECT_EQ(harness.script.processed, (std::vector<int>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(harness.script.fetches, 4);  // the fourth came back empty
  EXPECT_EQ(harness.progress.items_processed(), 6u);
}

TEST(DataflowExecutorTest, StreamingStopsAfterTheRoundInWhichTheTaskIsCancelled) {
  Harness harness(Streaming("true"));
  harness.script.batches = {{1}, {2}, {3}};
  harness.script.after_process = [&] { harness.cancellation.Cancel(); };
  ASSERT_TRUE(harness.Run().ok());
  EXPECT_EQ(harness.script.processed, std::vector<int>{1});
}

TEST(DataflowExecutorTest, StreamingStopsAfterTheRoundInWhichTheShardMovedAway) {
  Harness harness(Streaming("true"));
  harness.script.batches = {{1}, {2}, {3}};
  harness.script.after_process = [&] {
    if (harness.script.processed.size() == 2) harness.reassigned.Cancel();
  };
  ASSERT_TRUE(harness.Run().ok());
  EXPECT_EQ(harness.script.processed, (std::vector<int>{1, 2}));
}

TEST(DataflowExecutorTest, AFailingBatchFailsTheTaskAndItsItemsStillCount) {
  Harness harness(Streaming("true"));
  harness.script.batches = {{1, 2}, {-1, 7}, {3}};
  spi::Status status = harness.Run();
  EXPECT_EQ(status.code(), spi::Status::Code::kFailed);
  EXPECT_THAT(status.message(), HasSubstr("ProcessData threw: bad item -1"));
  EXPECT_EQ(harness.script.processed, (std::vector<int>{1, 2}));
  EXPECT_EQ(harness.progress.items_processed(), 4u);  // fetched: both batches
}

TEST(DataflowExecutorTest, ABadStreamingPropIsRefusedNamingIt) {
  Harness harness(Streaming("yes"));
  try {
    DataflowExecutor executor(harness.context_);
    FAIL() << "accepted streaming.process: yes";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("'streaming.process' must be true or false, got 'yes'"));
  }
}

TEST(DataflowExecutorTest, RefusesAJobOfAnotherInterface) {
  class Simple : public spi::SimpleJobObject {
    spi::Status Execute(const spi::ShardingContext&) noexcept override { return spi::Status::Ok(); }
  } simple;
  Harness harness;
  spi::Status status = DataflowExecutor(harness.context_).Execute(&simple, {});
  EXPECT_EQ(status.code(), spi::Status::Code::kInternal);
  EXPECT_THAT(status.message(), HasSubstr("implementing 'SimpleJob', not 'DataflowJob'"));
}

}  // namespace
}  // namespace shardjob::executors
