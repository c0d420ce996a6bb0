#pragma once

// Runs the fires of one job on this instance: claims the instance's shards, runs each shard's
// task through the executor plugin on the shared worker pool, reports errors to the job's error
// handler, calls the listeners, sends trace events and commits the fire.
//
// Per shard, never two fires at once on this instance. A fire that arrives for a shard whose
// previous fire still runs follows the job's `overlap` policy: skip, buffer_one (the newest
// waiting fire replaces an older waiting one) or buffer_all. Failover, triggered and catch-up
// fires are never dropped: they wait. A shard whose task has finished is free for the next fire
// even while its siblings still run: its result is committed first, by the next fire.
//
// Fires nobody ran in time (the owner died, the registry was out of reach, the process was
// paused) are found from each shard's committed watermark when the instance takes a shard on,
// and at each scheduled fire; `misfire_policy` runs them all (within `misfire_window`), once
// (coalesced) or not at all. Every skipped, buffered, coalesced or missed fire is counted, logged
// and traced (TASK_DROPPED).

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "coordination/event_loop.h"
#include "coordination/job_coordinator.h"
#include "execution/start_gate.h"
#include "execution/trace_dispatcher.h"
#include "execution/worker_pool.h"
#include "metrics/histogram.h"
#include "schedule/clock_watch.h"
#include "schedule/schedule.h"
#include "schedule/timer_queue.h"
#include "shardjob/spi/cancellation.h"
#include "shardjob/spi/error_handler.h"
#include "shardjob/spi/job_executor.h"
#include "shardjob/spi/job_listener.h"
#include "shardjob/spi/shard_source.h"
#include "shardjob/spi/sharding_strategy.h"
#include "shardjob/spi/tracer.h"

namespace shardjob::execution {

// The plugin objects a job runs with, built from its config.
struct JobPlugins {
  // What the objects refer to (their props and loggers): declared first, destroyed last.
  std::shared_ptr<const void> contexts;
  // What a task's start reads, together (one cache line when thousands of jobs start at once).
  std::shared_ptr<spi::JobExecutor> executor;
  std::shared_ptr<spi::JobObject> job_object;      // null for a Typed executor
  std::shared_ptr<spi::ShardSource> shard_source;  // null without a shard_source
  std::shared_ptr<spi::ErrorHandler> error_handler;
  std::vector<std::shared_ptr<spi::JobListener>> listeners;
  std::shared_ptr<spi::ShardingStrategy> strategy;
};

// Counted per task, a task being (fire, shard), unless the name says fires.
struct JobCounters {
  std::uint64_t fires = 0;                // fires that claimed shards here
  std::uint64_t failover_fires = 0;       // of which for shards whose runner was gone
  std::uint64_t overlaps = 0;             // arrived while the shard's previous fire still ran
  std::uint64_t skipped_tasks = 0;        // dropped: overlap skip, misfire skip, misfire_window
  std::uint64_t buffered_tasks = 0;       // waited for the shard to be free
  std::uint64_t coalesced_tasks = 0;      // replaced by a newer fire (buffer_one, run_once)
  std::uint64_t missed_tasks = 0;         // found not run in time (then run, coalesced or skipped)
  std::uint64_t missed_fires = 0;         // scheduled fires that did not start within the tolerance
  std::uint64_t clock_refused_fires = 0;  // scheduled fires refused: the wall clock had stepped
  std::uint64_t tasks_succeeded = 0;
  std::uint64_t tasks_failed = 0;
  std::uint64_t tasks_timed_out = 0;  // of the failed ones
  std::uint64_t task_retries = 0;
  std::uint64_t tasks_released = 0;   // stopped by cancellation: not committed, to run again
  std::uint64_t commits_fenced = 0;   // tasks whose commit was refused: the claim was lost
  std::uint64_t commits_unknown = 0;  // tasks whose commit outcome could not be learnt
  std::uint64_t claims_lost = 0;      // times running tasks were cancelled for a lost session
  std::uint64_t items_processed = 0;  // reported by tasks (dataflow: items fetched and processed)
  std::uint64_t checkpoints_saved = 0;
  std::uint64_t checkpoint_failures = 0;  // refused (claim lost), not answered, or too large
  std::uint64_t tasks_resumed = 0;        // attempts started from a checkpoint saved earlier
  std::uint64_t tasks_stolen = 0;         // dynamic sharding: claimed from another's list
  std::uint64_t pages_not_needed = 0;     // grid pages beyond what the shard source said: not run
  // Fires that claimed shards here, by spi::ExecutionSource (normal, misfire, failover, manual).
  std::array<std::uint64_t, 4> fires_by_source{};
};

// How long things took on this instance, for the metrics page.
struct JobTimings {
  metrics::HistogramSnapshot lateness;  // a scheduled fire's instant to its task's start, seconds
  metrics::HistogramSnapshot succeeded_duration;  // a task's run, seconds
  metrics::HistogramSnapshot failed_duration;
  std::map<int, std::int64_t> last_success_ms;  // per shard, epoch ms of its last success here
};

// Where the instance runs, as traces record it (ElasticJob's hostname and ip).
struct Host {
  std::string name;
  std::string ip;
};

class JobRuntime : public std::enable_shared_from_this<JobRuntime> {
 public:
  // Called when a run has ended on this instance, with the time it ended.
  using FireEndHandler = std::function<void(schedule::TimePoint)>;

  // `gate` holds the tasks of fires claimed ahead until their instant; `timers` runs timeouts,
  // retry backoffs and the watchdog; `schedule` may be null (a job that
  // only runs when triggered); `clock`, when set, refuses scheduled fires while the wall clock
  // stands stepped.
  JobRuntime(config::JobConfig job, JobPlugins plugins,
             std::shared_ptr<const schedule::Schedule> schedule,
             std::shared_ptr<coordination::JobCoordinator> coordinator, WorkerPool& pool,
             StartGate& gate, coordination::EventLoop& timers, TraceDispatcher& traces,
             std::string instance_id, Host host, FireEndHandler on_fire_end,
             std::shared_ptr<schedule::ClockWatch> clock = nullptr);
  JobRuntime(const JobRuntime&) = delete;
  JobRuntime& operator=(const JobRuntime&) = delete;

  // Never blocks: the fire runs on the worker pool. `items` names the shards of a failover or
  // catch-up fire; otherwise the instance's assigned shards run.
  void OnFire(const schedule::Fire& fire, spi::ExecutionSource source,
              std::optional<std::vector<int>> items = std::nullopt);
  // Shards this instance took on: their missed fires are run per misfire_policy. Never blocks.
  void CatchUp(std::vector<int> items);
  // A new config and its plugins, used from the next fire on; running fires keep their own.
  void Update(config::JobConfig job, JobPlugins plugins,
              std::shared_ptr<const schedule::Schedule> schedule);
  // The claims of the running fires are lost: raise their tasks' cancellation flags.
  void OnClaimsLost();
  // The items were assigned to another instance: raise their running tasks' `reassigned` flags
  // (a streaming task then ends after its round; the others finish as usual).
  void OnItemsLost(const std::vector<int>& items);
  // Starts the missed-fire watchdog (a no-op for jobs without a schedule or a tolerance).
  void StartWatchdog();

  // Shutdown, in this order: refuse new fires; wait for the running ones; cancel them if the
  // wait ran out.
  void StopAccepting();
  bool WaitIdle(std::chrono::steady_clock::time_point deadline);
  void CancelRunning();

  config::JobConfig config() const;
  JobCounters Counters() const;
  JobTimings Timings() const;

 private:
  struct Setup {
    // The plugins first: a task's start reads them and the lane, hardly the config, and with
    // thousands of jobs each read is a cache miss of its own.
    JobPlugins plugins;
    std::shared_ptr<TaskLane> lane;
    std::shared_ptr<const schedule::Schedule> schedule;
    config::JobConfig job;
  };
  struct Task;
  struct Run;
  class TaskCheckpoint;
  // Dynamic sharding: the next shard a free worker claims.
  struct PullStep {
    std::shared_ptr<Run> run;
    int item = 0;
    std::string owner;  // the instance whose list it is taken from; empty for one of ours
  };
  struct Waiting {
    schedule::Fire fire;
    spi::ExecutionSource source;
  };
  // How a task's attempt ended, for what follows it (EndTask). In a burst of tasks that follows
  // the next tasks' starts, so all of it is carried: even the context, whose strings are freed
  // then.
  struct TaskEnd {
    spi::Status status;
    bool timed_out = false;  // as found when it ended: the timer may fire later
    bool abandoned = false;  // as found when it began: no retry then
    std::optional<std::chrono::system_clock::duration> lateness;  // a scheduled first attempt's
    std::optional<std::chrono::steady_clock::duration> ran_for;   // when the executor ran
    std::uint64_t items_processed = 0;
    std::unique_ptr<spi::ExecutionEvent> event;  // its start, when traced
    spi::ShardingContext context;
  };
  // What a lock-holding step decided to start once the lock is released.
  using Starts = std::vector<std::shared_ptr<Run>>;

  // REQUIRES: mutex_ held. Starts the fire on the free items, applies the policies to the busy
  // ones.
  void DispatchLocked(const schedule::Fire& fire, spi::ExecutionSource source,
                      const std::vector<int>& items, Starts* starts);
  // REQUIRES: mutex_ held. Starts what waits for `items`, now free.
  void StartWaitingLocked(const std::vector<int>& items, Starts* starts);
  // REQUIRES: mutex_ held. The scheduled fire was claimed for `item`, or dropped by policy: the
  // missed-fire check counts from it. (A claim refused, e.g. while the shard's previous owner
  // still held it, is not: the fire is then missed, and caught up.)
  void DecidedLocked(int item, const schedule::Fire& fire);
  // REQUIRES: mutex_ held. Queues `waiting` for `item`, scheduled instants in order, once.
  void InsertWaitingLocked(int item, Waiting waiting);
  // REQUIRES: mutex_ held. Marks the items as catching up and starts RunCatchUp for them (later
  // if one was caught up a moment ago).
  void CatchUpLocked(const std::vector<int>& items);
  // Before a scheduled fire claims: items that missed an earlier instant are taken out of the
  // run (the fire waits for them behind a catch-up). True when any was.
  bool DeferBehindItems(Run& run);
  // REQUIRES: mutex_ held. After a commit of `outcomes`: their items are no longer committing,
  // the unknown ones are parked; returns the items, which waiting fires may now take.
  std::vector<int> CommitEndedLocked(const std::shared_ptr<Run>& run,
                                     const std::vector<coordination::TaskOutcome>& outcomes,
                                     const coordination::CommitResult& committed);
  // REQUIRES: mutex_ held. Keeps the outcomes whose commit is `unknown` as finished, so the
  // shard's next fire (or ResolveUnknown) commits them again.
  void ParkUnknownLocked(const std::shared_ptr<Run>& run,
                         const std::vector<coordination::TaskOutcome>& outcomes,
                         const std::vector<int>& unknown);
  // Commits again the outcomes of `run` whose commit outcome was unknown, now or after `delay`.
  void ResolveUnknown(std::shared_ptr<Run> run, std::chrono::milliseconds next_delay);
  // REQUIRES: mutex_ held. Nothing of `item` runs, waits or awaits its commit here.
  bool IdleLocked(int item) const;
  // REQUIRES: mutex_ held. `fire_id` runs or waits here for `item`.
  bool HereLocked(int item, const std::string& fire_id) const;
  std::shared_ptr<Run> NewRunLocked(const schedule::Fire& fire, spi::ExecutionSource source,
                                    std::vector<int> items);
  void Launch(Starts starts);
  // Dynamic sharding: while a worker is free, claims the next shard of the oldest fire that has
  // one left (this instance's own shards first, then others' from the tail of their lists) and
  // starts it. One caller pulls at a time; a call while another pulls makes it look again.
  void Pull();
  // REQUIRES: mutex_ held. The next shard to claim, when a worker is free; runs left with nothing
  // to claim and no task running go to *ended (FinishRun is theirs to call).
  std::optional<PullStep> NextPullLocked(std::vector<std::shared_ptr<Run>>* ended, Starts* starts);
  // REQUIRES: mutex_ held. The other instances' shards, each list tail first, for stealing.
  void MakeStealListsLocked(Run& run);
  // A steal of a scheduled fire's shard whose earlier instants are not all committed would make
  // them look done: true when `item` is behind `run`'s fire.
  bool BehindForSteal(const Run& run, int item);
  void ClaimPulled(const PullStep& step);
  // Dynamic sharding: commits (or releases) a finished task at once, so that its shard is free
  // for its next fire wherever that runs; the run ends with the last one (nothing left to
  // claim).
  void SettleTask(const std::shared_ptr<Run>& run, int item);
  void RunFire(std::shared_ptr<Run> run);
  // The listeners' BeforeFire and the RUNNING status event, once the run has claimed shards.
  void BeforeFire(Run& run, const std::vector<int>& claimed);
  // The parts of a task's context that hold for every attempt: names, item, page, parameters.
  spi::ShardingContext ContextOf(const Run& run, int item) const;
  void StartTask(std::shared_ptr<Run> run, std::shared_ptr<Task> task);
  // Through the job's lane, not waiting for any instant.
  void StartNow(std::shared_ptr<Run> run, std::shared_ptr<Task> task);
  void RunTask(std::shared_ptr<Run> run, std::shared_ptr<Task> task);
  // After an attempt: histograms, the trace, a retry or FinishTask.
  void EndTask(std::shared_ptr<Run> run, std::shared_ptr<Task> task, TaskEnd& end);
  // `timed_out`: its attempt was found timed out when it ended.
  void FinishTask(std::shared_ptr<Run> run, std::shared_ptr<Task> task, spi::Status status,
                  bool timed_out);
  void FinishRun(std::shared_ptr<Run> run);
  // Commits finished tasks of earlier fires handed to `run` with its items.
  void CommitHandedOver(Run& run);
  void CountCommit(const coordination::CommitResult& result);
  void CountFireLocked(const Run& run);
  void RunCatchUp(std::vector<int> items);
  // Scheduled instants after `after` up to `until`, at most `limit` of them.
  std::vector<std::int64_t> InstantsBetween(const schedule::Schedule& schedule, std::int64_t after,
                                            std::int64_t until, std::size_t limit) const;
  void CheckWatchdog();
  // A scheduled fire came while the wall clock stands stepped: refused; the registry's clock
  // tells whether the new time is right.
  void RefuseForClockStep(const schedule::Fire& fire, std::chrono::milliseconds step);
  void VerifyClock();
  // REQUIRES: mutex_ held. Raises every running task's flag; their claims count as lost.
  void CancelAllLocked();
  bool ReportError(const Run& run, int item, const std::string& message);
  void PostStatus(const Run& run, spi::TaskState state, const std::string& message);
  void PostDropped(const schedule::Fire& fire, const std::vector<int>& items,
                   const std::string& why);
  std::shared_ptr<const Setup> MakeSetup(config::JobConfig job, JobPlugins plugins,
                                         std::shared_ptr<const schedule::Schedule> schedule);
  static bool HasClusterOnceListener(const Setup& setup);

  const std::string job_name_;
  const std::shared_ptr<coordination::JobCoordinator> coordinator_;
  TraceDispatcher& traces_;
  coordination::EventLoop& timers_;
  const std::string instance_id_;
  const Host host_;
  const FireEndHandler on_fire_end_;
  WorkerPool& pool_;
  StartGate& gate_;
  const std::shared_ptr<schedule::ClockWatch> clock_;

  mutable std::mutex mutex_;  // everything below
  bool clock_check_pending_ = false;
  std::condition_variable idle_;
  std::shared_ptr<const Setup> setup_;
  bool accepting_ = true;
  std::set<std::shared_ptr<Run>> runs_;  // started, not yet finished
  // Dynamic sharding: runs with shards left to claim, oldest first; tasks claimed and not
  // finished (both modes count them); whether a Pull runs and whether it must look again.
  std::deque<std::shared_ptr<Run>> pulling_;
  std::size_t active_tasks_ = 0;
  std::set<std::int64_t> triggers_seen_;  // sequences of the newest one-off triggers received
  bool pull_running_ = false;
  bool pull_again_ = false;
  // Per item, at most one of: reserved or running (running_), finished but not committed
  // (finished_: the next fire commits it first), being committed by its run (committing_).
  std::map<int, std::shared_ptr<Run>> running_;
  std::map<int, std::shared_ptr<Run>> finished_;
  std::set<int> committing_;
  std::set<int> catching_up_;  // a catch-up is being computed: its fires go first
  std::map<int, std::chrono::steady_clock::time_point> last_catch_up_;
  std::map<int, std::deque<Waiting>> waiting_;
  std::map<int, std::int64_t> last_decided_;      // per item, see DecidedLocked
  std::optional<std::int64_t> last_scheduled_;    // the newest scheduled fire that arrived
  std::optional<std::int64_t> watchdog_checked_;  // instants up to here are judged
  JobCounters counters_;
  std::deque<std::string> counted_fires_;  // the newest fires counted, see CountFireLocked
  std::map<int, std::int64_t> last_success_ms_;
  // Fed without the lock.
  metrics::Histogram lateness_{metrics::Histogram::LatenessBuckets()};
  metrics::Histogram succeeded_duration_{metrics::Histogram::DurationBuckets()};
  metrics::Histogram failed_duration_{metrics::Histogram::DurationBuckets()};
};

}  // namespace shardjob::execution
