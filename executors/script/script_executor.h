#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "shardjob/spi/job_executor.h"
#include "shardjob/spi/logger.h"
#include "shardjob/spi/plugin.h"

namespace shardjob::executors {

// SCRIPT: ElasticJob's ScriptJobExecutor. Runs a command per shard, with the shard's context as
// one extra, last argument in JSON (spi::ToJson), and succeeds iff the command exits with 0.
//
// Props:
//   script.command.line            required. Split into argv like a shell would split words but
//                                  with no expansion at all (see TokenizeCommandLine); it is
//                                  never run through /bin/sh. To run a shell script, name the
//                                  interpreter: `/bin/sh /opt/jobs/sync.sh`.
//   script.timeout.seconds         default 0, no limit. Past it the process group is killed and
//                                  the task ends TimedOut.
//   script.output.limit.bytes      default 65536: how much of stdout and stderr together is
//                                  logged; the rest is dropped and counted.
//   script.kill.grace.milliseconds default 2000: how long the process group has between SIGTERM
//                                  and SIGKILL on timeout or cancellation.
//
// The child runs in its own process group with stdin from /dev/null and the parent's environment
// plus SHARDJOB_JOB_NAME, SHARDJOB_FIRE_ID, SHARDJOB_TASK_ID, SHARDJOB_INSTANCE_ID,
// SHARDJOB_SHARDING_ITEM, SHARDJOB_SHARDING_PARAMETER (only when the item has one),
// SHARDJOB_SHARDING_TOTAL_COUNT, SHARDJOB_JOB_PARAMETER, SHARDJOB_FENCING_TOKEN and
// SHARDJOB_CONTEXT (the JSON). Its output lines are logged with the task id as they arrive.
//
// Outcomes: exit 0 -> OK; exit N -> Failed("exit code N: <tail of output>"); killed by a signal
// -> Failed naming the signal; a command that cannot be executed -> Failed with the system's
// reason; timeout -> TimedOut; ctx.cancellation raised -> Cancelled (both after killing the
// process group).
//
// Thread-safe: Execute() runs concurrently for different shards; the object is immutable after
// construction.
class ScriptExecutor : public spi::JobExecutor {
 public:
  // Throws std::invalid_argument naming the prop when a prop is missing or malformed.
  explicit ScriptExecutor(const spi::PluginContext& context);

  const char* JobInterface() const override;
  spi::Status Execute(spi::JobObject* job, const spi::ShardingContext& context) noexcept override;

 private:
  spi::Status Run(const spi::ShardingContext& context) const;

  // The kernel guarantees the logger outlives every object built with it.
  spi::Logger& logger_;
  std::vector<std::string> argv_;
  std::optional<std::chrono::seconds> timeout_;
  std::size_t output_limit_ = 0;
  std::chrono::milliseconds kill_grace_{0};
};

}  // namespace shardjob::executors
