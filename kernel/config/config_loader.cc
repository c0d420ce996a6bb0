// The schema of the config file (docs/configuration.md): which keys each section has, their
// types, defaults and the rules between them.

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config.h"
#include "config/env_substitution.h"
#include "config/sharding_item_parameters.h"
#include "config/yaml_value.h"
#include "cron/cron_expression.h"

namespace shardjob::config {
namespace {

using internal::ChildPath;
using internal::Document;
using internal::Map;
using internal::ThrowConfigError;
using internal::Value;

constexpr int kIntMax = std::numeric_limits<int>::max();

constexpr std::array<std::string_view, 10> kTopLevelKeys = {
    "instance_id", "labels",  "registry",       "registry_jobs", "plugins",
    "http",        "tracing", "shutdown_grace", "log_level",     "jobs"};
constexpr std::array<std::string_view, 2> kRegistryKeys = {"type", "zookeeper"};
constexpr std::array<std::string_view, 5> kZookeeperKeys = {
    "servers", "namespace", "session_timeout", "connect_timeout", "digest"};
constexpr std::array<std::string_view, 2> kPluginsKeys = {"dirs", "rescan_interval"};
constexpr std::array<std::string_view, 3> kHttpKeys = {"listen", "token", "console"};
constexpr std::array<std::string_view, 3> kTracingKeys = {"type", "props", "buffer_events"};
constexpr std::array<std::string_view, 4> kIsolationLimitsKeys = {"cpu", "memory", "wall",
                                                                  "kill_grace"};

// Names that end up as one registry path segment (job names, instance ids).
bool IsPathSegment(std::string_view text) { return text != "." && text != ".."; }

bool IsDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// An optional string key where an empty value means "not given", so that `${VAR:-}` can switch
// it off.
std::optional<Value> FindNonEmpty(const Map& map, std::string_view key) {
  std::optional<Value> value = map.Find(key);
  if (!value || value->String().empty()) return std::nullopt;
  return value;
}

bool Before(const SourceLocation& a, const SourceLocation& b) {
  return std::pair(a.line, a.column) < std::pair(b.line, b.column);
}

std::string LineOf(const Value& value) { return "line " + std::to_string(value.location().line); }

// ---- registry ----

void CheckServers(const Value& value, std::string_view servers) {
  size_t begin = 0;
  while (true) {
    const size_t end = servers.find(',', begin);
    const std::string_view server = servers.substr(begin, end - begin);
    if (server.empty()) value.Fail("empty entry in '" + std::string(servers) + "'");
    if (server.find_first_of(" \t") != std::string_view::npos) {
      value.Fail("'" + std::string(servers) + "' contains a space; expected host:port,host:port");
    }
    if (end == std::string_view::npos) return;
    begin = end + 1;
  }
}

void CheckNamespace(const Value& value, std::string_view root_namespace) {
  size_t begin = 0;
  while (true) {
    const size_t end = root_namespace.find('/', begin);
    const std::string_view segment = root_namespace.substr(begin, end - begin);
    if (segment.empty() || !IsPathSegment(segment)) {
      value.Fail("bad namespace '" + std::string(root_namespace) +
                 "': expected path segments such as 'shardjob' or 'shardjob/prod', without a "
                 "leading '/'");
    }
    if (end == std::string_view::npos) return;
    begin = end + 1;
  }
}

ZookeeperConfig ParseZookeeper(const Value& value, bool in_use) {
  const Map map(value, kZookeeperKeys);
  ZookeeperConfig zookeeper;
  const std::optional<Value> servers =
      in_use ? std::optional<Value>(map.Require("servers")) : map.Find("servers");
  if (servers) {
    zookeeper.servers = servers->NonEmptyString();
    CheckServers(*servers, zookeeper.servers);
  }
  if (const auto root_namespace = map.Find("namespace")) {
    zookeeper.root_namespace = root_namespace->NonEmptyString();
    CheckNamespace(*root_namespace, zookeeper.root_namespace);
  }
  if (const auto timeout = map.Find("session_timeout")) {
    zookeeper.session_timeout = timeout->Duration(/*positive=*/true);
  }
  if (const auto timeout = map.Find("connect_timeout")) {
    zookeeper.connect_timeout = timeout->Duration(/*positive=*/true);
  }
  if (const auto digest = map.Find("digest")) {
    zookeeper.digest = digest->String();
    if (!zookeeper.digest.empty() && zookeeper.digest.find(':') == std::string::npos) {
      digest->Fail("expected 'user:password'");
    }
  }
  return zookeeper;
}

RegistryConfig ParseRegistry(const Value& value) {
  const Map map(value, kRegistryKeys);
  RegistryConfig registry;
  if (const auto type = map.Find("type")) {
    const std::string text = type->String();
    if (text == "embedded") {
      registry.type = RegistryConfig::Type::kEmbedded;
    } else if (text == "zookeeper") {
      registry.type = RegistryConfig::Type::kZookeeper;
    } else {
      type->Fail("expected 'embedded' or 'zookeeper', got '" + text + "'");
    }
  }
  const bool in_use = registry.type == RegistryConfig::Type::kZookeeper;
  const std::optional<Value> zookeeper = map.Find("zookeeper");
  if (zookeeper) {
    // Checked even when unused, so that switching `type` never reveals old mistakes.
    registry.zookeeper = ParseZookeeper(*zookeeper, in_use);
  } else if (in_use) {
    ThrowConfigError(value.location(), ChildPath(value.path(), "zookeeper"),
                     "missing required key (registry.type is zookeeper)");
  }
  return registry;
}

// ---- plugins, http, tracing ----

void ParsePlugins(const Value& value, const std::string& config_path, Config* config) {
  const Map map(value, kPluginsKeys);
  if (const auto interval = map.Find("rescan_interval")) {
    config->plugin_rescan_interval = interval->Duration(/*positive=*/false);
  }
  std::vector<std::string>& dirs = config->plugin_dirs;
  const std::optional<Value> list = map.Find("dirs");
  if (!list) return;
  std::filesystem::path base = std::filesystem::path(config_path).parent_path();
  if (base.empty()) base = ".";
  for (const Value& item : list->Items()) {
    std::filesystem::path dir = item.NonEmptyString();
    if (dir.is_relative()) dir = base / dir;
    std::error_code error;
    std::filesystem::path absolute = std::filesystem::absolute(dir, error);
    if (error) item.Fail("cannot make '" + dir.string() + "' absolute: " + error.message());
    absolute = absolute.lexically_normal();
    // lexically_normal keeps a trailing '/', which would make equal dirs compare different.
    if (!absolute.has_filename() && absolute != absolute.root_path()) {
      absolute = absolute.parent_path();
    }
    dirs.push_back(absolute.string());
  }
}

void CheckListenAddress(const Value& value, std::string_view listen) {
  const size_t colon = listen.rfind(':');
  const std::string_view host = colon == std::string_view::npos ? listen : listen.substr(0, colon);
  const std::string_view port = colon == std::string_view::npos ? "" : listen.substr(colon + 1);
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  const bool host_ok =
      !host.empty() && (bracketed || host.find_first_of(":[] \t") == std::string_view::npos);
  const bool port_ok = IsDigits(port) && port.size() <= 5 && std::stoi(std::string(port)) <= 65535;
  if (!host_ok || !port_ok) {
    value.Fail("expected host:port such as '127.0.0.1:8899' or '[::1]:8899', got '" +
               std::string(listen) + "'");
  }
}

HttpConfig ParseHttp(const Value& value) {
  const Map map(value, kHttpKeys);
  HttpConfig http;
  if (const auto listen = map.Find("listen")) {
    http.listen = listen->String();
    if (!http.listen.empty()) CheckListenAddress(*listen, http.listen);
  }
  if (const auto token = map.Find("token")) http.token = token->String();
  if (const auto console = map.Find("console")) http.console = console->Bool();
  return http;
}

TracingConfig ParseTracing(const Value& value) {
  const Map map(value, kTracingKeys);
  TracingConfig tracing;
  tracing.type = "SQLITE";
  if (const auto type = map.Find("type")) tracing.type = type->NonEmptyString();
  if (const auto props = map.Find("props")) tracing.props = props->StringMap();
  if (const auto buffer = map.Find("buffer_events")) {
    tracing.buffer_events = static_cast<std::size_t>(buffer->Int(1, 10000000));
  }
  return tracing;
}

// ---- jobs ----

constexpr auto kJobKeys = std::to_array<std::string_view>({
    "name",
    "class",
    "type",
    "cron",
    "time_zone",
    "fixed_rate",
    "fixed_delay",
    "jitter",
    "claim_ahead",
    "sharding_total_count",
    "sharding_item_parameters",
    "grid_pages",
    "shard_source",
    "sharding_mode",
    "job_parameter",
    "monitor_execution",
    "failover",
    "misfire",
    "overlap",
    "misfire_policy",
    "misfire_window",
    "timeout",
    "max_retries",
    "retry_backoff",
    "retry_backoff_max",
    "watchdog_tolerance",
    "max_time_diff_seconds",
    "reconcile_interval_minutes",
    "sharding_strategy",
    "executor_thread_pool",
    "error_handler",
    "listeners",
    "isolation",
    "isolation_limits",
    "description",
    "disabled",
    "overwrite",
    "label",
    "props",
});

// ElasticJob's CPU pool size: twice the processors (hardware_concurrency() is 0 when unknown).
int CpuThreads() { return 2 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

void ParseImplementation(const Map& map, JobConfig& job) {
  const std::optional<Value> job_class = map.Find("class");
  const std::optional<Value> type = map.Find("type");
  if (job_class && type) {
    const bool class_first = Before(job_class->location(), type->location());
    const Value& later = class_first ? *type : *job_class;
    const Value& earlier = class_first ? *job_class : *type;
    later.Fail(std::string("a job has either 'class' or 'type', and '") +
               (class_first ? "class" : "type") + "' is already given (" + LineOf(earlier) + ")");
  }
  if (!job_class && !type) {
    map.value().Fail(
        "missing 'class' (a job class of a loaded plugin) or 'type' (an executor "
        "type such as SCRIPT): a job needs exactly one");
  }
  if (job_class) job.job_class = job_class->NonEmptyString();
  if (type) job.executor_type = type->NonEmptyString();
}

void ParseSchedule(const Map& map, JobConfig& job) {
  // Sorted by position, so that the error points at the second schedule in the file.
  std::vector<std::pair<SourceLocation, std::string_view>> given;
  for (std::string_view key : {"cron", "fixed_rate", "fixed_delay"}) {
    if (const auto value = FindNonEmpty(map, key)) given.emplace_back(value->location(), key);
  }
  std::sort(given.begin(), given.end(),
            [](const auto& a, const auto& b) { return Before(a.first, b.first); });
  if (given.size() > 1) {
    map.Find(given[1].second)
        ->Fail("a job has at most one of cron, fixed_rate and fixed_delay, and '" +
               std::string(given[0].second) + "' is already given (line " +
               std::to_string(given[0].first.line) + ")");
  }

  // CronError derives from std::invalid_argument; catching the base turns any rejection by the
  // cron library into a positioned ConfigError.
  if (const auto cron = FindNonEmpty(map, "cron")) {
    job.cron = cron->String();
    try {
      cron::CronExpression::Parse(job.cron);
    } catch (const std::invalid_argument& e) {
      cron->Fail(e.what());
    }
  }
  if (const auto time_zone = FindNonEmpty(map, "time_zone")) {
    if (job.cron.empty()) {
      time_zone->Fail("time_zone applies only to a cron schedule, and this job has no cron");
    }
    job.time_zone = time_zone->String();
    try {
      cron::LoadTimeZone(job.time_zone);
    } catch (const std::invalid_argument& e) {
      time_zone->Fail(e.what());
    }
  }
  if (const auto rate = map.Find("fixed_rate")) job.fixed_rate = rate->Duration(/*positive=*/true);
  if (const auto delay = map.Find("fixed_delay")) {
    job.fixed_delay = delay->Duration(/*positive=*/true);
  }
  if (const auto jitter = map.Find("jitter")) job.jitter = jitter->Duration(/*positive=*/false);
  if (const auto ahead = map.Find("claim_ahead")) {
    job.claim_ahead = ahead->Duration(/*positive=*/false);
    // Ahead by more than a registry round trip or two buys nothing, and the overlap policy judges
    // the previous fire at the hand-over: ahead by half a period, a run of half a period overlaps.
    if (job.claim_ahead > std::chrono::milliseconds(500)) ahead->Fail("at most 500ms");
    if (job.fixed_rate && job.claim_ahead * 2 > *job.fixed_rate) {
      ahead->Fail("at most half of fixed_rate");
    }
    if (job.fixed_delay && job.claim_ahead.count() > 0) {
      ahead->Fail("not with fixed_delay: its fires count from the last completion, not an instant");
    }
  }
}

std::map<int, std::string> ParseItemParameters(const Value& value, int total) {
  if (value.IsScalar()) {
    try {
      return internal::ParseShardingItemParameters(value.String(), total);
    } catch (const std::invalid_argument& e) {
      value.Fail(e.what());
    }
  }
  if (!value.IsMap()) {
    value.Fail("expected a string such as '0=A,1=B' or a map such as {0: A, 1: B}");
  }
  std::map<int, std::string> parameters;
  for (const internal::Entry& entry : value.Entries()) {
    int item = 0;
    try {
      item = internal::ParseShardingItem(entry.key, total);
    } catch (const std::invalid_argument& e) {
      entry.key_node.Fail(e.what());
    }
    if (!parameters.emplace(item, entry.value.String()).second) {
      entry.key_node.Fail("sharding item " + std::to_string(item) + " is given twice");
    }
  }
  return parameters;
}

void ParseExecutorThreads(const Value& value, JobConfig& job) {
  job.executor_thread_pool = value.String();
  if (job.executor_thread_pool == "CPU") {
    job.executor_threads = CpuThreads();
  } else if (job.executor_thread_pool == "SINGLE_THREAD") {
    job.executor_threads = 1;
  } else if (IsDigits(job.executor_thread_pool) || job.executor_thread_pool.starts_with('-')) {
    job.executor_threads = value.Int(1, kIntMax);
  } else {
    value.Fail("expected CPU, SINGLE_THREAD or a number of threads, got '" +
               job.executor_thread_pool + "'");
  }
}

template <typename Policy, std::size_t N>
Policy ParseChoice(const Value& value,
                   const std::array<std::pair<std::string_view, Policy>, N>& choices) {
  std::string text = value.String();
  std::string names;
  for (const auto& [name, policy] : choices) {
    if (text == name) return policy;
    names += (names.empty() ? "" : ", ") + std::string(name);
  }
  value.Fail("expected one of " + names + ", got '" + text + "'");
}

constexpr std::array<std::pair<std::string_view, OverlapPolicy>, 4> kOverlapPolicies = {{
    {"skip", OverlapPolicy::kSkip},
    {"buffer_one", OverlapPolicy::kBufferOne},
    {"buffer_all", OverlapPolicy::kBufferAll},
    {"allow", OverlapPolicy::kAllow},
}};
constexpr std::array<std::pair<std::string_view, MisfirePolicy>, 3> kMisfirePolicies = {{
    {"run_once", MisfirePolicy::kRunOnce},
    {"run_all", MisfirePolicy::kRunAll},
    {"skip", MisfirePolicy::kSkip},
}};

constexpr std::array<std::pair<std::string_view, ShardingMode>, 2> kShardingModes = {{
    {"static", ShardingMode::kStatic},
    {"dynamic", ShardingMode::kDynamic},
}};

// Shards (items x pages) one job may have: each has a state node in the registry.
constexpr int kMaxShards = 100000;

constexpr std::array<std::pair<std::string_view, Isolation>, 2> kIsolations = {{
    {"none", Isolation::kNone},
    {"process", Isolation::kProcess},
}};

void ParseIsolation(const Map& map, JobConfig& job) {
  if (const auto isolation = map.Find("isolation")) {
    job.isolation = ParseChoice(*isolation, kIsolations);
  }
  const std::optional<Value> value = map.Find("isolation_limits");
  if (!value) return;
  if (job.isolation != Isolation::kProcess) {
    value->Fail("isolation_limits applies only to a job with isolation: process");
  }
  const Map limits(*value, kIsolationLimitsKeys);
  IsolationLimits& parsed = job.isolation_limits;
  if (const auto cpu = limits.Find("cpu")) {
    const std::chrono::milliseconds duration = cpu->Duration(/*positive=*/true);
    if (duration.count() % 1000 != 0) {
      cpu->Fail("the kernel counts CPU time in whole seconds (RLIMIT_CPU), got '" + cpu->String() +
                "'");
    }
    parsed.cpu = std::chrono::duration_cast<std::chrono::seconds>(duration);
  }
  if (const auto memory = limits.Find("memory"))
    parsed.memory = memory->ByteSize(/*positive=*/true);
  if (const auto wall = limits.Find("wall")) parsed.wall = wall->Duration(/*positive=*/true);
  if (const auto grace = limits.Find("kill_grace")) {
    parsed.kill_grace = grace->Duration(/*positive=*/false);
  }
}

void ParseSharding(const Map& map, JobConfig& job) {
  if (const auto pages = map.Find("grid_pages")) {
    job.grid_pages = pages->Int(1, kMaxShards);
    if (static_cast<long long>(job.grid_pages) * job.sharding_total_count > kMaxShards) {
      pages->Fail(
          "sharding_total_count x grid_pages is " +
          std::to_string(static_cast<long long>(job.grid_pages) * job.sharding_total_count) +
          " shards, more than the " + std::to_string(kMaxShards) + " a job may have");
    }
  }
  if (const auto source = map.Find("shard_source")) job.shard_source = source->NonEmptyString();
  if (const auto mode = map.Find("sharding_mode")) {
    job.sharding_mode = ParseChoice(*mode, kShardingModes);
  }
}

void ParsePolicies(const Map& map, JobConfig& job) {
  if (const auto flag = map.Find("misfire")) {
    job.misfire = flag->Bool();
    job.overlap = job.misfire ? OverlapPolicy::kBufferOne : OverlapPolicy::kSkip;
    job.misfire_policy = job.misfire ? MisfirePolicy::kRunOnce : MisfirePolicy::kSkip;
  }
  if (const auto overlap = map.Find("overlap")) {
    job.overlap = ParseChoice(*overlap, kOverlapPolicies);
    if (job.overlap == OverlapPolicy::kAllow) {
      // Two fires of one shard at once need a lease per (shard, fire); the ledger keeps one per
      // shard, which is what fences a zombie. Refused rather than run unfenced.
      overlap->Fail(
          "'allow' (two fires of a shard at once) is not supported yet: it needs a lease per "
          "shard and fire; use skip, buffer_one or buffer_all");
    }
  }
  if (const auto policy = map.Find("misfire_policy")) {
    job.misfire_policy = ParseChoice(*policy, kMisfirePolicies);
  }
  if (const auto window = map.Find("misfire_window")) {
    job.misfire_window = window->Duration(/*positive=*/true);
  }
  if (const auto timeout = map.Find("timeout")) job.timeout = timeout->Duration(/*positive=*/false);
  if (const auto retries = map.Find("max_retries")) job.max_retries = retries->Int(0, 1000);
  if (const auto backoff = map.Find("retry_backoff")) {
    job.retry_backoff = backoff->Duration(/*positive=*/true);
  }
  if (const auto cap = map.Find("retry_backoff_max")) {
    job.retry_backoff_max = cap->Duration(/*positive=*/true);
    if (job.retry_backoff_max < job.retry_backoff) {
      cap->Fail("retry_backoff_max must be at least retry_backoff");
    }
  }
  if (const auto tolerance = map.Find("watchdog_tolerance")) {
    job.watchdog_tolerance = tolerance->Duration(/*positive=*/false);
  }
}

}  // namespace

const char* OverlapPolicyName(OverlapPolicy policy) {
  for (const auto& [name, value] : kOverlapPolicies) {
    if (value == policy) return name.data();
  }
  return "?";
}

const char* MisfirePolicyName(MisfirePolicy policy) {
  for (const auto& [name, value] : kMisfirePolicies) {
    if (value == policy) return name.data();
  }
  return "?";
}

const char* ShardingModeName(ShardingMode mode) {
  for (const auto& [name, value] : kShardingModes) {
    if (value == mode) return name.data();
  }
  return "?";
}

const char* IsolationName(Isolation isolation) {
  for (const auto& [name, value] : kIsolations) {
    if (value == isolation) return name.data();
  }
  return "?";
}

namespace {

std::vector<std::string> ParseListeners(const Value& value) {
  std::vector<std::string> listeners;
  std::set<std::string, std::less<>> seen;
  for (const Value& item : value.Items()) {
    std::string listener = item.NonEmptyString();
    if (!seen.insert(listener).second) item.Fail("listener '" + listener + "' is listed twice");
    listeners.push_back(std::move(listener));
  }
  return listeners;
}

struct ParsedJob {
  JobConfig job;
  SourceLocation name_location;
};

ParsedJob ParseJob(const Value& value) {
  const Map map(value, kJobKeys);
  ParsedJob parsed;
  JobConfig& job = parsed.job;
  job.location = value.location();

  const Value name = map.Require("name");
  job.name = name.String();
  if (!IsValidJobName(job.name)) {
    name.Fail("bad job name '" + job.name +
              "': expected at most 255 letters, digits, '_', '.' and '-' (it becomes a "
              "registry path segment)");
  }
  parsed.name_location = name.location();

  ParseImplementation(map, job);
  ParseSchedule(map, job);

  if (const auto total = map.Find("sharding_total_count")) {
    job.sharding_total_count = total->Int(1, kMaxShards);
  }
  if (const auto parameters = map.Find("sharding_item_parameters")) {
    job.sharding_item_parameters = ParseItemParameters(*parameters, job.sharding_total_count);
  }
  if (const auto parameter = map.Find("job_parameter")) job.job_parameter = parameter->String();
  ParseSharding(map, job);

  if (const auto flag = map.Find("monitor_execution")) job.monitor_execution = flag->Bool();
  if (const auto flag = map.Find("failover")) job.failover = flag->Bool();
  ParsePolicies(map, job);
  if (const auto seconds = map.Find("max_time_diff_seconds")) {
    job.max_time_diff_seconds = seconds->Int(-1, kIntMax);
  }
  if (const auto minutes = map.Find("reconcile_interval_minutes")) {
    job.reconcile_interval_minutes = minutes->Int(0, kIntMax);
  }

  if (const auto strategy = map.Find("sharding_strategy")) {
    job.sharding_strategy = strategy->NonEmptyString();
  }
  if (const auto pool = map.Find("executor_thread_pool")) {
    ParseExecutorThreads(*pool, job);
  } else {
    job.executor_threads = CpuThreads();
  }
  if (const auto handler = map.Find("error_handler")) job.error_handler = handler->NonEmptyString();
  if (const auto listeners = map.Find("listeners")) job.listeners = ParseListeners(*listeners);
  ParseIsolation(map, job);

  if (const auto description = map.Find("description")) job.description = description->String();
  if (const auto flag = map.Find("disabled")) job.disabled = flag->Bool();
  if (const auto flag = map.Find("overwrite")) job.overwrite = flag->Bool();
  if (const auto label = map.Find("label")) job.label = label->String();
  if (const auto props = map.Find("props")) job.props = props->StringMap();
  return parsed;
}

std::vector<JobConfig> ParseJobs(const Value& value) {
  std::vector<JobConfig> jobs;
  std::map<std::string, std::pair<std::string, int>> seen;  // name -> (path, line)
  for (const Value& item : value.Items()) {
    ParsedJob parsed = ParseJob(item);
    const auto [it, inserted] =
        seen.emplace(parsed.job.name, std::pair(item.path(), parsed.name_location.line));
    if (!inserted) {
      ThrowConfigError(parsed.name_location, ChildPath(item.path(), "name"),
                       "duplicate job name '" + parsed.job.name + "' (also " + it->second.first +
                           ", line " + std::to_string(it->second.second) + ")");
    }
    jobs.push_back(std::move(parsed.job));
  }
  return jobs;
}

// ---- top level ----

Config ParseDocument(const Value& root, const std::string& path) {
  const Map map(root, kTopLevelKeys);
  Config config;
  config.path = path;
  if (const auto instance_id = map.Find("instance_id")) {
    config.instance_id = instance_id->String();
    if (config.instance_id.find('/') != std::string::npos || !IsPathSegment(config.instance_id)) {
      instance_id->Fail("bad instance id '" + config.instance_id +
                        "': it becomes a registry path segment, so no '/', '.' or '..'");
    }
  }
  if (const auto labels = map.Find("labels")) {
    for (const Value& label : labels->Items()) config.labels.push_back(label.NonEmptyString());
  }
  if (const auto registry = map.Find("registry")) config.registry = ParseRegistry(*registry);
  if (const auto registry_jobs = map.Find("registry_jobs")) {
    const std::string mode = registry_jobs->String();
    if (mode == "all") {
      config.registry_jobs = RegistryJobs::kAll;
    } else if (mode == "none") {
      config.registry_jobs = RegistryJobs::kNone;
    } else if (mode == "labelled") {
      config.registry_jobs = RegistryJobs::kLabelled;
    } else {
      registry_jobs->Fail("expected all, none or labelled, got '" + mode + "'");
    }
  }
  if (const auto plugins = map.Find("plugins")) ParsePlugins(*plugins, path, &config);
  if (const auto http = map.Find("http")) config.http = ParseHttp(*http);
  if (const auto tracing = map.Find("tracing")) config.tracing = ParseTracing(*tracing);
  if (const auto grace = map.Find("shutdown_grace")) {
    config.shutdown_grace = grace->Duration(/*positive=*/false);
  }
  if (const auto level = map.Find("log_level")) {
    config.log_level = level->String();
    if (config.log_level != "debug" && config.log_level != "info" && config.log_level != "warn" &&
        config.log_level != "error") {
      level->Fail("expected debug, info, warn or error, got '" + config.log_level + "'");
    }
  }
  if (const auto jobs = map.Find("jobs")) config.jobs = ParseJobs(*jobs);
  return config;
}

}  // namespace

bool IsValidJobName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::vector<std::string> JobConfigKeys() { return {kJobKeys.begin(), kJobKeys.end()}; }

Config ParseConfig(const std::string& yaml_text, const std::string& path) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(yaml_text);
  } catch (const YAML::Exception& e) {
    const SourceLocation location = e.mark.is_null()
                                        ? SourceLocation{path, 0, 0}
                                        : SourceLocation{path, e.mark.line + 1, e.mark.column + 1};
    throw ConfigError(location.ToString() + ": invalid YAML: " + e.msg);
  }
  // ${SHARDJOB_CONFIG_DIR} is the config file's own directory, so a config can name files beside
  // it (scripts, certificates) wherever the process was started from.
  const std::string config_dir =
      std::filesystem::absolute(std::filesystem::path(path)).lexically_normal().parent_path();
  const Document document{path, [config_dir](std::string_view name) -> std::optional<std::string> {
                            if (name == "SHARDJOB_CONFIG_DIR") return config_dir;
                            return internal::LookupProcessEnv(name);
                          }};
  if (documents.size() > 1) {
    Value(document, documents[1], "", documents[1].Mark())
        .Fail("the file has several YAML documents ('---'); expected one");
  }
  const Value root(document, documents.empty() ? YAML::Node() : documents[0], "", YAML::Mark());
  return ParseDocument(root, path);
}

Config LoadConfigFile(const std::string& path) {
  struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  const std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) throw ConfigError(path + ": cannot open: " + std::strerror(errno));
  std::string text;
  char buffer[1 << 14];
  while (true) {
    const size_t read = std::fread(buffer, 1, sizeof buffer, file.get());
    text.append(buffer, read);
    if (read < sizeof buffer) break;
  }
  if (std::ferror(file.get())) throw ConfigError(path + ": cannot read: " + std::strerror(errno));
  return ParseConfig(text, path);
}

}  // namespace shardjob::config
