#pragma once

// Turns a job's config into the plugin objects it runs with, checking every type name against
// the loaded plugins.

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.h"
#include "plugin/plugin_registry.h"
#include "shardjob/spi/job_executor.h"
#include "shardjob/spi/logger.h"

namespace shardjob::execution {
struct JobPlugins;
}

namespace shardjob::app {

// Builds the job's plugin objects. Returns false and appends one line per problem to *problems
// (each naming the job and where it is declared) when a type is unknown or a factory refuses.
//
// A job with `isolation: process` gets an isolation::IsolatedExecutor: its executor and job
// object are still built here, so that a bad config is refused at start as for any job, then
// released; each task builds its own in its task runner process (AssembleTask).
bool AssembleJob(const config::JobConfig& job, const plugin::PluginRegistry& plugins,
                 execution::JobPlugins* assembled, std::vector<std::string>* problems);

// What one task runs with: the executor and, for a Classed job, the user's object. Each holds
// the props and logger it was built with.
struct TaskObjects {
  std::shared_ptr<spi::JobExecutor> executor;
  std::shared_ptr<spi::JobObject> job_object;  // null for a Typed executor
};

// Makes the logger of the plugin object of type `type`.
using LoggerFactory = std::function<std::unique_ptr<spi::Logger>(const std::string& type)>;

// The executor and job object of `job`, as AssembleJob builds them but never wrapped for
// isolation: what a task runner process runs. Same problems, same return.
bool AssembleTask(const config::JobConfig& job, const plugin::PluginRegistry& plugins,
                  const LoggerFactory& loggers, TaskObjects* task,
                  std::vector<std::string>* problems);

// The executor type that drives a Classed job interface ("SimpleJob" -> "SIMPLE").
std::string ExecutorForInterface(const std::string& job_interface);

}  // namespace shardjob::app
