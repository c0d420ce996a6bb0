// How the way a task process ended becomes the task's Status.

#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "isolation/task_outcome.h"

namespace shardjob::isolation {
namespace {

using ::testing::HasSubstr;
using Code = spi::Status::Code;

// Wait statuses as waitpid() encodes them on Linux.
int Exited(int code) { return code << 8; }
int Signaled(int signal) { return signal; }

config::IsolationLimits Limits() {
  config::IsolationLimits limits;
  limits.cpu = std::chrono::seconds(10);
  limits.memory = 512ull << 20;
  limits.wall = std::chrono::milliseconds(5000);
  limits.kill_grace = std::chrono::milliseconds(2000);
  return limits;
}

TEST(TaskOutcomeTest, ACrashIsNamedBySignal) {
  TaskEnd end;
  end.wait_status = Signaled(SIGSEGV);
  spi::Status status = TaskStatus(end, Limits());
  EXPECT_EQ(status.code(), Code::kFailed);
  EXPECT_EQ(status.message(), "task process killed by signal 11 (SIGSEGV)");
  end.wait_status = Signaled(SIGABRT);
  end.last_error_line = "terminate called after throwing an instance of 'x'";
  EXPECT_EQ(TaskStatus(end, Limits()).message(),
            "task process killed by signal 6 (SIGABRT); its last error output: terminate called "
            "after throwing an instance of 'x'");
}

TEST(TaskOutcomeTest, TheReportedResultIsTheOutcome) {
  TaskEnd end;
  end.result = spi::Status::Failed("SimpleJob::Execute threw: nope");
  end.wait_status = Exited(0);
  EXPECT_EQ(TaskStatus(end, Limits()).message(), "SimpleJob::Execute threw: nope");
  end.result = spi::Status::Ok();
  end.wait_status = Signaled(SIGSEGV);  // a crash after the report does not undo the work
  EXPECT_TRUE(TaskStatus(end, Limits()).ok());
  end.stop = TaskEnd::Stop::kCancelled;  // a job that stopped on its flag says how itself
  end.result = spi::Status::Cancelled("stopped at row 12");
  EXPECT_EQ(TaskStatus(end, Limits()).message(), "stopped at row 12");
}

TEST(TaskOutcomeTest, AnExitWithoutResultSaysSo) {
  TaskEnd end;
  end.wait_status = Exited(3);
  EXPECT_EQ(TaskStatus(end, Limits()).message(),
            "task process exited with code 3 before reporting a result");
  end.status_known = false;
  EXPECT_THAT(TaskStatus(end, Limits()).message(), HasSubstr("unknown status"));
}

TEST(TaskOutcomeTest, LimitsAreNamed) {
  TaskEnd wall;
  wall.stop = TaskEnd::Stop::kWallTimeout;
  wall.wait_status = Signaled(SIGKILL);
  EXPECT_EQ(TaskStatus(wall, Limits()).code(), Code::kTimedOut);
  EXPECT_EQ(TaskStatus(wall, Limits()).message(), "task process killed after wall timeout 5s");

  TaskEnd cpu;
  cpu.wait_status = Signaled(SIGXCPU);
  EXPECT_THAT(TaskStatus(cpu, Limits()).message(),
              HasSubstr("task process exceeded its CPU limit of 10s (killed by signal 24 "
                        "(SIGXCPU)"));
  cpu.wait_status = Signaled(SIGKILL);  // the hard limit, for code that caught SIGXCPU
  cpu.cpu_seconds = 11.0;
  EXPECT_THAT(TaskStatus(cpu, Limits()).message(), HasSubstr("exceeded its CPU limit of 10s"));
  cpu.cpu_seconds = 0.5;  // a SIGKILL from elsewhere is not the CPU limit
  EXPECT_EQ(TaskStatus(cpu, Limits()).message(), "task process killed by signal 9 (SIGKILL)");

  TaskEnd memory;
  memory.allocation_failed = true;
  memory.wait_status = Exited(1);
  EXPECT_EQ(TaskStatus(memory, Limits()).message(),
            "task process exceeded its address-space limit of 512MiB (an allocation failed) and "
            "exited with code 1");
  memory.result = spi::Status::Failed("SimpleJob::Execute threw: std::bad_alloc");
  memory.wait_status = Exited(0);
  EXPECT_EQ(TaskStatus(memory, Limits()).message(),
            "task process exceeded its address-space limit of 512MiB (an allocation failed): "
            "SimpleJob::Execute threw: std::bad_alloc");
}

TEST(TaskOutcomeTest, CancellationSaysHowTheProcessWasStopped) {
  TaskEnd end;
  end.stop = TaskEnd::Stop::kCancelled;
  end.wait_status = Signaled(SIGTERM);
  EXPECT_EQ(TaskStatus(end, Limits()).code(), Code::kCancelled);
  EXPECT_EQ(TaskStatus(end, Limits()).message(),
            "task process stopped by SIGTERM after cancellation");
  end.killed_after_grace = true;
  end.wait_status = Signaled(SIGKILL);
  EXPECT_EQ(TaskStatus(end, Limits()).message(),
            "task process killed (SIGKILL) after cancellation: it outlived the 2s grace after "
            "SIGTERM");
}

}  // namespace
}  // namespace shardjob::isolation
