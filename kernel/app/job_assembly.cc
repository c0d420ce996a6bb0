#include "app/job_assembly.h"

#include <utility>

#include "logging/log.h"
#include "shardjob/spi/properties.h"

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

// What the objects of one job refer to: their props and their loggers.
struct PluginContexts {
  std::unique_ptr<spi::Properties> props;
  std::vector<std::unique_ptr<logging::PluginLogger>> loggers;
};

// Builds one object, or records why not.
template <typename Interface>
std::shared_ptr<Interface> Build(const config::JobConfig& job, const std::string& key,
                                 const std::string& type, const plugin::PluginRegistry& plugins,
                                 const std::shared_ptr<PluginContexts>& contexts_owner,
                                 std::vector<std::string>* problems) {
  PluginContexts* contexts = contexts_owner.get();
  const char* kind = plugin::KindOf<Interface>::value;
  std::string where = job.location.ToString() + ": job '" + job.name + "': " + key + ": ";
  if (!plugins.Has(kind, type)) {
    problems->push_back(where + "unknown " + kind + " type '" + type +
                        "' (loaded: " + Join(plugins.TypesOf(kind)) + ")");
    return nullptr;
  }
  contexts->loggers.push_back(
      std::make_unique<logging::PluginLogger>("[" + type + " job=" + job.name + "]"));
  spi::PluginContext context{*contexts->props, *contexts->loggers.back(), job.name};
  try {
    std::shared_ptr<Interface> object = plugins.Create<Interface>(type, context);
    // The SPI promises the props and logger outlive the object: whoever holds the object (the
    // coordinator holds the strategy) holds them too. The object is declared last, so it goes
    // first.
    struct Kept {
      std::shared_ptr<PluginContexts> contexts;
      std::shared_ptr<Interface> object;
    };
    auto kept = std::make_shared<Kept>(Kept{contexts_owner, std::move(object)});
    return std::shared_ptr<Interface>(kept, kept->object.get());
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
                 execution::JobPlugins* assembled, std::vector<std::string>* problems) {
  std::size_t problems_before = problems->size();
  auto contexts = std::make_shared<PluginContexts>();
  contexts->props = std::make_unique<spi::Properties>(job.props);
  execution::JobPlugins built;
  built.contexts = contexts;
  std::string where = job.location.ToString() + ": job '" + job.name + "': ";

  if (!job.job_class.empty()) {
    built.job_object =
        Build<spi::JobObject>(job, "class", job.job_class, plugins, contexts, problems);
    if (built.job_object) {
      std::string job_interface = built.job_object->Interface();
      std::string executor_type = ExecutorForInterface(job_interface);
      if (executor_type.empty()) {
        problems->push_back(where + "class '" + job.job_class + "' implements '" + job_interface +
                            "', which no executor drives");
      } else {
        built.executor = Build<spi::JobExecutor>(job, "class (executor " + executor_type + ")",
                                                 executor_type, plugins, contexts, problems);
      }
    }
  } else {
    built.executor =
        Build<spi::JobExecutor>(job, "type", job.executor_type, plugins, contexts, problems);
    if (built.executor && built.executor->JobInterface() != nullptr) {
      problems->push_back(where + "type '" + job.executor_type + "' drives " +
                          built.executor->JobInterface() +
                          " classes: name the class with `class:` instead");
    }
  }
  built.strategy = Build<spi::ShardingStrategy>(job, "sharding_strategy", job.sharding_strategy,
                                                plugins, contexts, problems);
  built.error_handler = Build<spi::ErrorHandler>(job, "error_handler", job.error_handler, plugins,
                                                 contexts, problems);
  for (std::size_t i = 0; i < job.listeners.size(); ++i) {
    auto listener = Build<spi::JobListener>(job, "listeners[" + std::to_string(i) + "]",
                                            job.listeners[i], plugins, contexts, problems);
    if (listener) built.listeners.push_back(std::move(listener));
  }
  if (problems->size() != problems_before) return false;
  *assembled = std::move(built);
  return true;
}

}  // namespace shardjob::app
