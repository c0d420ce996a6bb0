#pragma once

// Embedding shardjob: run an instance inside your own process, as ElasticJob-Lite runs inside a
// Java application. Link the `shardjob::kernel` library.
//
//   auto instance = shardjob::Instance::Start("jobs.yaml");
//   ...
//   instance->Stop();  // or let it go out of scope
//
// Nothing here exposes Asio, yaml-cpp or the registry client.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"

namespace shardjob {

// Counters of one job on this instance since it started. A task is (fire, shard).
struct JobStats {
  std::uint64_t fires = 0;                // fires that ran shards here (once per source)
  std::uint64_t failover_fires = 0;       // of which for shards whose runner was gone
  std::uint64_t overlaps = 0;             // tasks that arrived while the shard's previous fire ran
  std::uint64_t skipped_tasks = 0;        // dropped by a policy (overlap skip, misfire skip/window)
  std::uint64_t buffered_tasks = 0;       // waited for the shard to be free
  std::uint64_t coalesced_tasks = 0;      // replaced by a newer fire (buffer_one, run_once)
  std::uint64_t missed_tasks = 0;         // found not run in time, then run, coalesced or skipped
  std::uint64_t missed_fires = 0;         // the watchdog: fires that did not start in time
  std::uint64_t clock_refused_fires = 0;  // refused: the wall clock had stepped while running
  std::uint64_t tasks_succeeded = 0;
  std::uint64_t tasks_failed = 0;
  std::uint64_t tasks_timed_out = 0;  // of the failed ones, or of the retried attempts
  std::uint64_t task_retries = 0;
  std::uint64_t tasks_released = 0;   // stopped by cancellation: not committed, to run again
  std::uint64_t commits_fenced = 0;   // refused: the claim was lost
  std::uint64_t commits_unknown = 0;  // the registry did not answer
  std::uint64_t claims_lost = 0;      // times the session was lost while fires ran
  std::uint64_t items_processed = 0;  // reported by tasks (DATAFLOW: every fetched item)
  std::vector<int> local_items;       // the shards currently assigned to this instance
  bool leader = false;
};

// The trace events of this instance since it started (see tracing in docs/configuration.md).
struct TraceStats {
  bool enabled = false;         // a tracer is configured
  std::uint64_t written = 0;    // stored by the tracer
  std::uint64_t dropped = 0;    // lost: the buffer was full, or the store was down at shutdown
  std::uint64_t rejected = 0;   // refused by the store
  std::uint64_t retries = 0;    // writes tried again while the store was unavailable
  std::uint64_t buffered = 0;   // waiting to be written now
  bool store_available = true;  // false from a failed write until the next one succeeds
};

class Instance {
 public:
  // Reads the YAML file, loads the plugins, checks every job and starts scheduling. Throws
  // std::runtime_error with a message naming the file, the job and the problem.
  static std::unique_ptr<Instance> Start(const std::string& config_path);
  static std::unique_ptr<Instance> Start(config::Config config);

  class Impl;
  // Use Start(); Impl is private to the kernel.
  explicit Instance(std::unique_ptr<Impl> impl);

  ~Instance();  // Stop()s
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  // Fires a job now, once, outside its schedule, on every instance (through the registry: each
  // runs its own shards). Throws std::invalid_argument for an unknown job.
  void Trigger(const std::string& job_name);
  // Graceful: no new fires; running tasks get the configured shutdown_grace to finish, then their
  // cancellation flag is raised; then the instance leaves the registry. Idempotent. Returns false
  // when a task ignored its cancellation: destroying the Instance would then wait for it, so a
  // program that must exit should exit without destroying it.
  bool Stop();

  const std::string& id() const;
  std::vector<std::string> JobNames() const;
  // Throws std::invalid_argument for an unknown job.
  JobStats Stats(const std::string& job_name) const;
  // Registry requests this instance's session has sent (a cost figure for benchmarks).
  std::uint64_t RegistryRequests() const;
  TraceStats Traces() const;
  // Where /metrics and /healthz are served ("127.0.0.1:9090"; with port 0 in the config, the
  // port picked), or "" when `http.listen` is not set.
  std::string HttpAddress() const;
  // What to do when an operator asks this process to stop (`shardjob ctl instance shutdown`,
  // POST /api/instances/{id}/shutdown). Called on an internal thread; must not block. Without a
  // handler the instance Stop()s itself (the process goes on running).
  void OnShutdownRequested(std::function<void()> handler);

 private:
  std::unique_ptr<Impl> impl_;
};

// Operations on a cluster through its ZooKeeper registry (what `shardjob trigger` and
// `shardjob status` do). They throw std::runtime_error naming the file, the servers or the job.
//
// Writes a one-off trigger for a job: every live instance runs its shards of that fire. Returns
// the fire id ("trigger-0000000007").
std::string TriggerJob(const std::string& config_path, const std::string& job_name);
// A readable snapshot: per job, its leader, instances, assignment, and each shard's last commit
// and running lease.
std::string DescribeCluster(const std::string& config_path);

// What `shardjob validate` prints: every problem found in the config and its plugins, or nothing
// when the config can run. Never throws for a bad config; each problem is one line.
std::vector<std::string> ValidateConfigFile(const std::string& config_path);

}  // namespace shardjob
