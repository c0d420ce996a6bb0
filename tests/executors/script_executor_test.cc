#include "executors/script/script_executor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "executors/script/output_capture.h"
#include "shardjob/spi/plugin.h"

namespace shardjob::executors {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using Code = spi::Status::Code;

class RecordingLogger : public spi::Logger {
 public:
  void Log(spi::LogLevel level, std::string_view message) override {
    std::lock_guard<std::mutex> lock(mutex_);
    lines_.emplace_back(level, std::string(message));
  }
  std::vector<std::pair<spi::LogLevel, std::string>> lines() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }
  // Lines containing `needle`.
  std::vector<std::string> Matching(const std::string& needle) const {
    std::vector<std::string> result;
    for (const auto& [level, line] : lines()) {
      if (line.find(needle) != std::string::npos) result.push_back(line);
    }
    return result;
  }
  bool Has(spi::LogLevel level, const std::string& line) const {
    for (const auto& [l, text] : lines()) {
      if (l == level && text == line) return true;
    }
    return false;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<spi::LogLevel, std::string>> lines_;
};

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                          "/shardjob-script-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  std::string Write(const std::string& name, const std::string& content) const {
    std::ofstream(File(name)) << content;
    return File(name);
  }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

std::vector<std::string> SplitNul(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t begin = 0;
  for (std::size_t end; (end = text.find('\0', begin)) != std::string::npos; begin = end + 1) {
    parts.push_back(text.substr(begin, end - begin));
  }
  return parts;
}

bool WaitUntil(const std::function<bool()>& condition, milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  while (!condition()) {
    if (steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

// Dead, or a zombie waiting for a PID 1 that does not reap (common in containers).
bool ProcessGone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const std::size_t close = stat.rfind(')');
  if (stat.empty() || close == std::string::npos) return true;
  return close + 2 < stat.size() && stat[close + 2] == 'Z';
}

// Reads "<shell pid> <background pid>" that the scripts below write once both run.
std::vector<pid_t> ReadPids(const std::string& path) {
  std::istringstream in(ReadFile(path));
  std::vector<pid_t> pids;
  for (pid_t pid; in >> pid;) pids.push_back(pid);
  return pids;
}

// Starts `sleep 1000` in the background, publishes both pids atomically, then waits for it.
constexpr const char* kSpawnSleeper =
    "sleep 1000 &\n"
    "echo \"$$ $!\" > \"$1/pids.tmp\" && mv \"$1/pids.tmp\" \"$1/pids\"\n"
    "wait\n";

class ScriptExecutorTest : public ::testing::Test {
 protected:
  ScriptExecutorTest() {
    context_.job_name = "orderJob";
    context_.fire_id = "1700000000000";
    context_.task_id = "orderJob@-@1700000000000@-@1@-@10.0.0.1@-@42";
    context_.instance_id = "10.0.0.1@-@42";
    context_.sharding_total_count = 3;
    context_.sharding_item = 1;
    context_.job_parameter = "p=1 q=$HOME";
    context_.fencing_token = 7;
    context_.cancellation = &cancellation_;
  }

  std::unique_ptr<ScriptExecutor> Make(std::map<std::string, std::string> props) {
    props_ = spi::Properties(std::move(props));
    return std::make_unique<ScriptExecutor>(spi::PluginContext{props_, logger_, "orderJob"});
  }

  // Runs `script` with /bin/sh, passing the temp dir as its first argument.
  spi::Status RunScript(const std::string& script, std::map<std::string, std::string> props = {}) {
    const std::string path = dir_.Write("script.sh", script);
    props["script.command.line"] = "/bin/sh " + path + " " + dir_.path();
    return Make(std::move(props))->Execute(nullptr, context_);
  }

  TempDir dir_;
  RecordingLogger logger_;
  spi::Properties props_;
  spi::Cancellation cancellation_;
  spi::ShardingContext context_;
};

TEST_F(ScriptExecutorTest, IsTyped) {
  EXPECT_EQ(Make({{"script.command.line", "/bin/true"}})->JobInterface(), nullptr);
}

TEST_F(ScriptExecutorTest, SuccessLogsEachLineWithTheTaskId) {
  const spi::Status status = RunScript("echo hello\necho world\necho oops >&2\n");
  ASSERT_TRUE(status.ok()) << status.ToString();
  const std::string prefix = "task=" + context_.task_id;
  EXPECT_TRUE(logger_.Has(spi::LogLevel::kInfo, prefix + " stdout: hello"));
  EXPECT_TRUE(logger_.Has(spi::LogLevel::kInfo, prefix + " stdout: world"));
  EXPECT_TRUE(logger_.Has(spi::LogLevel::kWarn, prefix + " stderr: oops"));
  EXPECT_TRUE(logger_.Matching("truncated").empty());
}

TEST_F(ScriptExecutorTest, NonZeroExitFailsWithTheCodeAndTheOutputTail) {
  const spi::Status status = RunScript("echo working\necho 'disk full' >&2\nexit 3\n");
  EXPECT_EQ(status.code(), Code::kFailed);
  EXPECT_EQ(status.message().rfind("exit code 3: ", 0), 0u) << status.message();
  EXPECT_NE(status.message().find("disk full"), std::string::npos) << status.message();
}

TEST_F(ScriptExecutorTest, DeathBySignalNamesTheSignal) {
  const spi::Status status = RunScript("kill -KILL $$\n");
  EXPECT_EQ(status.code(), Code::kFailed);
  EXPECT_NE(status.message().find("SIGKILL"), std::string::npos) << status.message();
}

TEST_F(ScriptExecutorTest, JsonIsTheLastArgumentAndTheEnvironmentIsSet) {
  context_.sharding_parameter = "Beijing";
  ASSERT_EQ(::setenv("SHARDJOB_TEST_INHERITED", "from parent", 1), 0);
  dir_.Write("print.sh", "printf '%s\\0' \"$@\" > \"$1/args\"\nenv -0 > \"$1/env\"\n");
  const std::string command = "/bin/sh " + dir_.File("print.sh") + " " + dir_.path() +
                              " \"hello world\" '$HOME' plain\\ arg \"quote\\\"d\" '*'";
  const spi::Status status = Make({{"script.command.line", command}})->Execute(nullptr, context_);
  ::unsetenv("SHARDJOB_TEST_INHERITED");
  ASSERT_TRUE(status.ok()) << status.ToString();

  const std::string json = spi::ToJson(context_);
  EXPECT_NE(json.find("\"shardingParameter\":\"Beijing\""), std::string::npos);
  EXPECT_EQ(SplitNul(ReadFile(dir_.File("args"))),
            (std::vector<std::string>{dir_.path(), "hello world", "$HOME", "plain arg", "quote\"d",
                                      "*", json}));

  std::map<std::string, std::string> env;
  for (const std::string& entry : SplitNul(ReadFile(dir_.File("env")))) {
    const std::size_t equals = entry.find('=');
    env[entry.substr(0, equals)] = entry.substr(equals + 1);
  }
  EXPECT_EQ(env["SHARDJOB_JOB_NAME"], "orderJob");
  EXPECT_EQ(env["SHARDJOB_FIRE_ID"], "1700000000000");
  EXPECT_EQ(env["SHARDJOB_TASK_ID"], context_.task_id);
  EXPECT_EQ(env["SHARDJOB_INSTANCE_ID"], "10.0.0.1@-@42");
  EXPECT_EQ(env["SHARDJOB_SHARDING_ITEM"], "1");
  EXPECT_EQ(env["SHARDJOB_SHARDING_PARAMETER"], "Beijing");
  EXPECT_EQ(env["SHARDJOB_SHARDING_TOTAL_COUNT"], "3");
  EXPECT_EQ(env["SHARDJOB_JOB_PARAMETER"], "p=1 q=$HOME");
  EXPECT_EQ(env["SHARDJOB_FENCING_TOKEN"], "7");
  EXPECT_EQ(env["SHARDJOB_CONTEXT"], json);
  EXPECT_EQ(env["SHARDJOB_TEST_INHERITED"], "from parent");
  EXPECT_EQ(env.count("PATH"), 1u);
}

TEST_F(ScriptExecutorTest, AbsentShardingParameterIsNotSetEvenWhenInherited) {
  ASSERT_EQ(::setenv("SHARDJOB_SHARDING_PARAMETER", "stale", 1), 0);
  const spi::Status status = RunScript(
      "printf '%s\\0' \"$@\" > \"$1/args\"\n"
      "echo \"${SHARDJOB_SHARDING_PARAMETER-unset}\" > \"$1/parameter\"\n");
  ::unsetenv("SHARDJOB_SHARDING_PARAMETER");
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(ReadFile(dir_.File("parameter")), "unset\n");
  const std::vector<std::string> args = SplitNul(ReadFile(dir_.File("args")));
  ASSERT_EQ(args.size(), 2u);
  EXPECT_EQ(args[1].find("shardingParameter"), std::string::npos) << args[1];
}

TEST_F(ScriptExecutorTest, StdinIsDevNull) {
  // cat would wait forever on an inherited terminal or pipe.
  const spi::Status status = RunScript("cat\n", {{"script.timeout.seconds", "5"}});
  EXPECT_TRUE(status.ok()) << status.ToString();
}

TEST_F(ScriptExecutorTest, OutputBeyondTheLimitIsDroppedWithoutBlockingTheChild) {
  // 10000 lines of 20 bytes: three times a pipe's buffer, so an undrained child would block.
  const spi::Status status =
      RunScript("i=0\nwhile [ $i -lt 10000 ]; do echo 0123456789abcdefghi; i=$((i+1)); done\n",
                {{"script.output.limit.bytes", "100"}, {"script.timeout.seconds", "10"}});
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(logger_.Matching(" stdout: 0123456789abcdefghi").size(), 5u);
  EXPECT_EQ(logger_.Matching("[truncated 199900 bytes]").size(), 1u);
}

TEST_F(ScriptExecutorTest, FailureMessageCarriesTheEndOfLongOutput) {
  const spi::Status status = RunScript(
      "i=0\nwhile [ $i -lt 1000 ]; do echo line $i; i=$((i+1)); done\necho 'the real cause'\n"
      "exit 2\n",
      {{"script.output.limit.bytes", "64"}});
  EXPECT_EQ(status.code(), Code::kFailed);
  EXPECT_EQ(status.message().rfind("exit code 2: ...", 0), 0u) << status.message();
  EXPECT_NE(status.message().find("the real cause"), std::string::npos) << status.message();
  EXPECT_LE(status.message().size(), std::string("exit code 2: ...").size() + 64);
}

TEST_F(ScriptExecutorTest, LoggedLinesAreCapped) {
  const spi::Status status = RunScript("i=0\nwhile [ $i -lt 1500 ]; do echo x; i=$((i+1)); done\n");
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(logger_.Matching(" stdout: x").size(), OutputCapture::kMaxLoggedLines);
  EXPECT_EQ(logger_.Matching("500 more lines not logged").size(), 1u);
}

TEST_F(ScriptExecutorTest, TimeoutKillsTheWholeProcessGroup) {
  const auto start = steady_clock::now();
  const spi::Status status = RunScript(kSpawnSleeper, {{"script.timeout.seconds", "1"}});
  const auto elapsed = steady_clock::now() - start;
  EXPECT_EQ(status.code(), Code::kTimedOut) << status.ToString();
  EXPECT_LT(elapsed, milliseconds(3000));
  const std::vector<pid_t> pids = ReadPids(dir_.File("pids"));
  ASSERT_EQ(pids.size(), 2u);
  for (pid_t pid : pids) {
    EXPECT_TRUE(WaitUntil([pid] { return ProcessGone(pid); }, milliseconds(2000))) << pid;
  }
}

TEST_F(ScriptExecutorTest, CancellationKillsTheWholeProcessGroup) {
  std::thread canceller([this] {
    if (WaitUntil([this] { return std::filesystem::exists(dir_.File("pids")); },
                  milliseconds(5000))) {
      cancellation_.Cancel();
    }
  });
  const spi::Status status = RunScript(kSpawnSleeper, {{"script.timeout.seconds", "10"}});
  canceller.join();
  EXPECT_EQ(status.code(), Code::kCancelled) << status.ToString();
  const std::vector<pid_t> pids = ReadPids(dir_.File("pids"));
  ASSERT_EQ(pids.size(), 2u);
  for (pid_t pid : pids) {
    EXPECT_TRUE(WaitUntil([pid] { return ProcessGone(pid); }, milliseconds(2000))) << pid;
  }
}

TEST_F(ScriptExecutorTest, ProcessesIgnoringSigtermGetSigkillAfterTheGrace) {
  std::thread canceller([this] {
    if (WaitUntil([this] { return std::filesystem::exists(dir_.File("pids")); },
                  milliseconds(5000))) {
      cancellation_.Cancel();
    }
  });
  // An ignored signal stays ignored in the children, so the sleeper ignores SIGTERM too.
  const spi::Status status =
      RunScript(std::string("trap '' TERM\n") + kSpawnSleeper,
                {{"script.kill.grace.milliseconds", "100"}, {"script.timeout.seconds", "10"}});
  canceller.join();
  EXPECT_EQ(status.code(), Code::kCancelled) << status.ToString();
  const std::vector<pid_t> pids = ReadPids(dir_.File("pids"));
  ASSERT_EQ(pids.size(), 2u);
  for (pid_t pid : pids) {
    EXPECT_TRUE(WaitUntil([pid] { return ProcessGone(pid); }, milliseconds(2000))) << pid;
  }
}

TEST_F(ScriptExecutorTest, AlreadyCancelledRunsNothing) {
  cancellation_.Cancel();
  const spi::Status status = RunScript("touch \"$1/ran\"\n");
  EXPECT_EQ(status.code(), Code::kCancelled);
  EXPECT_FALSE(std::filesystem::exists(dir_.File("ran")));
}

TEST_F(ScriptExecutorTest, BackgroundChildHoldingThePipeDoesNotHoldTheTask) {
  const auto start = steady_clock::now();
  const spi::Status status = RunScript("sleep 30 &\necho $! > \"$1/pid\"\necho done\n");
  const auto elapsed = steady_clock::now() - start;
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_LT(elapsed, milliseconds(2000));
  EXPECT_TRUE(logger_.Has(spi::LogLevel::kInfo, "task=" + context_.task_id + " stdout: done"));
  const std::vector<pid_t> pids = ReadPids(dir_.File("pid"));
  ASSERT_EQ(pids.size(), 1u);
  ::kill(pids[0], SIGKILL);
}

TEST_F(ScriptExecutorTest, MissingCommandFailsWithTheSystemReason) {
  for (const std::string command :
       {"/nonexistent/shardjob-no-such-command", "shardjob-no-such-command-on-path"}) {
    const spi::Status status =
        Make({{"script.command.line", command + " arg"}})->Execute(nullptr, context_);
    EXPECT_EQ(status.code(), Code::kFailed) << command;
    EXPECT_NE(status.message().find("No such file"), std::string::npos) << status.message();
    EXPECT_NE(status.message().find(command), std::string::npos) << status.message();
  }
}

TEST_F(ScriptExecutorTest, CommandWithoutExecutePermissionFails) {
  const std::string path = dir_.Write("not-executable.sh", "#!/bin/sh\nexit 0\n");
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  const spi::Status status = Make({{"script.command.line", path}})->Execute(nullptr, context_);
  EXPECT_EQ(status.code(), Code::kFailed);
  EXPECT_NE(status.message().find("Permission denied"), std::string::npos) << status.message();
}

TEST_F(ScriptExecutorTest, CommandIsFoundOnThePath) {
  const spi::Status status = Make({{"script.command.line", "true"}})->Execute(nullptr, context_);
  EXPECT_TRUE(status.ok()) << status.ToString();
}

TEST_F(ScriptExecutorTest, ChildInheritsNoStrayDescriptorAndNoneLeaks) {
  // Opened without O_CLOEXEC, as a careless library in the host might.
  const int stray = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(stray, 0);
  const auto count_fds = [] {
    return std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                         std::filesystem::directory_iterator());
  };
  const auto before = count_fds();
  const spi::Status status =
      RunScript("if [ -e /proc/$$/fd/" + std::to_string(stray) + " ]; then exit 9; fi\n");
  const auto after = count_fds();
  ::close(stray);
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(before, after);
}

TEST_F(ScriptExecutorTest, ShardsRunConcurrently) {
  auto executor = [this] {
    const std::string path = dir_.Write("item.sh", "echo item=$SHARDJOB_SHARDING_ITEM\n");
    return Make({{"script.command.line", "/bin/sh " + path}});
  }();
  constexpr int kShards = 4;
  std::vector<spi::ShardingContext> contexts(kShards, context_);
  std::vector<spi::Status> statuses(kShards);
  std::vector<std::thread> threads;
  for (int item = 0; item < kShards; ++item) {
    contexts[item].sharding_item = item;
    contexts[item].task_id = "orderJob@-@1@-@" + std::to_string(item) + "@-@i";
    threads.emplace_back(
        [&, item] { statuses[item] = executor->Execute(nullptr, contexts[item]); });
  }
  for (std::thread& thread : threads) thread.join();
  for (int item = 0; item < kShards; ++item) {
    EXPECT_TRUE(statuses[item].ok()) << statuses[item].ToString();
    EXPECT_TRUE(logger_.Has(spi::LogLevel::kInfo, "task=" + contexts[item].task_id +
                                                      " stdout: item=" + std::to_string(item)));
  }
}

TEST_F(ScriptExecutorTest, ConstructorRejectsBadPropsNamingTheProp) {
  const auto rejection = [this](std::map<std::string, std::string> props) -> std::string {
    try {
      Make(std::move(props));
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "accepted";
  };
  EXPECT_NE(rejection({}).find("script.command.line"), std::string::npos);
  EXPECT_NE(rejection({{"script.command.line", "   "}}).find("script.command.line"),
            std::string::npos);
  EXPECT_NE(rejection({{"script.command.line", "run 'unterminated"}}).find("script.command.line"),
            std::string::npos);
  EXPECT_NE(rejection({{"script.command.line", "true"}, {"script.timeout.seconds", "soon"}})
                .find("script.timeout.seconds"),
            std::string::npos);
  EXPECT_NE(rejection({{"script.command.line", "true"}, {"script.timeout.seconds", "-1"}})
                .find("script.timeout.seconds"),
            std::string::npos);
  EXPECT_NE(rejection({{"script.command.line", "true"}, {"script.output.limit.bytes", "-5"}})
                .find("script.output.limit.bytes"),
            std::string::npos);
  EXPECT_NE(rejection({{"script.command.line", "true"}, {"script.kill.grace.milliseconds", "x"}})
                .find("script.kill.grace.milliseconds"),
            std::string::npos);
}

TEST_F(ScriptExecutorTest, FactoryTurnsTheRejectionIntoAnError) {
  spi::Properties empty;
  std::string error;
  spi::JobExecutor* executor = spi::CreatePluginObject<spi::JobExecutor, ScriptExecutor>(
      spi::PluginContext{empty, logger_, "orderJob"}, &error);
  EXPECT_EQ(executor, nullptr);
  EXPECT_NE(error.find("script.command.line"), std::string::npos) << error;
}

}  // namespace
}  // namespace shardjob::executors
