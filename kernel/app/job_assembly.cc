#include "app/job_assembly.h"

#include <utility>

namespace shardjob::app {
namespace {

std::string Join(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::string joined;
  for (const std::string& name : names) {
    if (!joined.empty()) joined += ", ";
    joined += name;
  }
  return joined;
}

// Builds one object, or records why not.
template <typename Interface>
std::shared_ptr<Interface> Build(const config::JobConfig& job, const std::string& key,
                                 const std::string& type, const plugin::PluginRegistry& plugins,
                                 AssembledJob* assembled, std::vector<std::string>* problems) {
  const char* kind = plugin::KindOf<Interface>::value;
  std::string where = job.location.ToString() + ": job '" + job.name + "': " + key + ": ";
  if (!plugins.Has(kind, type)) {
    problems->push_back(where + "unknown " + kind + " type '" + type +
                        "' (loaded: " + Join(plugins.TypesOf(kind)) + ")");
    return nullptr;
  }
  assembled->loggers.push_back(
      std::make_unique<logging::PluginLogger>("[" + type + " job=" + job.name + "]"));
  spi::PluginContext context{*assembled->props, *assembled->loggers.back(), job.name};
  try {
    return plugins.Create<Interface>(type, context);
  } catch (const plugin::PluginError& e) {
    problems->push_back(where + e.what());
    return nullptr;
  }
}

}  // namespace

std::string ExecutorForInterface(const std::string& job_interface) {
  if (job_interface == spi::kSimpleJobInterface) return "SIMPLE";
  if (job_interface == spi::kDataflowJobInterface) return "DATAFLOW";
  return "";
}

bool AssembleJob(const config::JobConfig& job, const plugin::PluginRegistry& plugins,
                 AssembledJob* assembled, std::vector<std::string>* problems) {
  std::size_t problems_before = problems->size();
  assembled->props = std::make_unique<spi::Properties>(job.props);
  std::string where = job.location.ToString() + ": job '" + job.name + "': ";

  if (!job.job_class.empty()) {
    assembled->plugins.job_object =
        Build<spi::JobObject>(job, "class", job.job_class, plugins, assembled, problems);
    if (assembled->plugins.job_object) {
      std::string job_interface = assembled->plugins.job_object->Interface();
      std::string executor_type = ExecutorForInterface(job_interface);
      if (executor_type.empty()) {
        problems->push_back(where + "class '" + job.job_class + "' implements '" + job_interface +
                            "', which no executor drives");
      } else {
        assembled->plugins.executor =
            Build<spi::JobExecutor>(job, "class (executor " + executor_type + ")", executor_type,
                                    plugins, assembled, problems);
      }
    }
  } else {
    assembled->plugins.executor =
        Build<spi::JobExecutor>(job, "type", job.executor_type, plugins, assembled, problems);
    if (assembled->plugins.executor && assembled->plugins.executor->JobInterface() != nullptr) {
      problems->push_back(where + "type '" + job.executor_type + "' drives " +
                          assembled->plugins.executor->JobInterface() +
                          " classes: name the class with `class:` instead");
    }
  }
  assembled->strategy = Build<spi::ShardingStrategy>(
      job, "sharding_strategy", job.sharding_strategy, plugins, assembled, problems);
  assembled->plugins.error_handler = Build<spi::ErrorHandler>(
      job, "error_handler", job.error_handler, plugins, assembled, problems);
  for (std::size_t i = 0; i < job.listeners.size(); ++i) {
    auto listener = Build<spi::JobListener>(job, "listeners[" + std::to_string(i) + "]",
                                            job.listeners[i], plugins, assembled, problems);
    if (listener) assembled->plugins.listeners.push_back(std::move(listener));
  }
  return problems->size() == problems_before;
}

}  // namespace shardjob::app
