// The LOG/THROW/IGNORE error handlers and the LOG tracer, compiled in directly.

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plugins/error-handlers/ignore/ignore_error_handler.h"
#include "plugins/error-handlers/log/log_error_handler.h"
#include "plugins/error-handlers/throw/throw_error_handler.h"
#include "tracers/log/log_tracer.h"

namespace shardjob {
namespace {

using ::testing::HasSubstr;

class RecordingLogger : public spi::Logger {
 public:
  void Log(spi::LogLevel level, std::string_view message) override {
    lines.emplace_back(level, std::string(message));
  }
  std::vector<std::pair<spi::LogLevel, std::string>> lines;
};

class PluginTest : public ::testing::Test {
 protected:
  spi::JobError Error(int item) {
    return spi::JobError{"order-sync", "1700000000000", item, "host@1@ab", "exit code 3"};
  }

  spi::Properties props_;
  RecordingLogger logger_;
  spi::PluginContext context_{props_, logger_, "order-sync"};
};

TEST_F(PluginTest, LogHandlerLogsEverythingAtErrorAndLetsTheFireGoOn) {
  error_handlers::LogErrorHandler handler(context_);
  EXPECT_TRUE(handler.Handle(Error(2)).ok());
  ASSERT_EQ(logger_.lines.size(), 1u);
  EXPECT_EQ(logger_.lines[0].first, spi::LogLevel::kError);
  const std::string& line = logger_.lines[0].second;
  for (const char* part :
       {"Job 'order-sync'", "fire=1700000000000", "shard=2", "instance=host@1@ab", "exit code 3"}) {
    EXPECT_THAT(line, HasSubstr(part));
  }
}

TEST_F(PluginTest, ErrorsNotAboutOneShardLeaveTheShardOut) {
  error_handlers::LogErrorHandler handler(context_);
  EXPECT_TRUE(handler.Handle(Error(-1)).ok());
  EXPECT_THAT(logger_.lines.at(0).second, ::testing::Not(HasSubstr("shard=")));
}

TEST_F(PluginTest, ThrowHandlerEscalates) {
  error_handlers::ThrowErrorHandler handler(context_);
  spi::Status status = handler.Handle(Error(0));
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("exit code 3"));
  EXPECT_EQ(logger_.lines.size(), 1u);
}

TEST_F(PluginTest, IgnoreHandlerSaysNothing) {
  error_handlers::IgnoreErrorHandler handler;
  EXPECT_TRUE(handler.Handle(Error(0)).ok());
  EXPECT_TRUE(logger_.lines.empty());
}

TEST_F(PluginTest, LogTracerWritesOneLineWithElasticJobFieldNames) {
  tracers::LogTracer tracer(context_);
  spi::ExecutionEvent execution;
  execution.task_id = "order-sync@-@1@-@0@-@h";
  execution.job_name = "order-sync";
  execution.source = spi::ExecutionSource::kMisfire;
  execution.failure_cause = "line one\nline two";
  spi::StatusEvent status;
  status.state = spi::TaskState::kError;
  status.sharding_items = "[0, 1]";
  ASSERT_TRUE(tracer.Write({execution, status}).ok());
  ASSERT_EQ(logger_.lines.size(), 2u);
  const std::string& first = logger_.lines[0].second;
  EXPECT_THAT(first, HasSubstr("jobName=order-sync"));
  EXPECT_THAT(first, HasSubstr("source=MISFIRE"));
  EXPECT_THAT(first, HasSubstr("completeTime=null"));
  EXPECT_EQ(first.find('\n'), std::string::npos);  // one event, one line
  EXPECT_THAT(logger_.lines[1].second, HasSubstr("state=TASK_ERROR"));
  EXPECT_THAT(logger_.lines[1].second, HasSubstr("shardingItems=\"[0, 1]\""));
}

}  // namespace
}  // namespace shardjob
