#pragma once

// Runs the fires of one job on this instance: claims the instance's shards, runs each shard's
// task through the executor plugin on the shared worker pool, reports errors to the job's error
// handler, calls the listeners, sends trace events and commits the fire.
//
// A job never runs two fires at once on one instance. A fire that arrives while the previous one
// still runs is a misfire: with `misfire: true` the latest such fire runs right after the current
// one ends (several coalesce into one), otherwise it is skipped; both are logged and counted.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
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
#include "shardjob/spi/tracer.h"

namespace shardjob::execution {

// The plugin objects a job runs with, built from its config.
struct JobPlugins {
  std::shared_ptr<spi::JobExecutor> executor;
  std::shared_ptr<spi::JobObject> job_object;  // null for a Typed executor
  std::shared_ptr<spi::ErrorHandler> error_handler;
  std::vector<std::shared_ptr<spi::JobListener>> listeners;
};

struct JobCounters {
  std::uint64_t fires = 0;          // fires this instance started
  std::uint64_t misfires = 0;       // fires that arrived while the previous one ran
  std::uint64_t skipped_fires = 0;  // misfires dropped (misfire: false) or coalesced
  std::uint64_t tasks_succeeded = 0;
  std::uint64_t tasks_failed = 0;
  std::uint64_t commits_fenced = 0;  // tasks whose commit was refused: the claim was lost
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

  // Never blocks: the fire runs on the worker pool.
  void OnFire(const schedule::Fire& fire, spi::ExecutionSource source);

  // Shutdown, in this order: refuse new fires; wait for the running fire; cancel it if the wait
  // ran out.
  void StopAccepting();
  bool WaitIdle(std::chrono::steady_clock::time_point deadline);
  void CancelRunning();

  const config::JobConfig& config() const { return job_; }
  JobCounters Counters() const;

 private:
  struct FireRun;

  void RunFire(std::shared_ptr<FireRun> run);
  void RunTask(std::shared_ptr<FireRun> run, coordination::Claim claim);
  void FinishFire(std::shared_ptr<FireRun> run);
  // Tells the error handler; true when it escalates.
  bool ReportError(const std::string& fire_id, int item, const std::string& message);
  void PostStatus(const FireRun& run, spi::TaskState state, const std::string& message);

  const config::JobConfig job_;
  const JobPlugins plugins_;
  const std::shared_ptr<coordination::JobCoordinator> coordinator_;
  TraceDispatcher& traces_;
  const std::string instance_id_;
  const std::string hostname_;
  const FireEndHandler on_fire_end_;
  const std::shared_ptr<TaskLane> lane_;
  WorkerPool& pool_;

  mutable std::mutex mutex_;
  std::condition_variable idle_;
  bool accepting_ = true;
  std::shared_ptr<FireRun> running_;
  std::optional<schedule::Fire> pending_misfire_;
  JobCounters counters_;
};

}  // namespace shardjob::execution
