#include "app/job_assembly.h"

#include <filesystem>
#include <optional>
#include <utility>

#include "config/job_config_json.h"
#include "execution/job_runtime.h"
#include "isolation/isolated_executor.h"
#include "isolation/runner_location.h"
#include "logging/log.h"
#include "shardjob/spi/properties.h"
#include "shardjob/spi/shard_source.h"

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
  LoggerFactory make_logger;
  std::vector<std::unique_ptr<spi::Logger>> loggers;
};

std::shared_ptr<PluginContexts> MakeContexts(const config::JobConfig& job, LoggerFactory loggers) {
  auto contexts = std::make_shared<PluginContexts>();
  contexts->props = std::make_unique<spi::Properties>(job.props);
  contexts->make_logger = std::move(loggers);
  return contexts;
}

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
  contexts->loggers.push_back(contexts->make_logger(type));
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
    // The message already names the job, the kind, the type and its library.
    problems->push_back(job.location.ToString() + ": " + e.what());
    return nullptr;
  }
}

// The executor type a job runs with: its `type`, or the one that drives its class's interface.
// Empty when the class could not be built.
std::string ExecutorTypeOf(const config::JobConfig& job, const TaskObjects& task) {
  if (job.job_class.empty()) return job.executor_type;
  return task.job_object ? ExecutorForInterface(task.job_object->Interface()) : "";
}

void BuildTask(const config::JobConfig& job, const plugin::PluginRegistry& plugins,
               const std::shared_ptr<PluginContexts>& contexts, TaskObjects* task,
               std::vector<std::string>* problems) {
  std::string where = job.location.ToString() + ": job '" + job.name + "': ";
  if (!job.job_class.empty()) {
    task->job_object =
        Build<spi::JobObject>(job, "class", job.job_class, plugins, contexts, problems);
    if (task->job_object) {
      std::string job_interface = task->job_object->Interface();
      std::string executor_type = ExecutorForInterface(job_interface);
      if (executor_type.empty()) {
        problems->push_back(where + "class '" + job.job_class + "' implements '" + job_interface +
                            "', which no executor drives");
      } else {
        task->executor = Build<spi::JobExecutor>(job, "class (executor " + executor_type + ")",
                                                 executor_type, plugins, contexts, problems);
      }
    }
  } else {
    task->executor =
        Build<spi::JobExecutor>(job, "type", job.executor_type, plugins, contexts, problems);
    if (task->executor && task->executor->JobInterface() != nullptr) {
      problems->push_back(where + "type '" + job.executor_type + "' drives " +
                          task->executor->JobInterface() +
                          " classes: name the class with `class:` instead");
    }
  }
}

// The file of the library that provides (kind, type); it was loaded, so it is there.
std::string LibraryOf(const plugin::PluginRegistry& plugins, const char* kind,
                      const std::string& type) {
  for (const plugin::LoadedType& loaded : plugins.Types()) {
    if (loaded.kind == kind && loaded.type == type) {
      std::error_code ignored;
      return std::filesystem::absolute(loaded.file, ignored).string();
    }
  }
  return "";
}

// The executor that runs each task of `job` in a task runner process, in place of the one built
// in-process, which is released with the job object (the runner builds its own).
std::shared_ptr<spi::JobExecutor> IsolateTask(const config::JobConfig& job,
                                              const plugin::PluginRegistry& plugins,
                                              const TaskObjects& task,
                                              std::vector<std::string>* problems) {
  isolation::IsolatedExecutor::Options options;
  std::string why;
  options.runner = isolation::FindTaskRunner(&why);
  if (options.runner.empty()) {
    problems->push_back(job.location.ToString() + ": job '" + job.name +
                        "': isolation: process: " + why);
    return nullptr;
  }
  // Only what the task needs: loading every plugin in every task would cost each task the
  // start-up of all of them.
  options.libraries.push_back(LibraryOf(plugins, spi::kExecutorKind, ExecutorTypeOf(job, task)));
  if (!job.job_class.empty()) {
    options.libraries.push_back(LibraryOf(plugins, spi::kJobKind, job.job_class));
  }
  options.job_config_json = config::JobConfigToJson(job);
  options.limits = job.isolation_limits;
  if (const char* job_interface = task.executor->JobInterface()) {
    options.job_interface = job_interface;
  }
  return std::make_shared<isolation::IsolatedExecutor>(std::move(options));
}

// The job's shard source, or null with a problem recorded. A deterministic source is asked for
// the shards of a trial fire here, so that props it cannot work with, or a count its range does
// not make, refuse the job at start (and in `shardjob validate`) instead of failing every fire.
std::shared_ptr<spi::ShardSource> BuildShardSource(const config::JobConfig& job,
                                                   const plugin::PluginRegistry& plugins,
                                                   const std::shared_ptr<PluginContexts>& contexts,
                                                   std::vector<std::string>* problems) {
  std::string where = job.location.ToString() + ": job '" + job.name + "': shard_source: ";
  if (!job.sharding_item_parameters.empty()) {
    problems->push_back(where +
                        "a shard source generates what each item covers; drop "
                        "sharding_item_parameters");
  }
  auto source =
      Build<spi::ShardSource>(job, "shard_source", job.shard_source, plugins, contexts, problems);
  if (!source || !source->Deterministic()) return source;
  spi::ShardSourceRequest request{job.name, "validate", job.sharding_total_count};
  std::vector<spi::ShardSpec> shards;
  spi::Status status = source->Generate(request, &shards);
  if (!status.ok()) {
    problems->push_back(where + job.shard_source + ": " + status.message());
    return nullptr;
  }
  if (shards.size() != static_cast<std::size_t>(job.sharding_total_count)) {
    problems->push_back(where + job.shard_source + " generated " + std::to_string(shards.size()) +
                        " shards for sharding_total_count " +
                        std::to_string(job.sharding_total_count));
    return nullptr;
  }
  return source;
}

}  // namespace

std::string ExecutorForInterface(const std::string& job_interface) {
  if (job_interface == spi::kSimpleJobInterface) return "SIMPLE";
  if (job_interface == spi::kDataflowJobInterface) return "DATAFLOW";
  return "";
}

bool AssembleTask(const config::JobConfig& job, const plugin::PluginRegistry& plugins,
                  const LoggerFactory& loggers, TaskObjects* task,
                  std::vector<std::string>* problems) {
  std::size_t problems_before = problems->size();
  TaskObjects built;
  BuildTask(job, plugins, MakeContexts(job, loggers), &built, problems);
  if (problems->size() != problems_before) return false;
  *task = std::move(built);
  return true;
}

bool AssembleJob(const config::JobConfig& job, const plugin::PluginRegistry& plugins,
                 execution::JobPlugins* assembled, std::vector<std::string>* problems) {
  std::size_t problems_before = problems->size();
  auto contexts = MakeContexts(job, [name = job.name](const std::string& type) {
    return std::make_unique<logging::PluginLogger>("[" + type + " job=" + name + "]");
  });
  execution::JobPlugins built;
  built.contexts = contexts;

  TaskObjects task;
  BuildTask(job, plugins, contexts, &task, problems);
  if (task.executor && problems->size() == problems_before &&
      job.isolation == config::Isolation::kProcess) {
    task.executor = IsolateTask(job, plugins, task, problems);
    task.job_object = nullptr;
  }
  built.executor = std::move(task.executor);
  built.job_object = std::move(task.job_object);
  built.strategy = Build<spi::ShardingStrategy>(job, "sharding_strategy", job.sharding_strategy,
                                                plugins, contexts, problems);
  if (!job.shard_source.empty()) {
    built.shard_source = BuildShardSource(job, plugins, contexts, problems);
  }
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
