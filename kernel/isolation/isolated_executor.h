#pragma once

// `isolation: process`: each task of a job runs in a task runner process of its own, so job code
// that crashes, leaks or hangs fails its task and nothing else (docs/isolation.md).

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "shardjob/spi/job_executor.h"

namespace shardjob::isolation {

// Stands in for a job's executor. Execute() starts the task runner, hands it the job's config and
// the task's context, forwards its log lines and output to the instance's log, signals its
// process group (SIGTERM when the task's cancellation flag is raised, SIGKILL after kill_grace or
// at the wall timeout), saves the checkpoint records the job saves through the task's
// Checkpoint and answers with the outcome, and turns how the process ended into the task's
// Status. It returns once the process is reaped and its group killed. The in-process job object
// the runtime passes is ignored: the runner builds its own executor and job object from the
// config.
class IsolatedExecutor : public spi::JobExecutor {
 public:
  struct Options {
    std::string runner;  // the task runner program (FindTaskRunner)
    // The plugin libraries that provide the job's executor and class.
    std::vector<std::string> libraries;
    std::string job_config_json;  // config::JobConfigToJson of the job
    config::IsolationLimits limits;
    // What the wrapped executor drives (JobExecutor::JobInterface); nullopt for a Typed one.
    std::optional<std::string> job_interface;
    // How long the job's Checkpoint::Save waits in the runner for the instance's answer before it
    // returns Unavailable.
    std::chrono::milliseconds checkpoint_reply_timeout{30000};
  };

  explicit IsolatedExecutor(Options options);

  const char* JobInterface() const override;
  spi::Status Execute(spi::JobObject* job, const spi::ShardingContext& context) noexcept override;

 private:
  spi::Status Run(const spi::ShardingContext& context) const;

  const Options options_;
};

}  // namespace shardjob::isolation
