#pragma once

// Turns a job's config into the plugin objects it runs with, checking every type name against
// the loaded plugins.

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.h"
#include "execution/job_runtime.h"
#include "logging/log.h"
#include "plugin/plugin_registry.h"
#include "shardjob/spi/properties.h"
#include "shardjob/spi/sharding_strategy.h"

namespace shardjob::app {

// Everything a job's plugin objects refer to, kept together so that the objects (declared last,
// destroyed first) never outlive their props or loggers.
struct AssembledJob {
  std::unique_ptr<spi::Properties> props;
  std::vector<std::unique_ptr<logging::PluginLogger>> loggers;
  execution::JobPlugins plugins;
  std::shared_ptr<spi::ShardingStrategy> strategy;
};

// Builds the job's objects. Returns false and appends one line per problem to *problems (each
// naming the job and where it is declared) when a type is unknown or a factory refuses.
bool AssembleJob(const config::JobConfig& job, const plugin::PluginRegistry& plugins,
                 AssembledJob* assembled, std::vector<std::string>* problems);

// The executor type that drives a Classed job interface ("SimpleJob" -> "SIMPLE").
std::string ExecutorForInterface(const std::string& job_interface);

}  // namespace shardjob::app
