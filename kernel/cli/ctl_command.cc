#include "cli/ctl_command.h"

#include <cctype>
#include <chrono>
#include <climits>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "api/history_query.h"
#include "app/job_assembly.h"
#include "app/registry_factory.h"
#include "cli/job_file.h"
#include "cli/table_printer.h"
#include "config/config.h"
#include "execution/job_runtime.h"
#include "logging/log.h"
#include "operations/cluster_operations.h"
#include "plugin/plugin_registry.h"
#include "shardjob/spi/properties.h"
#include "shardjob/spi/trace_history.h"

namespace shardjob::cli {

const char* const kCtlUsage =
    R"(usage: shardjob ctl -c FILE [--json] <command> [arguments] [options]

Operates the cluster of the config FILE through its registry (ZooKeeper) and reads its trace
store; no instance needs to run. --json prints the operation's JSON document instead of text.

jobs:
  jobs                              list the jobs: status, shards, instances, leader, next fire
  job show JOB                      one job: its state and its config
  job create -f JOB_FILE            add a job; JOB_FILE (YAML or JSON) holds one job's keys
  job update JOB -f JOB_FILE [--if-version N]
                                    replace a job's config (only if still at version N)
  job delete JOB                    stop the job everywhere and remove it
  job trigger JOB                   fire the job once now; prints the fire id
  job enable JOB | job disable JOB  let the job run, or keep it from running any shard
  job shutdown JOB [--instance ID]  ask its instances (or one) to stop running it until restart
shards:
  shards JOB                        each shard: owner, disabled, committed, claimed, lease
  shard enable JOB ITEM | shard disable JOB ITEM
instances:
  instances                         the live processes and the jobs each runs
  instance enable ID [--job JOB] | instance disable ID [--job JOB]
                                    let the instance run shards again, or move them away
                                    (for every job, or only JOB)
  instance shutdown ID              ask a live process to stop gracefully
history (the trace store of the config's `tracing` section):
  history executions [--job J] [--instance I] [--fire F] [--item N] [--failed|--succeeded]
                     [--since T] [--until T] [--limit N] [--offset N]
  history status [--job J] [--instance I] [--fire F] [--state S] [--since T] [--until T]
                 [--limit N] [--offset N]
                                    T: 2026-11-22T10:00:00Z, 2026-11-22 (local), epoch ms, or
                                    15m / 2h / 7d (that long ago); S: RUNNING, FINISHED, ERROR, ...
support:
  dump JOB                          every registry node of the job, as JSON
  help                              print this text

exit status: 0 done, 1 the operation failed (not found, conflict, invalid, unavailable),
2 usage error
)";

namespace {

using Json = nlohmann::json;
using operations::OperationError;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ---- arguments

struct OptionSpec {
  const char* name;
  const char* short_name;
  bool takes_value;
};

constexpr OptionSpec kOptions[] = {
    {"--config", "-c", true},        {"--json", nullptr, false},    {"--file", "-f", true},
    {"--if-version", nullptr, true}, {"--instance", nullptr, true}, {"--job", nullptr, true},
    {"--fire", nullptr, true},       {"--item", nullptr, true},     {"--failed", nullptr, false},
    {"--succeeded", nullptr, false}, {"--since", nullptr, true},    {"--until", nullptr, true},
    {"--limit", nullptr, true},      {"--offset", nullptr, true},   {"--state", nullptr, true},
    {"--help", "-h", false},
};

struct Arguments {
  std::vector<std::string> words;
  std::map<std::string, std::string> options;  // long name -> value ("" for a flag)

  bool Has(const std::string& name) const { return options.count(name) > 0; }
  std::string Get(const std::string& name) const {
    auto it = options.find(name);
    return it == options.end() ? std::string() : it->second;
  }
};

Arguments ParseArguments(const std::vector<std::string>& args) {
  Arguments parsed;
  bool only_words = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (only_words || arg.size() < 2 || arg[0] != '-') {
      parsed.words.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_words = true;
      continue;
    }
    std::string name = arg;
    std::optional<std::string> value;
    if (std::size_t equals = arg.find('=');
        arg.rfind("--", 0) == 0 && equals != std::string::npos) {
      name = arg.substr(0, equals);
      value = arg.substr(equals + 1);
    }
    const OptionSpec* spec = nullptr;
    for (const OptionSpec& option : kOptions) {
      if (name == option.name || (option.short_name != nullptr && name == option.short_name)) {
        spec = &option;
      }
    }
    if (spec == nullptr) throw UsageError("unknown option '" + name + "'");
    if (spec->takes_value && !value) {
      if (i + 1 >= args.size()) throw UsageError(std::string(spec->name) + " needs a value");
      value = args[++i];
    }
    if (!spec->takes_value && value) {
      throw UsageError(std::string(spec->name) + " takes no value");
    }
    if (parsed.options.count(spec->name) > 0) {
      throw UsageError(std::string(spec->name) + " is given twice");
    }
    parsed.options[spec->name] = value.value_or("");
  }
  return parsed;
}

std::int64_t ParseInteger(const std::string& option, const std::string& text, std::int64_t min,
                          std::int64_t max) {
  std::size_t used = 0;
  std::int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || value < min || value > max) {
    throw UsageError(option + ": expected a whole number from " + std::to_string(min) + " to " +
                     std::to_string(max) + ", got '" + text + "'");
  }
  return value;
}

// ---- output helpers

std::string Text(const Json& value) {
  if (value.is_null()) return "";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  return value.dump();
}

std::string Field(const Json& object, const char* key) {
  if (!object.is_object() || !object.contains(key)) return "";
  return Text(object.at(key));
}

std::int64_t Number(const Json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || !object.at(key).is_number()) return 0;
  return object.at(key).get<std::int64_t>();
}

std::string Joined(const Json& list) {
  std::string text;
  if (!list.is_array()) return text;
  for (const Json& item : list) text += (text.empty() ? "" : ",") + Text(item);
  return text;
}

std::string Joined(const std::vector<std::string>& list, const char* separator = ", ") {
  std::string text;
  for (const std::string& item : list) text += (text.empty() ? "" : separator) + item;
  return text;
}

void PrintJson(const Json& document) {
  std::cout << document.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
}

// ---- the cluster and the plugins, opened when a command needs them

class Context {
 public:
  Context(std::string config_path, bool json) : config_path_(std::move(config_path)), json_(json) {}

  bool json() const { return json_; }

  const config::Config& config() {
    if (!config_) {
      if (config_path_.empty()) throw UsageError("-c FILE is required: the cluster's config file");
      try {
        config_ = config::LoadConfigFile(config_path_);
      } catch (const config::ConfigError& e) {
        throw OperationError(OperationError::Kind::kInvalid, e.what());
      }
      // Errors only (a session timeout the server lowered is no news here), on stderr: stdout is
      // for results.
      spdlog::set_default_logger(spdlog::stderr_color_mt("shardjob-ctl"));
      logging::Configure("error");
    }
    return *config_;
  }

  operations::ClusterOperations& ops() {
    if (ops_) return *ops_;
    const config::Config& cluster = config();
    if (cluster.registry.type == config::RegistryConfig::Type::kEmbedded) {
      throw OperationError(OperationError::Kind::kInvalid,
                           config_path_ +
                               ": registry.type is embedded: that registry lives inside one "
                               "process; operate it from there (its HTTP API)");
    }
    try {
      registry_ = app::OpenRegistry(cluster);
    } catch (const std::runtime_error& e) {
      throw OperationError(OperationError::Kind::kUnavailable, e.what());
    }
    ops_ = std::make_unique<operations::ClusterOperations>(
        *registry_.session, registry_.root,
        [this](const config::JobConfig& job) { return CheckJob(job); });
    return *ops_;
  }

  const plugin::PluginRegistry& plugins() {
    if (plugins_) return *plugins_;
    plugins_ = std::make_unique<plugin::PluginRegistry>();
    for (const std::string& dir : config().plugin_dirs) {
      try {
        plugins_->LoadDirectory(dir);
      } catch (const plugin::PluginError& e) {
        throw OperationError(OperationError::Kind::kInvalid, config_path_ + ": " + e.what());
      }
    }
    return *plugins_;
  }

  // The job file being created or updated: plugin problems are reported at its position.
  void set_job_file(const JobFile* file) { job_file_ = file; }

  spi::TraceHistory& history() {
    if (history_) return *history_;
    const config::Config& cluster = config();
    if (cluster.tracing.type.empty()) {
      throw OperationError(
          OperationError::Kind::kInvalid,
          config_path_ + ": there is no `tracing` section: no trace history to read");
    }
    const plugin::PluginRegistry& loaded = plugins();
    if (!loaded.Has(spi::kTraceHistoryKind, cluster.tracing.type)) {
      std::string known = Joined(loaded.TypesOf(spi::kTraceHistoryKind));
      throw OperationError(OperationError::Kind::kInvalid,
                           config_path_ + ": tracing.type: the " + cluster.tracing.type +
                               " tracer's store cannot be read back (no trace_history type '" +
                               cluster.tracing.type + "' in the plugin dirs; loaded: " +
                               (known.empty() ? "none" : known) + ")");
    }
    history_props_ = std::make_unique<spi::Properties>(cluster.tracing.props);
    history_logger_ =
        std::make_unique<logging::PluginLogger>("[" + cluster.tracing.type + " history]");
    spi::PluginContext context{*history_props_, *history_logger_, ""};
    try {
      history_ = loaded.Create<spi::TraceHistory>(cluster.tracing.type, context);
    } catch (const plugin::PluginError& e) {
      throw OperationError(OperationError::Kind::kUnavailable,
                           config_path_ + ": tracing: " + e.what());
    }
    return *history_;
  }

 private:
  std::vector<std::string> CheckJob(const config::JobConfig& job) {
    config::JobConfig located = job;
    if (job_file_ != nullptr && job_file_->job.name == job.name) {
      located.location = job_file_->job.location;
    }
    execution::JobPlugins assembled;
    std::vector<std::string> problems;
    app::AssembleJob(located, plugins(), &assembled, &problems);
    return problems;
  }

  std::string config_path_;
  bool json_;
  std::optional<config::Config> config_;
  std::unique_ptr<plugin::PluginRegistry> plugins_;
  app::OpenedRegistry registry_;
  std::unique_ptr<operations::ClusterOperations> ops_;
  const JobFile* job_file_ = nullptr;
  std::unique_ptr<spi::Properties> history_props_;
  std::unique_ptr<logging::PluginLogger> history_logger_;
  std::shared_ptr<spi::TraceHistory> history_;  // declared last: released first
};

// ---- commands

struct Invocation {
  Context& context;
  const Arguments& arguments;
  std::vector<std::string> operands;  // the words after the command's own, e.g. JOB
};

void ListJobs(Invocation& call) {
  Json jobs = call.context.ops().ListJobs();
  if (call.context.json()) return PrintJson(jobs);
  Table table({"JOB", "STATUS", "SHARDS", "RUNNING", "INSTANCES", "LEADER", "EXECUTOR", "SCHEDULE",
               "NEXT FIRE"});
  for (const Json& job : jobs) {
    std::int64_t next = Number(job, "next_fire_ms");
    table.AddRow({Field(job, "name"), Field(job, "status"), Field(job, "shard_count"),
                  Field(job, "running_shards"), Field(job, "instances"), Field(job, "leader"),
                  Field(job, "executor"), Field(job, "schedule"),
                  next == 0 ? "" : FormatLocalTime(next)});
  }
  table.Print(std::cout);
}

void ShowJob(Invocation& call) {
  Json job = call.context.ops().GetJob(call.operands[0]);
  if (call.context.json()) return PrintJson(job);
  std::int64_t next = Number(job, "next_fire_ms");
  std::vector<std::pair<std::string, std::string>> lines = {
      {"name", Field(job, "name")},
      {"status", Field(job, "status")},
      {"disabled", Field(job, "disabled")},
      {"description", Field(job, "description")},
      {"executor", Field(job, "executor")},
      {"schedule", Field(job, "schedule")},
      {"next fire", next == 0 ? "" : FormatLocalTime(next)},
      {"shards", Field(job, "shard_count") + " (" + Field(job, "running_shards") + " running)"},
      {"instances", Field(job, "instances")},
      {"leader", Field(job, "leader")},
      {"config version", Field(job, "config_version")},
  };
  for (const auto& [label, value] : lines) {
    std::cout << label << ":" << std::string(16 - label.size(), ' ')
              << (value.empty() ? "-" : value) << "\n";
  }
  if (job.contains("config") && job["config"].is_object()) {
    std::cout << "config:\n";
    for (const auto& [key, value] : job["config"].items()) {
      std::string text = value.is_string() ? value.get<std::string>() : value.dump();
      std::cout << "  " << key << ": " << (text.empty() ? "\"\"" : text) << "\n";
    }
  }
}

void CreateJob(Invocation& call) {
  if (!call.arguments.Has("--file")) throw UsageError("job create: -f JOB_FILE is required");
  JobFile file;
  try {
    file = LoadJobFile(call.arguments.Get("--file"));
  } catch (const JobFileError& e) {
    throw OperationError(OperationError::Kind::kInvalid, e.what());
  }
  call.context.set_job_file(&file);
  Json job = call.context.ops().CreateJob(file.json);
  call.context.set_job_file(nullptr);
  if (call.context.json()) return PrintJson(job);
  std::cout << "created job " << Field(job, "name") << " (config version "
            << Field(job, "config_version") << ")\n";
}

void UpdateJob(Invocation& call) {
  const std::string& name = call.operands[0];
  if (!call.arguments.Has("--file")) throw UsageError("job update: -f JOB_FILE is required");
  std::optional<std::int32_t> version;
  if (call.arguments.Has("--if-version")) {
    version = static_cast<std::int32_t>(
        ParseInteger("--if-version", call.arguments.Get("--if-version"), 0, INT32_MAX));
  }
  JobFile file;
  try {
    file = LoadJobFile(call.arguments.Get("--file"), name);
  } catch (const JobFileError& e) {
    throw OperationError(OperationError::Kind::kInvalid, e.what());
  }
  call.context.set_job_file(&file);
  Json job = call.context.ops().UpdateJob(name, file.json, version);
  call.context.set_job_file(nullptr);
  if (call.context.json()) return PrintJson(job);
  std::cout << "updated job " << Field(job, "name") << " (config version "
            << Field(job, "config_version") << ")\n";
}

void DeleteJob(Invocation& call) {
  Json result = call.context.ops().DeleteJob(call.operands[0]);
  if (call.context.json()) return PrintJson(result);
  std::vector<std::string> stopping;
  if (result.contains("instances") && result["instances"].is_array()) {
    for (const Json& id : result["instances"]) stopping.push_back(Text(id));
  }
  if (Field(result, "state") == "stopping" && !stopping.empty()) {
    std::cout << "deleted job " << call.operands[0] << "; " << stopping.size()
              << " instance(s) are stopping it: " << Joined(stopping)
              << " (the last to leave removes its nodes)\n";
  } else {
    std::cout << "deleted job " << call.operands[0] << "\n";
  }
}

void TriggerJob(Invocation& call) {
  std::string fire = call.context.ops().TriggerJob(call.operands[0]);
  if (call.context.json()) return PrintJson({{"job", call.operands[0]}, {"fire", fire}});
  std::cout << fire << "\n";
}

void SetJobDisabled(Invocation& call, bool disabled) {
  call.context.ops().SetJobDisabled(call.operands[0], disabled);
  if (call.context.json()) return PrintJson({{"job", call.operands[0]}, {"disabled", disabled}});
  std::cout << "job " << call.operands[0] << (disabled ? " disabled" : " enabled") << "\n";
}

void ShutdownJob(Invocation& call) {
  std::vector<std::string> asked =
      call.context.ops().ShutdownJob(call.operands[0], call.arguments.Get("--instance"));
  if (call.context.json()) return PrintJson({{"job", call.operands[0]}, {"instances", asked}});
  if (asked.empty()) {
    std::cout << "no live instance runs job " << call.operands[0] << "\n";
  } else {
    std::cout << "asked " << asked.size() << " instance(s) to stop running job " << call.operands[0]
              << ": " << Joined(asked) << "\n";
  }
}

void ListShards(Invocation& call) {
  Json shards = call.context.ops().ListShards(call.operands[0]);
  if (call.context.json()) return PrintJson(shards);
  Table table({"ITEM", "OWNER", "DISABLED", "COMMITTED", "COMMITTED BY", "CLAIMED", "CLAIMED BY",
               "LEASE", "CHECKPOINT"});
  for (const Json& shard : shards) {
    std::string lease;
    if (shard.contains("lease") && shard["lease"].is_object()) {
      lease = Field(shard["lease"], "fire") + " on " + Field(shard["lease"], "instance");
    }
    std::int64_t checkpoint = Number(shard, "checkpoint_bytes");
    table.AddRow({Field(shard, "item"), Field(shard, "owner"), Field(shard, "disabled"),
                  Field(shard, "committed_fire"), Field(shard, "committed_by"),
                  Field(shard, "claimed_fire"), Field(shard, "claimed_by"), lease,
                  checkpoint == 0 ? "" : std::to_string(checkpoint) + " B"});
  }
  table.Print(std::cout);
}

void SetShardDisabled(Invocation& call, bool disabled) {
  int item = static_cast<int>(ParseInteger("ITEM", call.operands[1], 0, INT_MAX));
  call.context.ops().SetShardDisabled(call.operands[0], item, disabled);
  if (call.context.json()) {
    return PrintJson({{"job", call.operands[0]}, {"item", item}, {"disabled", disabled}});
  }
  std::cout << "job " << call.operands[0] << " shard " << item
            << (disabled ? " disabled" : " enabled") << "\n";
}

void ListInstances(Invocation& call) {
  Json instances = call.context.ops().ListInstances();
  if (call.context.json()) return PrintJson(instances);
  Table table(
      {"INSTANCE", "HOST", "IP", "PID", "VERSION", "HTTP", "STARTED", "JOBS", "DISABLED FOR"});
  for (const Json& instance : instances) {
    std::int64_t started = Number(instance, "started_ms");
    std::int64_t pid = Number(instance, "pid");
    table.AddRow({Field(instance, "id"), Field(instance, "host"), Field(instance, "ip"),
                  pid == 0 ? "" : std::to_string(pid), Field(instance, "version"),
                  Field(instance, "http"), started == 0 ? "" : FormatLocalTime(started),
                  Joined(instance.value("jobs", Json::array())),
                  Joined(instance.value("disabled_jobs", Json::array()))});
  }
  table.Print(std::cout);
}

void SetInstanceDisabled(Invocation& call, bool disabled) {
  const std::string& id = call.operands[0];
  std::vector<std::string> jobs =
      call.context.ops().SetInstanceDisabled(id, disabled, call.arguments.Get("--job"));
  if (call.context.json()) {
    return PrintJson({{"instance", id}, {"disabled", disabled}, {"jobs", jobs}});
  }
  if (jobs.empty()) {
    std::cout << "instance " << id << ": no job changed (it was already "
              << (disabled ? "disabled" : "enabled") << ", or there is no job)\n";
  } else {
    std::cout << "instance " << id << (disabled ? " disabled" : " enabled") << " for "
              << Joined(jobs) << "\n";
  }
}

void ShutdownInstance(Invocation& call) {
  call.context.ops().ShutdownInstance(call.operands[0]);
  if (call.context.json())
    return PrintJson({{"instance", call.operands[0]}, {"state", "shutdown requested"}});
  std::cout << "asked instance " << call.operands[0] << " to stop gracefully\n";
}

void Dump(Invocation& call) { PrintJson(call.context.ops().DumpJob(call.operands[0])); }

// ---- history

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

template <typename Query>
void ReadCommonFilters(const Arguments& arguments, Query* query) {
  query->job_name = arguments.Get("--job");
  query->instance_id = arguments.Get("--instance");
  query->fire_id = arguments.Get("--fire");
  std::int64_t now = NowMs();
  for (const char* option : {"--since", "--until"}) {
    if (!arguments.Has(option)) continue;
    std::optional<std::int64_t> time = ParseTime(arguments.Get(option), now);
    if (!time) {
      throw UsageError(std::string(option) + ": expected a time (2026-11-22T10:00:00Z, " +
                       "2026-11-22, epoch milliseconds, or 15m/2h/7d ago), got '" +
                       arguments.Get(option) + "'");
    }
    (std::string(option) == "--since" ? query->since_ms : query->until_ms) = *time;
  }
  if (arguments.Has("--limit")) {
    query->limit = static_cast<std::size_t>(ParseInteger(
        "--limit", arguments.Get("--limit"), 1, static_cast<std::int64_t>(spi::kMaxHistoryPage)));
  }
  if (arguments.Has("--offset")) {
    query->offset =
        static_cast<std::size_t>(ParseInteger("--offset", arguments.Get("--offset"), 0, INT64_MAX));
  }
}

void CheckHistoryStatus(const spi::Status& status) {
  if (status.ok()) return;
  OperationError::Kind kind = status.code() == spi::Status::Code::kUnavailable
                                  ? OperationError::Kind::kUnavailable
                                  : OperationError::Kind::kInvalid;
  throw OperationError(kind, "the trace store: " + status.ToString());
}

void PrintPageFooter(std::size_t shown, std::size_t offset, std::uint64_t total) {
  if (shown == 0) {
    std::cout << "(none of " << total << " matching)\n";
  } else {
    std::cout << "(" << offset + 1 << "-" << offset + shown << " of " << total << ")\n";
  }
}

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

void HistoryExecutions(Invocation& call) {
  const Arguments& arguments = call.arguments;
  spi::ExecutionQuery query;
  ReadCommonFilters(arguments, &query);
  if (arguments.Has("--item")) {
    query.sharding_item =
        static_cast<int>(ParseInteger("--item", arguments.Get("--item"), 0, INT_MAX));
  }
  if (arguments.Has("--failed") && arguments.Has("--succeeded")) {
    throw UsageError("--failed and --succeeded exclude each other");
  }
  if (arguments.Has("--failed")) query.success = false;
  if (arguments.Has("--succeeded")) query.success = true;
  spi::ExecutionPage page;
  CheckHistoryStatus(call.context.history().QueryExecutions(query, &page));
  if (call.context.json()) {
    return PrintJson(api::ExecutionPageJson(query, page));
  }
  Table table({"START", "DURATION", "JOB", "ITEM", "FIRE", "INSTANCE", "SOURCE", "RESULT", "ITEMS",
               "FAILURE"});
  for (const auto& event : page.events) {
    bool done = event.complete_time_ms != 0;
    table.AddRow({FormatLocalTime(event.start_time_ms),
                  done ? FormatDuration(event.complete_time_ms - event.start_time_ms) : "",
                  event.job_name, std::to_string(event.sharding_item), event.fire_id,
                  event.instance_id, spi::ExecutionSourceName(event.source),
                  !done           ? "RUNNING"
                  : event.success ? "OK"
                                  : "FAILED",
                  std::to_string(event.items_processed), FirstLine(event.failure_cause)});
  }
  table.Print(std::cout);
  PrintPageFooter(page.events.size(), query.offset, page.total);
}

void HistoryStatus(Invocation& call) {
  const Arguments& arguments = call.arguments;
  spi::StatusQuery query;
  ReadCommonFilters(arguments, &query);
  if (arguments.Has("--state")) {
    try {
      query.state = api::ParseTaskState(arguments.Get("--state"));
    } catch (const std::exception& e) {
      throw UsageError(std::string("--") + e.what());
    }
  }
  spi::StatusPage page;
  CheckHistoryStatus(call.context.history().QueryStatus(query, &page));
  if (call.context.json()) {
    return PrintJson(api::StatusPageJson(query, page));
  }
  Table table({"TIME", "JOB", "STATE", "FIRE", "INSTANCE", "ITEMS", "MESSAGE"});
  for (const auto& event : page.events) {
    table.AddRow({FormatLocalTime(event.creation_time_ms), event.job_name,
                  spi::TaskStateName(event.state), event.fire_id, event.slave_id,
                  event.sharding_items, FirstLine(event.message)});
  }
  table.Print(std::cout);
  PrintPageFooter(page.events.size(), query.offset, page.total);
}

// ---- the grammar

struct Command {
  std::vector<std::string> words;     // {"job", "show"}
  std::vector<std::string> operands;  // {"JOB"}
  std::set<std::string> options;      // besides --config and --json
  void (*run)(Invocation&);
};

const std::vector<Command>& Commands() {
  static const std::set<std::string> kHistoryOptions = {
      "--job", "--instance", "--fire", "--since", "--until", "--limit", "--offset"};
  static const std::vector<Command> commands = {
      {{"jobs"}, {}, {}, ListJobs},
      {{"job", "show"}, {"JOB"}, {}, ShowJob},
      {{"job", "create"}, {}, {"--file"}, CreateJob},
      {{"job", "update"}, {"JOB"}, {"--file", "--if-version"}, UpdateJob},
      {{"job", "delete"}, {"JOB"}, {}, DeleteJob},
      {{"job", "trigger"}, {"JOB"}, {}, TriggerJob},
      {{"job", "enable"}, {"JOB"}, {}, [](Invocation& call) { SetJobDisabled(call, false); }},
      {{"job", "disable"}, {"JOB"}, {}, [](Invocation& call) { SetJobDisabled(call, true); }},
      {{"job", "shutdown"}, {"JOB"}, {"--instance"}, ShutdownJob},
      {{"shards"}, {"JOB"}, {}, ListShards},
      {{"shard", "enable"},
       {"JOB", "ITEM"},
       {},
       [](Invocation& call) { SetShardDisabled(call, false); }},
      {{"shard", "disable"},
       {"JOB", "ITEM"},
       {},
       [](Invocation& call) { SetShardDisabled(call, true); }},
      {{"instances"}, {}, {}, ListInstances},
      {{"instance", "enable"},
       {"ID"},
       {"--job"},
       [](Invocation& call) { SetInstanceDisabled(call, false); }},
      {{"instance", "disable"},
       {"ID"},
       {"--job"},
       [](Invocation& call) { SetInstanceDisabled(call, true); }},
      {{"instance", "shutdown"}, {"ID"}, {}, ShutdownInstance},
      {{"history", "executions"},
       {},
       [] {
         std::set<std::string> options = kHistoryOptions;
         options.insert({"--item", "--failed", "--succeeded"});
         return options;
       }(),
       HistoryExecutions},
      {{"history", "status"},
       {},
       [] {
         std::set<std::string> options = kHistoryOptions;
         options.insert("--state");
         return options;
       }(),
       HistoryStatus},
      {{"dump"}, {"JOB"}, {}, Dump},
  };
  return commands;
}

std::string Spelled(const Command& command) {
  std::string text = Joined(command.words, " ");
  for (const std::string& operand : command.operands) text += " " + operand;
  return text;
}

const Command& FindCommand(const std::vector<std::string>& words) {
  const Command* found = nullptr;
  std::vector<std::string> verbs;
  for (const Command& command : Commands()) {
    if (command.words[0] != words[0]) continue;
    if (command.words.size() == 1) {
      found = &command;
      break;
    }
    verbs.push_back(command.words[1]);
    if (words.size() >= 2 && words[1] == command.words[1]) found = &command;
  }
  if (found != nullptr) return *found;
  if (verbs.empty()) throw UsageError("unknown command '" + words[0] + "'");
  if (words.size() < 2) {
    throw UsageError(words[0] + ": name what to do: " + Joined(verbs, ", "));
  }
  throw UsageError(words[0] + ": unknown action '" + words[1] + "' (expected " +
                   Joined(verbs, ", ") + ")");
}

const char* KindName(OperationError::Kind kind) {
  switch (kind) {
    case OperationError::Kind::kInvalid:
      return "invalid";
    case OperationError::Kind::kNotFound:
      return "not found";
    case OperationError::Kind::kConflict:
      return "conflict";
    case OperationError::Kind::kUnavailable:
      return "unavailable";
  }
  return "failed";
}

}  // namespace

int RunCtl(const std::vector<std::string>& args) {
  try {
    Arguments arguments = ParseArguments(args);
    if (arguments.Has("--help") || (!arguments.words.empty() && arguments.words[0] == "help")) {
      std::cout << kCtlUsage;
      return kExitOk;
    }
    if (arguments.words.empty()) throw UsageError("name a command");
    const Command& command = FindCommand(arguments.words);
    std::vector<std::string> operands(arguments.words.begin() + command.words.size(),
                                      arguments.words.end());
    if (operands.size() > command.operands.size()) {
      throw UsageError(Joined(command.words, " ") + ": unexpected argument '" +
                       operands[command.operands.size()] + "' (shardjob ctl -c FILE " +
                       Spelled(command) + ")");
    }
    if (operands.size() < command.operands.size()) {
      throw UsageError(Joined(command.words, " ") + ": missing " +
                       command.operands[operands.size()] + " (shardjob ctl -c FILE " +
                       Spelled(command) + ")");
    }
    for (const auto& [option, value] : arguments.options) {
      if (option == "--config" || option == "--json" || command.options.count(option) > 0) {
        continue;
      }
      throw UsageError(Joined(command.words, " ") + ": " + option + " does not apply");
    }
    for (const std::string& operand : operands) {
      if (operand.empty()) throw UsageError(Joined(command.words, " ") + ": an empty argument");
    }
    if (!arguments.Has("--config")) {
      throw UsageError(Joined(command.words, " ") + ": -c FILE is required (the cluster's config)");
    }
    Context context(arguments.Get("--config"), arguments.Has("--json"));
    Invocation call{context, arguments, operands};
    command.run(call);
    return kExitOk;
  } catch (const UsageError& e) {
    std::cerr << "shardjob ctl: " << e.what() << "\n\n" << kCtlUsage;
    return kExitUsage;
  } catch (const OperationError& e) {
    std::cerr << "shardjob ctl: " << KindName(e.kind()) << ": " << e.what() << "\n";
    return kExitFailed;
  } catch (const std::exception& e) {
    std::cerr << "shardjob ctl: " << e.what() << "\n";
    return kExitFailed;
  }
}

}  // namespace shardjob::cli
