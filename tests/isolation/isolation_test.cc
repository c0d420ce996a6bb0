// End-to-end tests of `isolation: process` on one instance with the embedded registry: real task
// runner processes, real plugins that crash, abort, hang, spin and eat memory (fixtures/), and
// the same crash without isolation taking a whole `shardjob` process down.

#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "isolation/runner_location.h"
#include "shardjob/shardjob.h"
#include "support/child_process.h"
#include "support/test_support.h"

namespace shardjob {
namespace {

using ::testing::HasSubstr;
using testing::ReadLines;
using testing::TempDir;
using testing::WaitUntil;
using testing::WriteFile;

// Reaped: no such process. A zombie still answers kill(pid, 0), so this is the no-zombie check.
bool Reaped(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

// For a grandchild, which init reaps once it is orphaned: dead, reaped or not.
bool Dead(pid_t pid) {
  if (Reaped(pid)) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const std::size_t paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] == 'Z' ||
         line[paren + 2] == 'X';
}

// "key=value" fields of a line whose values hold no spaces.
std::map<std::string, std::string> Fields(const std::string& line) {
  std::map<std::string, std::string> fields;
  std::istringstream in(line);
  for (std::string word; in >> word;) {
    const std::size_t equals = word.find('=');
    if (equals != std::string::npos) fields[word.substr(0, equals)] = word.substr(equals + 1);
  }
  return fields;
}

std::vector<std::string> LinesStartingWith(const std::string& path, const std::string& prefix) {
  std::vector<std::string> found;
  for (const std::string& line : ReadLines(path)) {
    if (line.rfind(prefix, 0) == 0) found.push_back(line);
  }
  return found;
}

// The number after "<word> " on the first line that starts with it; -1 when there is none.
long long NumberAfter(const std::string& path, const std::string& word) {
  for (const std::string& line : LinesStartingWith(path, word + " ")) {
    return std::stoll(line.substr(word.size() + 1));
  }
  return -1;
}

// Keeps the instance's log lines in memory while it lives.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(2000)) {
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  bool Contains(const std::string& text) const {
    for (const std::string& line : sink_->last_formatted()) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

class IsolationTest : public ::testing::Test {
 protected:
  std::string WriteConfig(const std::string& jobs, const std::string& log_level = "warn") {
    const std::string path = dir_.File("shardjob.yaml");
    WriteFile(path,
              "registry: {type: embedded}\n"
              "plugins:\n  dirs: [" SHARDJOB_PLUGIN_DIR ", " SHARDJOB_ISOLATION_FIXTURE_DIR
              "]\n"
              "shutdown_grace: 200ms\nlog_level: " +
                  log_level + "\njobs:\n" + jobs);
    return path;
  }

  static void WaitForShards(const Instance& instance, const std::string& job, std::size_t count) {
    ASSERT_TRUE(WaitUntil([&] { return instance.Stats(job).local_items.size() == count; }));
  }

  TempDir dir_;
  std::string record_ = dir_.File("record.txt");
  std::string errors_ = dir_.File("errors.txt");
};

TEST_F(IsolationTest, EachTaskRunsInItsOwnProcessWithItsWholeContext) {
  LogCapture logs;
  auto instance =
      Instance::Start(WriteConfig("  - name: iso\n"
                                  "    class: ISOLATION_RECORDING_JOB\n"
                                  "    isolation: process\n"
                                  "    sharding_total_count: 3\n"
                                  "    sharding_item_parameters: \"0=A,1=B\"\n"
                                  "    job_parameter: \"price$$5\"\n"
                                  "    props: {record.file: " +
                                      record_ + "}\n",
                                  "info"));
  WaitForShards(*instance, "iso", 3);
  instance->Trigger("iso");
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("iso").tasks_succeeded == 3; }));

  const std::vector<std::string> ran = LinesStartingWith(record_, "ran ");
  ASSERT_EQ(ran.size(), 3u);
  std::set<std::string> pids;
  std::map<std::string, std::string> parameters;
  const std::string fire = Fields(ran[0])["fire"];
  for (const std::string& line : ran) {
    std::map<std::string, std::string> field = Fields(line);
    const pid_t pid = std::stoi(field["pid"]);
    EXPECT_NE(pid, ::getpid()) << "ran in the instance's process";
    EXPECT_TRUE(Reaped(pid)) << "task process " << pid << " left behind";
    pids.insert(field["pid"]);
    parameters[field["item"]] = field["parameter"];
    EXPECT_EQ(field["fire"], fire);
    EXPECT_GT(std::stoll(field["token"]), 0) << "fencing token";
    EXPECT_EQ(field["job_parameter"], "price$5");
    EXPECT_EQ(field["total"], "3");
    EXPECT_EQ(field["instance"], instance->id());
    EXPECT_EQ(field["task"], "iso@-@" + fire + "@-@" + field["item"] + "@-@" + instance->id());
    EXPECT_TRUE(logs.Contains("[ISOLATION_RECORDING_JOB job=iso shard=" + field["item"] +
                              " pid=" + field["pid"] + "] hello from shard " + field["item"]));
    EXPECT_TRUE(logs.Contains("[task job=iso shard=" + field["item"] + " pid=" + field["pid"] +
                              " stdout] stdout of shard " + field["item"]));
    EXPECT_TRUE(logs.Contains("[task job=iso shard=" + field["item"] + " pid=" + field["pid"] +
                              " stderr] stderr of shard " + field["item"]));
  }
  EXPECT_EQ(pids.size(), 3u) << "one process per task";
  EXPECT_EQ(parameters, (std::map<std::string, std::string>{{"0", "A"}, {"1", "B"}, {"2", "-"}}));
  EXPECT_EQ(instance->Stats("iso").tasks_failed, 0u);
}

// A Typed job (no user code in the instance) runs isolated the same way: the runner builds the
// SCRIPT executor, which runs the script as it would in-process.
TEST_F(IsolationTest, ATypedJobRunsIsolatedToo) {
  const std::string script = dir_.File("record.sh");
  WriteFile(script, "#!/bin/sh\necho \"$1\" >> " + record_ + "\n");
  ASSERT_EQ(::chmod(script.c_str(), 0755), 0);
  auto instance =
      Instance::Start(WriteConfig("  - name: typed\n"
                                  "    type: SCRIPT\n"
                                  "    isolation: process\n"
                                  "    sharding_total_count: 2\n"
                                  "    props: {script.command.line: " +
                                  script + "}\n"));
  WaitForShards(*instance, "typed", 2);
  instance->Trigger("typed");
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("typed").tasks_succeeded == 2; }));
  const std::vector<std::string> lines = ReadLines(record_);
  ASSERT_EQ(lines.size(), 2u);
  for (const std::string& line : lines) {
    EXPECT_THAT(line, HasSubstr("\"jobName\":\"typed\""));
    EXPECT_THAT(line, HasSubstr("\"fencingToken\":"));
  }
}

// The example DATAFLOW job isolated: what it processed in the child counts in the instance.
TEST_F(IsolationTest, AnIsolatedDataflowJobsItemsAreCounted) {
  auto instance =
      Instance::Start(WriteConfig("  - name: archive\n"
                                  "    class: EXAMPLE_ORDER_ARCHIVE\n"
                                  "    isolation: process\n"
                                  "    sharding_total_count: 2\n"
                                  "    props: {streaming.process: \"true\", "
                                  "example.backlog: \"25\"}\n"));
  WaitForShards(*instance, "archive", 2);
  instance->Trigger("archive");
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("archive").tasks_succeeded == 2; }));
  EXPECT_EQ(instance->Stats("archive").items_processed, 50u);
}

struct Crash {
  const char* mode;
  const char* message;
};

class CrashTest : public IsolationTest, public ::testing::WithParamInterface<Crash> {};

TEST_P(CrashTest, ACrashFailsOnlyItsTaskAndTheInstanceRunsOn) {
  const std::string steady = dir_.File("steady.txt");
  auto instance =
      Instance::Start(WriteConfig("  - name: crashing\n"
                                  "    class: ISOLATION_CRASHING_JOB\n"
                                  "    isolation: process\n"
                                  "    error_handler: ISOLATION_ERROR_RECORDER\n"
                                  "    props: {record.file: " +
                                  errors_ + ", crash.mode: " + GetParam().mode +
                                  "}\n"
                                  "  - name: steady\n"
                                  "    class: ISOLATION_RECORDING_JOB\n"
                                  "    fixed_rate: 100ms\n"
                                  "    props: {record.file: " +
                                  steady + "}\n"));
  WaitForShards(*instance, "crashing", 1);
  for (int attempt = 1; attempt <= 2; ++attempt) {
    instance->Trigger("crashing");
    ASSERT_TRUE(WaitUntil([&] {
      return LinesStartingWith(errors_, "error ").size() == static_cast<std::size_t>(attempt);
    })) << "attempt "
        << attempt;
  }
  for (const std::string& line : LinesStartingWith(errors_, "error ")) {
    EXPECT_THAT(line, HasSubstr(std::string("message=") + GetParam().message));
  }
  JobStats stats = instance->Stats("crashing");
  EXPECT_EQ(stats.tasks_failed, 2u);
  EXPECT_EQ(stats.tasks_succeeded, 0u);
  for (const std::string& line : LinesStartingWith(errors_, "pid ")) {
    const pid_t pid = std::stoi(line.substr(4));
    EXPECT_NE(pid, ::getpid());
    EXPECT_TRUE(Reaped(pid)) << "crashed task process " << pid << " left behind";
  }
  EXPECT_EQ(LinesStartingWith(errors_, "pid ").size(), 2u);

  // The other job of the instance keeps firing.
  const std::size_t before = LinesStartingWith(steady, "ran ").size();
  EXPECT_TRUE(WaitUntil([&] { return LinesStartingWith(steady, "ran ").size() >= before + 3; }));
  EXPECT_EQ(instance->Stats("steady").tasks_failed, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Signals, CrashTest,
    ::testing::Values(Crash{"segv", "task process killed by signal 11 (SIGSEGV)"},
                      Crash{"abort", "task process killed by signal 6 (SIGABRT)"}),
    [](const ::testing::TestParamInfo<Crash>& info) { return std::string(info.param.mode); });

// The job allocates 16 MiB blocks until one fails. Under the limit it gets some and then fails,
// with the limit named; without the limit the same job gets what it asks for. In an ASan build
// the runner counts the limit from what it maps at start (ASan reserves terabytes), so in both
// builds the blocks the job got stay under the limit.
TEST_F(IsolationTest, AMemoryHungryTaskHitsItsAddressSpaceLimit) {
#if defined(__SANITIZE_THREAD__)
  // TSan dies of "out-of-memory" with no hook that says so (ASan's report kind is readable from
  // its death callback): the limit holds, but the runner cannot name it. Normal and ASan builds
  // run this test.
  GTEST_SKIP() << "ThreadSanitizer's out-of-memory death cannot be told apart";
#endif
  const std::string unlimited = dir_.File("unlimited.txt");
  auto instance =
      Instance::Start(WriteConfig("  - name: hungry\n"
                                  "    class: ISOLATION_HUNGRY_JOB\n"
                                  "    isolation: process\n"
                                  "    isolation_limits: {memory: 256MiB}\n"
                                  "    error_handler: ISOLATION_ERROR_RECORDER\n"
                                  "    props: {record.file: " +
                                  errors_ +
                                  "}\n"
                                  "  - name: unlimited\n"
                                  "    class: ISOLATION_HUNGRY_JOB\n"
                                  "    isolation: process\n"
                                  "    props: {record.file: " +
                                  unlimited + ", hungry.max.mb: \"384\"}\n"));
  WaitForShards(*instance, "hungry", 1);
  instance->Trigger("hungry");
  ASSERT_TRUE(WaitUntil([&] { return !LinesStartingWith(errors_, "error ").empty(); }));
  EXPECT_THAT(LinesStartingWith(errors_, "error ")[0],
              HasSubstr("task process exceeded its address-space limit of 256MiB (an allocation "
                        "failed)"));
  long long got = 0;
  for (const std::string& line : LinesStartingWith(errors_, "allocated ")) {
    got = std::max(got, std::stoll(line.substr(10)));
  }
  EXPECT_GT(got, 0) << "the limit left the job no room at all";
  EXPECT_LT(got, 256) << "the job got more than its limit";
  EXPECT_TRUE(LinesStartingWith(errors_, "enough ").empty());
  EXPECT_EQ(instance->Stats("hungry").tasks_failed, 1u);

  WaitForShards(*instance, "unlimited", 1);
  instance->Trigger("unlimited");
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("unlimited").tasks_succeeded == 1; }));
  EXPECT_EQ(NumberAfter(unlimited, "enough"), 384);
}

TEST_F(IsolationTest, ASpinningTaskHitsItsCpuLimit) {
  auto instance =
      Instance::Start(WriteConfig("  - name: spinning\n"
                                  "    class: ISOLATION_SPINNING_JOB\n"
                                  "    isolation: process\n"
                                  "    isolation_limits: {cpu: 1s}\n"
                                  "    error_handler: ISOLATION_ERROR_RECORDER\n"
                                  "    props: {record.file: " +
                                  errors_ + "}\n"));
  WaitForShards(*instance, "spinning", 1);
  instance->Trigger("spinning");
  ASSERT_TRUE(WaitUntil([&] { return !LinesStartingWith(errors_, "error ").empty(); },
                        std::chrono::seconds(20)));
  EXPECT_THAT(LinesStartingWith(errors_, "error ")[0],
              HasSubstr("task process exceeded its CPU limit of 1s (killed by signal 24 "
                        "(SIGXCPU)"));
  EXPECT_TRUE(Reaped(static_cast<pid_t>(NumberAfter(errors_, "pid"))));
}

TEST_F(IsolationTest, AHangingTaskIsKilledWithItsProcessGroupAtTheWallTimeout) {
  auto instance =
      Instance::Start(WriteConfig("  - name: hanging\n"
                                  "    class: ISOLATION_HANGING_JOB\n"
                                  "    isolation: process\n"
                                  "    isolation_limits: {wall: 1s}\n"
                                  "    error_handler: ISOLATION_ERROR_RECORDER\n"
                                  "    props: {record.file: " +
                                  errors_ + ", hang.grandchild: \"true\"}\n"));
  WaitForShards(*instance, "hanging", 1);
  const auto triggered = std::chrono::steady_clock::now();
  instance->Trigger("hanging");
  ASSERT_TRUE(WaitUntil([&] { return !LinesStartingWith(errors_, "error ").empty(); }));
  const auto took = std::chrono::steady_clock::now() - triggered;
  EXPECT_GE(took, std::chrono::seconds(1));
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_THAT(LinesStartingWith(errors_, "error ")[0],
              HasSubstr("task process killed after wall timeout 1s"));
  EXPECT_EQ(instance->Stats("hanging").tasks_failed, 1u);
  EXPECT_TRUE(Reaped(static_cast<pid_t>(NumberAfter(errors_, "pid"))));
  const auto grandchild = static_cast<pid_t>(NumberAfter(errors_, "grandchild"));
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(WaitUntil([&] { return Dead(grandchild); })) << "the job's own child survived";
}

// shutdown_grace passes, the task's flag is raised: the runner gets SIGTERM, ignores it (the job
// is deaf), and is killed kill_grace later. Stop() is prompt and clean.
TEST_F(IsolationTest, ShutdownKillsAHangingTaskPromptly) {
  auto instance =
      Instance::Start(WriteConfig("  - name: hanging\n"
                                  "    class: ISOLATION_HANGING_JOB\n"
                                  "    isolation: process\n"
                                  "    isolation_limits: {kill_grace: 300ms}\n"
                                  "    props: {record.file: " +
                                  record_ + "}\n"));
  WaitForShards(*instance, "hanging", 1);
  instance->Trigger("hanging");
  ASSERT_TRUE(WaitUntil([&] { return NumberAfter(record_, "pid") > 0; }));
  const auto pid = static_cast<pid_t>(NumberAfter(record_, "pid"));
  EXPECT_FALSE(Reaped(pid));

  const auto stopping = std::chrono::steady_clock::now();
  EXPECT_TRUE(instance->Stop()) << "a task ignored its cancellation";
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, std::chrono::seconds(3));
  EXPECT_TRUE(Reaped(pid));
  JobStats stats = instance->Stats("hanging");
  EXPECT_EQ(stats.tasks_released, 1u) << "a cancelled task is not committed: it runs again";
  EXPECT_EQ(stats.tasks_failed, 0u);
}

// A job that honours its flag gets it: SIGTERM to the runner raises the job's cancellation.
TEST_F(IsolationTest, CancellationReachesTheJobInsideTheProcess) {
  auto instance =
      Instance::Start(WriteConfig("  - name: patient\n"
                                  "    class: ISOLATION_RECORDING_JOB\n"
                                  "    isolation: process\n"
                                  "    props: {record.file: " +
                                  record_ + ", work.ms: \"60000\"}\n"));
  WaitForShards(*instance, "patient", 1);
  instance->Trigger("patient");
  ASSERT_TRUE(WaitUntil([&] { return !LinesStartingWith(record_, "ran ").empty(); }));
  const std::string pid = Fields(LinesStartingWith(record_, "ran ")[0])["pid"];

  const auto stopping = std::chrono::steady_clock::now();
  EXPECT_TRUE(instance->Stop());
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, std::chrono::seconds(2));
  EXPECT_THAT(ReadLines(record_), ::testing::Contains("cancelled pid=" + pid));
  EXPECT_TRUE(Reaped(std::stoi(pid)));
}

TEST_F(IsolationTest, AMissingTaskRunnerRefusesTheStart) {
  ::setenv(isolation::kTaskRunnerEnv, "/nonexistent/shardjob-task-runner", 1);
  try {
    Instance::Start(
        WriteConfig("  - name: iso\n"
                    "    class: ISOLATION_RECORDING_JOB\n"
                    "    isolation: process\n"
                    "    props: {record.file: " +
                    record_ + "}\n"));
    ADD_FAILURE() << "started without a task runner";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("job 'iso': isolation: process: $SHARDJOB_TASK_RUNNER names "
                                    "no task runner: /nonexistent/shardjob-task-runner"));
  }
  ::unsetenv(isolation::kTaskRunnerEnv);
}

// What isolation is for: the same crash in a job without it kills the whole instance, every job
// with it.
TEST_F(IsolationTest, WithoutIsolationACrashTakesTheWholeProcessDown) {
  const std::string path = WriteConfig(
      "  - name: crashing\n"
      "    class: ISOLATION_CRASHING_JOB\n"
      "    fixed_rate: 100ms\n"
      "    props: {record.file: " +
      errors_ +
      "}\n"
      "  - name: steady\n"
      "    class: ISOLATION_RECORDING_JOB\n"
      "    fixed_rate: 100ms\n"
      "    props: {record.file: " +
      record_ + "}\n");
  // A sanitizer build handles SIGSEGV itself (a report, then an exit code): handle_segv=0 keeps
  // it the signal a normal build dies of.
  std::map<std::string, std::optional<std::string>> saved;
  for (const char* name : {"ASAN_OPTIONS", "TSAN_OPTIONS"}) {
    const char* value = std::getenv(name);
    saved[name] = value ? std::optional<std::string>(value) : std::nullopt;
    ::setenv(name,
             (value ? std::string(value) + ":" : std::string()).append("handle_segv=0").c_str(), 1);
  }
  testing::ChildProcess run({SHARDJOB_BINARY, "run", "-c", path});
  for (const auto& [name, value] : saved) {
    if (value) {
      ::setenv(name.c_str(), value->c_str(), 1);
    } else {
      ::unsetenv(name.c_str());
    }
  }
  // Not run.Wait() at once: were the process not to crash, it would wait for ever.
  const bool ended = WaitUntil(
      [&] {
        siginfo_t info{};
        return ::waitid(P_PID, static_cast<id_t>(run.pid()), &info, WEXITED | WNOHANG | WNOWAIT) ==
                   0 &&
               info.si_pid == run.pid();
      },
      std::chrono::seconds(30));
  ASSERT_TRUE(ended) << "the instance survived the crash";
  EXPECT_EQ(run.Wait(std::chrono::seconds(5)), -SIGSEGV) << run.output();
  EXPECT_EQ(NumberAfter(errors_, "pid"), run.pid()) << "the job ran in the instance's process";
}

}  // namespace
}  // namespace shardjob
