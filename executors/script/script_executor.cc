#include "executors/script/script_executor.h"

#include <unistd.h>

#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "executors/script/command_line.h"
#include "executors/script/output_capture.h"
#include "executors/script/subprocess.h"

// The process environment; declared by <unistd.h> only with _GNU_SOURCE.
extern char** environ;

namespace shardjob::executors {
namespace {

constexpr const char* kCommandLineProp = "script.command.line";
constexpr const char* kTimeoutProp = "script.timeout.seconds";
constexpr const char* kOutputLimitProp = "script.output.limit.bytes";
constexpr const char* kKillGraceProp = "script.kill.grace.milliseconds";

// Every variable the executor sets. An inherited variable of the same name is dropped even when
// the executor does not set it this time (SHARDJOB_SHARDING_PARAMETER for an item without one),
// so a script never mistakes the host's stale value for its own.
constexpr std::string_view kOwnVariables[] = {
    "SHARDJOB_JOB_NAME",
    "SHARDJOB_FIRE_ID",
    "SHARDJOB_TASK_ID",
    "SHARDJOB_INSTANCE_ID",
    "SHARDJOB_SHARDING_ITEM",
    "SHARDJOB_SHARDING_PARAMETER",
    "SHARDJOB_SHARDING_TOTAL_COUNT",
    "SHARDJOB_JOB_PARAMETER",
    "SHARDJOB_FENCING_TOKEN",
    "SHARDJOB_CONTEXT",
};

bool IsOwnVariable(std::string_view entry) {
  const std::string_view name = entry.substr(0, entry.find('='));
  for (std::string_view own : kOwnVariables) {
    if (name == own) return true;
  }
  return false;
}

std::int64_t ReadInt(const spi::Properties& props, const char* key, std::int64_t fallback,
                     std::int64_t min, std::int64_t max) {
  std::int64_t value = fallback;
  spi::Status status = props.GetInt(key, fallback, min, max, &value);
  if (!status.ok()) throw std::invalid_argument(status.message());
  return value;
}

// The parent's environment is read at each call, so that a variable the host sets after the job
// was built still reaches the script, as it would with ProcessBuilder. Like every reader of
// environ, this is only safe while no thread calls setenv(), which the kernel does not do once
// jobs run.
std::vector<std::string> BuildEnvironment(const spi::ShardingContext& context,
                                          const std::string& json) {
  std::vector<std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    if (!IsOwnVariable(*entry)) env.emplace_back(*entry);
  }
  env.push_back("SHARDJOB_JOB_NAME=" + context.job_name);
  env.push_back("SHARDJOB_FIRE_ID=" + context.fire_id);
  env.push_back("SHARDJOB_TASK_ID=" + context.task_id);
  env.push_back("SHARDJOB_INSTANCE_ID=" + context.instance_id);
  env.push_back("SHARDJOB_SHARDING_ITEM=" + std::to_string(context.sharding_item));
  if (context.sharding_parameter) {
    env.push_back("SHARDJOB_SHARDING_PARAMETER=" + *context.sharding_parameter);
  }
  env.push_back("SHARDJOB_SHARDING_TOTAL_COUNT=" + std::to_string(context.sharding_total_count));
  env.push_back("SHARDJOB_JOB_PARAMETER=" + context.job_parameter);
  env.push_back("SHARDJOB_FENCING_TOKEN=" + std::to_string(context.fencing_token));
  env.push_back("SHARDJOB_CONTEXT=" + json);
  return env;
}

std::string WithTail(std::string message, const std::string& tail) {
  if (!tail.empty()) message += ": " + tail;
  return message;
}

}  // namespace

ScriptExecutor::ScriptExecutor(const spi::PluginContext& context) : logger_(context.logger) {
  const std::optional<std::string> command_line = context.props.Find(kCommandLineProp);
  if (!command_line) {
    throw std::invalid_argument(std::string("prop '") + kCommandLineProp + "' is required");
  }
  std::string error;
  if (!TokenizeCommandLine(*command_line, &argv_, &error)) {
    throw std::invalid_argument(std::string("prop '") + kCommandLineProp + "': " + error);
  }
  if (argv_.empty()) {
    throw std::invalid_argument(std::string("prop '") + kCommandLineProp + "' names no command");
  }
  constexpr std::int64_t kOneYear = 366LL * 24 * 3600;
  const std::int64_t timeout = ReadInt(context.props, kTimeoutProp, 0, 0, kOneYear);
  if (timeout > 0) timeout_ = std::chrono::seconds(timeout);
  output_limit_ = static_cast<std::size_t>(
      ReadInt(context.props, kOutputLimitProp, 64 * 1024, 0, std::int64_t{1} << 30));
  kill_grace_ =
      std::chrono::milliseconds(ReadInt(context.props, kKillGraceProp, 2000, 0, 10 * 60 * 1000));
}

const char* ScriptExecutor::JobInterface() const { return nullptr; }

spi::Status ScriptExecutor::Execute(spi::JobObject* /*job*/,
                                    const spi::ShardingContext& context) noexcept {
  try {
    return Run(context);
  } catch (const std::exception& e) {
    return spi::Status::Internal(std::string("SCRIPT executor: ") + e.what());
  } catch (...) {
    return spi::Status::Internal("SCRIPT executor: unknown exception");
  }
}

spi::Status ScriptExecutor::Run(const spi::ShardingContext& context) const {
  if (context.IsCancelled()) return spi::Status::Cancelled("cancelled before the script started");

  const std::string json = spi::ToJson(context);
  SubprocessSpec spec;
  spec.argv = argv_;
  // Added as is, unquoted, as ElasticJob does: it arrives as exactly one argument.
  spec.argv.push_back(json);
  spec.env = BuildEnvironment(context, json);
  spec.timeout = timeout_;
  spec.cancellation = context.cancellation;
  spec.kill_grace = kill_grace_;

  OutputCapture capture(logger_, context.task_id, output_limit_);
  const SubprocessOutcome outcome = RunSubprocess(spec, capture);
  capture.Finish();

  using Kind = SubprocessOutcome::Kind;
  switch (outcome.kind) {
    case Kind::kExited:
      if (outcome.exit_code == 0) return spi::Status::Ok();
      return spi::Status::Failed(
          WithTail("exit code " + std::to_string(outcome.exit_code), capture.Tail()));
    case Kind::kSignaled:
      return spi::Status::Failed(
          WithTail("killed by " + SignalName(outcome.signal), capture.Tail()));
    case Kind::kTimedOut:
      return spi::Status::TimedOut(
          WithTail("ran longer than " + std::to_string(timeout_ ? timeout_->count() : 0) +
                       " s; killed process group " + std::to_string(outcome.pid),
                   capture.Tail()));
    case Kind::kCancelled:
      return spi::Status::Cancelled("cancelled; killed process group " +
                                    std::to_string(outcome.pid));
    case Kind::kSystemError:
      if (outcome.failed_call == "exec") {
        return spi::Status::Failed("cannot execute '" + argv_.front() +
                                   "': " + ErrorText(outcome.error_number));
      }
      return spi::Status::Failed(outcome.failed_call +
                                 " failed: " + ErrorText(outcome.error_number));
  }
  return spi::Status::Internal("SCRIPT executor: unknown outcome");
}

}  // namespace shardjob::executors
