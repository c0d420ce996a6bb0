#pragma once

// Turns a job's config into the plugin objects it runs with, checking every type name against
// the loaded plugins.

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.h"
#include "execution/job_runtime.h"
#include "plugin/plugin_registry.h"

namespace shardjob::app {

// Builds the job's plugin objects. Returns false and appends one line per problem to *problems
// (each naming the job and where it is declared) when a type is unknown or a factory refuses.
bool AssembleJob(const config::JobConfig& job, const plugin::PluginRegistry& plugins,
                 execution::JobPlugins* assembled, std::vector<std::string>* problems);

// The executor type that drives a Classed job interface ("SimpleJob" -> "SIMPLE").
std::string ExecutorForInterface(const std::string& job_interface);

}  // namespace shardjob::app
