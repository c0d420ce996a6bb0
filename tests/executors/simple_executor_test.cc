#include "executors/simple/simple_executor.h"

#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "shardjob/spi/plugin.h"

namespace shardjob::executors {
namespace {

using Code = spi::Status::Code;

class RecordingJob : public spi::SimpleJobObject {
 public:
  explicit RecordingJob(spi::Status result) : result_(std::move(result)) {}
  spi::Status Execute(const spi::ShardingContext& context) noexcept override {
    seen_item_ = context.sharding_item;
    return result_;
  }
  int seen_item() const { return seen_item_; }

 private:
  spi::Status result_;
  int seen_item_ = -1;
};

class SomeDataflowJob : public spi::DataflowJobObject {
 public:
  spi::Status FetchAndProcess(const spi::ShardingContext&, std::size_t* fetched) noexcept override {
    *fetched = 0;
    return spi::Status::Ok();
  }
};

class ThrowingUserJob : public spi::SimpleJob {
 public:
  void Execute(const spi::ShardingContext&) override { throw std::runtime_error("order db down"); }
};

spi::ShardingContext Context(int item) {
  spi::ShardingContext context;
  context.job_name = "orderJob";
  context.task_id = "orderJob@-@1@-@" + std::to_string(item) + "@-@i";
  context.sharding_item = item;
  context.sharding_total_count = 3;
  return context;
}

TEST(SimpleExecutorTest, DrivesSimpleJobs) {
  EXPECT_STREQ(SimpleExecutor().JobInterface(), spi::kSimpleJobInterface);
}

TEST(SimpleExecutorTest, PassesTheContextAndReturnsTheJobsStatus) {
  RecordingJob ok_job(spi::Status::Ok());
  EXPECT_TRUE(SimpleExecutor().Execute(&ok_job, Context(2)).ok());
  EXPECT_EQ(ok_job.seen_item(), 2);

  RecordingJob failing_job(spi::Status::Failed("boom"));
  const spi::Status status = SimpleExecutor().Execute(&failing_job, Context(0));
  EXPECT_EQ(status.code(), Code::kFailed);
  EXPECT_EQ(status.message(), "boom");
}

TEST(SimpleExecutorTest, UserExceptionsArriveAsFailures) {
  spi::Properties props;
  struct : spi::Logger {
    void Log(spi::LogLevel, std::string_view) override {}
  } logger;
  spi::GuardedSimpleJob<ThrowingUserJob> job(spi::PluginContext{props, logger, "orderJob"});
  const spi::Status status = SimpleExecutor().Execute(&job, Context(1));
  EXPECT_EQ(status.code(), Code::kFailed);
  EXPECT_NE(status.message().find("order db down"), std::string::npos) << status.message();
}

TEST(SimpleExecutorTest, NullJobIsAnInternalError) {
  EXPECT_EQ(SimpleExecutor().Execute(nullptr, Context(0)).code(), Code::kInternal);
}

TEST(SimpleExecutorTest, WrongInterfaceIsAnInternalError) {
  SomeDataflowJob job;
  const spi::Status status = SimpleExecutor().Execute(&job, Context(0));
  EXPECT_EQ(status.code(), Code::kInternal);
  EXPECT_NE(status.message().find("DataflowJob"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace shardjob::executors
