#pragma once

// What an operator does to a cluster, done through its registry: the operations behind the HTTP
// API (/api/...) and `shardjob ctl`. They work whether or not an instance is up: everything they
// read and write is in the registry, and the instances react to the registry.
//
// Results are JSON documents, the same ones the API returns and `ctl --json` prints (their shapes
// are in docs/api.md), so that the two can never disagree.
//
// Besides each job's nodes (coordination/job_coordinator.h), two process-wide folders:
//
//   /<ns>/instances/<id>            ephemeral   a live process: host, ip, pid, labels, version,
//                                               its HTTP address, when it started
//   /<ns>/commands/<id>/command-<seq>
//                                  persistent  a request to that process ({"op": "shutdown"} or
//                                  sequential  {"op": "shutdown_job", "job": J}); the process
//                                               watches its folder, obeys, deletes the node
//
// Deleting a job deletes its config node: every instance running the job sees that, stops it
// (its grace period, then cancellation) and leaves; whoever finds the job's instance list empty
// then removes the rest of its nodes (the deleting operator, or the last instance to leave).

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "config/config.h"
#include "registry/registry.h"

namespace shardjob::operations {

// Why an operation was refused. The API maps kinds to statuses (400, 404, 409, 503) and the
// CLI to exit codes; what() is the message for the operator, naming the job, instance or shard.
class OperationError : public std::runtime_error {
 public:
  enum class Kind {
    kInvalid,      // the request is malformed or the config does not validate
    kNotFound,     // no such job, instance or shard
    kConflict,     // exists already, or changed since it was read (a version guard failed)
    kUnavailable,  // the registry did not answer
  };
  OperationError(Kind kind, const std::string& message);
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// Checks that a job can run: its plugin types exist and accept their props. Returns the
// problems, one line each; empty when it can. The instance checks against its loaded plugins;
// the CLI against the plugin dirs of its config file. Optional: without it only the config's own
// rules are checked.
using JobCheck = std::function<std::vector<std::string>(const config::JobConfig&)>;

class ClusterOperations {
 public:
  // `root` is "/<namespace>". The registry must outlive this object.
  ClusterOperations(registry::Registry& registry, std::string root, JobCheck check = nullptr);

  // ---- jobs
  // [{"name", "status", "disabled", "shard_count", "instances": n, "leader": id|null,
  //   "schedule": "cron 0/5 * * * * ? (UTC)"|null, "next_fire": "2026-11-22T10:00:05Z"|null,
  //   "next_fire_ms": n|null, "description", "executor", "running_shards": n}]
  // status is ElasticJob's: "CRASHED" (no live instance), "DISABLED" (the job is disabled, or
  // every live instance is disabled for it), "SHARDING_FLAG" (the stored assignment does not
  // yet cover the live enabled instances), else "OK"; and ours, "DELETING" (config gone, nodes
  // left while instances stop). "Cover" is the leader's own test: every enabled item exactly
  // once, only live enabled owners, the current total, and every live enabled instance listed
  // (the built-in strategies list each instance, with [] when it gets nothing).
  // running_shards counts shards/<i>/lease nodes, one request per shard: ListJobs checks at most
  // 2,000 leases in all and reports null for the jobs past that; GetJob as well. A stored
  // config that does not validate is still listed, with "config_error": its message.
  // Cost: per job, about 6 requests plus one per live instance and one per shard.
  nlohmann::json ListJobs() const;
  // {"name", "status", ..., "config": {the job's keys}, "config_version": n}
  nlohmann::json GetJob(const std::string& job) const;
  // `config` is a JSON object with the YAML keys (name included). Validated as a config file is,
  // then by the JobCheck; its strings are taken literally (no `${VAR}` substitution from this
  // process's environment), and GetJob shows them as sent. kConflict when the job exists, or is
  // still being deleted. Returns GetJob of the new job.
  nlohmann::json CreateJob(const nlohmann::json& config);
  // Replaces the config; the name in the body, when given, must match. `expected_version`, when
  // given, guards against a concurrent change (kConflict). Instances apply it from the next
  // fire, resharding when the shard count changed. Returns GetJob.
  nlohmann::json UpdateJob(const std::string& job, const nlohmann::json& config,
                           std::optional<std::int32_t> expected_version = std::nullopt);
  // {"job", "state": "deleted"|"stopping", "instances": [ids still stopping]}. On a job whose
  // config is gone already (DELETING), finishes the cleanup once its instances left. Removes at
  // most 1,000,000 nodes (kConflict beyond; a job of 100,000 shards has about 300,000).
  nlohmann::json DeleteJob(const std::string& job);
  // Writes a one-off trigger; returns its fire id ("trigger-0000000003").
  std::string TriggerJob(const std::string& job);
  // Sets the config's `disabled`: a disabled job keeps its instances but runs no shard.
  void SetJobDisabled(const std::string& job, bool disabled);
  // Asks every live instance of the job (or only `instance`) to stop running it until the
  // process restarts (ElasticJob's shutdown). Returns the ids asked.
  std::vector<std::string> ShutdownJob(const std::string& job,
                                       const std::string& instance = std::string());

  // ---- instances
  // [{"id", "host", "ip", "pid", "labels": [...], "version", "http", "started_ms",
  //   "jobs": [names], "disabled_jobs": [names]}]; processes that registered for a job but have
  // no process node (an older version) are listed with what is known (pid and label from their
  // job registration), and "process": false; the others have "process": true.
  nlohmann::json ListInstances() const;
  // Adds (removes) the instance to every job's disabled instances, or only `job`'s: its shards
  // move to the others. Works for an id that is not live (it stays disabled if it comes back).
  // Returns the jobs changed.
  std::vector<std::string> SetInstanceDisabled(const std::string& instance, bool disabled,
                                               const std::string& job = std::string());
  // Asks a live process to stop gracefully (as SIGTERM does). kNotFound when it is not live.
  void ShutdownInstance(const std::string& instance);

  // ---- shards
  // [{"item", "owner": id|null, "disabled", "committed_fire", "committed_by",
  //   "claimed_fire", "claimed_by", "lease": {"instance", "fire", "token"}|null,
  //   "checkpoint_bytes"}]
  // Items [0, ShardCount()) of the config; for a DELETING job, the shard nodes left.
  nlohmann::json ListShards(const std::string& job) const;
  // kInvalid for a negative item, kNotFound for one past the job's shard count.
  void SetShardDisabled(const std::string& job, int item, bool disabled);

  // ---- support
  // Every node under the job: {"path": {"data": text, "version", "ephemeral_owner", "mtime_ms"}}
  // (ElasticJob's snapshot dump), at most 10,000 nodes: the first in path order, and then
  // "truncated": true besides them (every path starts with '/'). Data that is not UTF-8 has its
  // bad bytes replaced by U+FFFD.
  nlohmann::json DumpJob(const std::string& job) const;

 private:
  std::string JobPath(const std::string& job) const;
  registry::Registry& registry_;
  std::string root_;
  JobCheck check_;
};

}  // namespace shardjob::operations
