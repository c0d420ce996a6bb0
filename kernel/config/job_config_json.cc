#include "config/job_config_json.h"

#include <nlohmann/json.hpp>

#include "config/byte_size.h"

namespace shardjob::config {
namespace {

using Json = nlohmann::json;

std::string Escape(const std::string& value) {
  std::string escaped;
  for (char c : value) {
    escaped.push_back(c);
    if (c == '$') escaped.push_back('$');
  }
  return escaped;
}

std::string Milliseconds(std::chrono::milliseconds duration) {
  return std::to_string(duration.count()) + "ms";
}

}  // namespace

std::string JobConfigToJson(const JobConfig& job) {
  Json json = Json::object();
  json["name"] = Escape(job.name);
  if (!job.job_class.empty()) json["class"] = Escape(job.job_class);
  if (!job.executor_type.empty()) json["type"] = Escape(job.executor_type);
  if (!job.description.empty()) json["description"] = Escape(job.description);
  if (!job.cron.empty()) json["cron"] = Escape(job.cron);
  if (!job.cron.empty() && !job.time_zone.empty()) json["time_zone"] = Escape(job.time_zone);
  if (job.fixed_rate) json["fixed_rate"] = Milliseconds(*job.fixed_rate);
  if (job.fixed_delay) json["fixed_delay"] = Milliseconds(*job.fixed_delay);
  json["jitter"] = Milliseconds(job.jitter);
  // Only when set: a config without it stays readable by instances that predate the key.
  if (job.claim_ahead.count() > 0) json["claim_ahead"] = Milliseconds(job.claim_ahead);
  json["sharding_total_count"] = job.sharding_total_count;
  Json parameters = Json::object();
  for (const auto& [item, parameter] : job.sharding_item_parameters) {
    parameters[std::to_string(item)] = Escape(parameter);
  }
  json["sharding_item_parameters"] = parameters;
  json["job_parameter"] = Escape(job.job_parameter);
  json["grid_pages"] = job.grid_pages;
  if (!job.shard_source.empty()) json["shard_source"] = Escape(job.shard_source);
  json["sharding_mode"] = ShardingModeName(job.sharding_mode);
  json["monitor_execution"] = job.monitor_execution;
  json["failover"] = job.failover;
  json["misfire"] = job.misfire;
  json["overlap"] = OverlapPolicyName(job.overlap);
  json["misfire_policy"] = MisfirePolicyName(job.misfire_policy);
  json["misfire_window"] = Milliseconds(job.misfire_window);
  json["timeout"] = Milliseconds(job.timeout);
  json["max_retries"] = job.max_retries;
  json["retry_backoff"] = Milliseconds(job.retry_backoff);
  json["retry_backoff_max"] = Milliseconds(job.retry_backoff_max);
  json["watchdog_tolerance"] = Milliseconds(job.watchdog_tolerance);
  json["max_time_diff_seconds"] = job.max_time_diff_seconds;
  json["reconcile_interval_minutes"] = job.reconcile_interval_minutes;
  json["sharding_strategy"] = Escape(job.sharding_strategy);
  json["executor_thread_pool"] = Escape(job.executor_thread_pool);
  json["error_handler"] = Escape(job.error_handler);
  Json listeners = Json::array();
  for (const auto& listener : job.listeners) listeners.push_back(Escape(listener));
  json["listeners"] = listeners;
  json["isolation"] = IsolationName(job.isolation);
  if (job.isolation == Isolation::kProcess) {
    // Zero limits are left out: a limit given must be positive, and absent means none.
    const IsolationLimits& limits = job.isolation_limits;
    Json isolation_limits = Json::object();
    if (limits.cpu.count() > 0) isolation_limits["cpu"] = std::to_string(limits.cpu.count()) + "s";
    if (limits.memory > 0) isolation_limits["memory"] = internal::FormatByteSize(limits.memory);
    if (limits.wall.count() > 0) isolation_limits["wall"] = Milliseconds(limits.wall);
    isolation_limits["kill_grace"] = Milliseconds(limits.kill_grace);
    json["isolation_limits"] = isolation_limits;
  }
  json["disabled"] = job.disabled;
  json["overwrite"] = job.overwrite;
  json["label"] = Escape(job.label);
  Json props = Json::object();
  for (const auto& [key, value] : job.props) props[key] = Escape(value);
  json["props"] = props;
  return json.dump();
}

JobConfig JobConfigFromJson(const std::string& json, const std::string& origin) {
  // JSON is YAML: a one-job config document gets every check a config file gets.
  Config config = ParseConfig("jobs: [" + json + "]\n", origin);
  if (config.jobs.size() != 1) {
    throw ConfigError(origin + ": expected one job object, found " +
                      std::to_string(config.jobs.size()));
  }
  return config.jobs[0];
}

}  // namespace shardjob::config
