#pragma once

// Runs the fires of one job on this instance: claims the instance's shards, runs each shard's
// task through the executor plugin on the shared worker pool, reports errors to the job's error
// handler, calls the listeners, sends trace events and commits the fire.
//
// A job never runs two fires at once on one instance. A scheduled fire that arrives while the
// previous one still runs is a misfire: with `misfire: true` the latest such fire runs right
// after the current one ends (several coalesce into one), otherwise it is skipped; both are
// logged and counted. Failover and triggered fires are never dropped: they queue.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "coordination/job_coordinator.h"
#include "execution/trace_dispatcher.h"
#include "execution/worker_pool.h"
#include "schedule/timer_queue.h"
#include "shardjob/spi/cancellation.h"
#include "shardjob/spi/error_handler.h"
#include "shardjob/spi/job_executor.h"
#include "shardjob/spi/job_listener.h"
#include "shardjob/spi/sharding_strategy.h"
#include "shardjob/spi/tracer.h"

namespace shardjob::execution {

// The plugin objects a job runs with, built from its config.
struct JobPlugins {
  // What the objects refer to (their props and loggers): declared first, destroyed last.
  std::shared_ptr<const void> contexts;
  std::shared_ptr<spi::JobExecutor> executor;
  std::shared_ptr<spi::JobObject> job_object;  // null for a Typed executor
  std::shared_ptr<spi::ErrorHandler> error_handler;
  std::vector<std::shared_ptr<spi::JobListener>> listeners;
  std::shared_ptr<spi::ShardingStrategy> strategy;
};

struct JobCounters {
  std::uint64_t fires = 0;          // fires this instance started
  std::uint64_t misfires = 0;       // scheduled fires that arrived while the previous one ran
  std::uint64_t skipped_fires = 0;  // misfires dropped (misfire: false) or coalesced
  std::uint64_t failover_fires = 0;
  std::uint64_t tasks_succeeded = 0;
  std::uint64_t tasks_failed = 0;
  std::uint64_t tasks_released = 0;   // stopped by cancellation: not committed, to run again
  std::uint64_t commits_fenced = 0;   // tasks whose commit was refused: the claim was lost
  std::uint64_t commits_unknown = 0;  // tasks whose commit outcome could not be learnt
  std::uint64_t claims_lost = 0;      // times running tasks were cancelled for a lost session
};

class JobRuntime : public std::enable_shared_from_this<JobRuntime> {
 public:
  // Called when a fire has ended on this instance, with the time it ended.
  using FireEndHandler = std::function<void(schedule::TimePoint)>;

  JobRuntime(config::JobConfig job, JobPlugins plugins,
             std::shared_ptr<coordination::JobCoordinator> coordinator, WorkerPool& pool,
             TraceDispatcher& traces, std::string instance_id, std::string hostname,
             FireEndHandler on_fire_end);
  JobRuntime(const JobRuntime&) = delete;
  JobRuntime& operator=(const JobRuntime&) = delete;

  // Never blocks: the fire runs on the worker pool. `items` names the shards of a failover fire;
  // otherwise the instance's assigned shards run.
  void OnFire(const schedule::Fire& fire, spi::ExecutionSource source,
              std::optional<std::vector<int>> items = std::nullopt);
  // A new config and its plugins, used from the next fire on; the running fire keeps its own.
  void Update(config::JobConfig job, JobPlugins plugins);
  // The claims of the running fire are lost: raise its tasks' cancellation flag.
  void OnClaimsLost();

  // Shutdown, in this order: refuse new fires; wait for the running fire; cancel it if the wait
  // ran out.
  void StopAccepting();
  bool WaitIdle(std::chrono::steady_clock::time_point deadline);
  void CancelRunning();

  config::JobConfig config() const;
  JobCounters Counters() const;

 private:
  // A config with its plugins and its concurrency limit: what one fire runs with.
  struct Setup {
    config::JobConfig job;
    JobPlugins plugins;
    std::shared_ptr<TaskLane> lane;
  };
  struct FireRun;
  struct QueuedFire {
    schedule::Fire fire;
    spi::ExecutionSource source;
    std::optional<std::vector<int>> items;
  };

  // REQUIRES: mutex_ held and no fire running.
  std::shared_ptr<FireRun> BeginLocked(QueuedFire queued);
  void RunFire(std::shared_ptr<FireRun> run);
  void RunTask(std::shared_ptr<FireRun> run, coordination::Claim claim);
  void FinishFire(std::shared_ptr<FireRun> run);
  // Tells the error handler; true when it escalates.
  bool ReportError(const FireRun& run, int item, const std::string& message);
  void PostStatus(const FireRun& run, spi::TaskState state, const std::string& message);
  std::shared_ptr<const Setup> MakeSetup(config::JobConfig job, JobPlugins plugins);
  static bool HasClusterOnceListener(const Setup& setup);

  const std::string job_name_;
  const std::shared_ptr<coordination::JobCoordinator> coordinator_;
  TraceDispatcher& traces_;
  const std::string instance_id_;
  const std::string hostname_;
  const FireEndHandler on_fire_end_;
  WorkerPool& pool_;

  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::shared_ptr<const Setup> setup_;
  bool accepting_ = true;
  std::shared_ptr<FireRun> running_;
  std::deque<QueuedFire> queued_;                  // failover and triggered fires, in order
  std::optional<schedule::Fire> pending_misfire_;  // the latest scheduled fire that misfired
  JobCounters counters_;
};

}  // namespace shardjob::execution
