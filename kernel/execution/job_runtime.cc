#include "execution/job_runtime.h"

#include <random>
#include <set>
#include <utility>

#include <spdlog/spdlog.h>

namespace shardjob::execution {
namespace {

std::int64_t EpochMs(schedule::TimePoint time) { return time.time_since_epoch().count(); }

std::string RandomId() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  char id[40];
  std::snprintf(id, sizeof(id), "%016llx%016llx", static_cast<unsigned long long>(random()),
                static_cast<unsigned long long>(random()));
  return id;
}

// "SimpleJob::Execute threw: ..." for a plain failure, "timed out: ..." for the others.
std::string Describe(const spi::Status& status) {
  return status.code() == spi::Status::Code::kFailed ? status.message() : status.ToString();
}

std::string ItemList(const std::vector<coordination::Claim>& claims) {
  std::string list = "[";
  for (std::size_t i = 0; i < claims.size(); ++i) {
    if (i > 0) list += ", ";
    list += std::to_string(claims[i].item);
  }
  return list + "]";
}

}  // namespace

struct JobRuntime::FireRun {
  schedule::Fire fire;
  spi::ExecutionSource source = spi::ExecutionSource::kNormalTrigger;
  std::optional<std::vector<int>> items;
  std::shared_ptr<const Setup> setup;  // the config and plugins this fire runs with
  std::string task_id;                 // of the fire on this instance, for status events
  spi::Cancellation cancellation;
  std::vector<coordination::Claim> claims;
  std::atomic<bool> abandoned{false};  // the error handler escalated

  std::mutex mutex;
  std::size_t remaining = 0;
  std::vector<coordination::TaskOutcome> outcomes;  // committed
  std::vector<coordination::Claim> released;        // stopped by cancellation: not committed
};

JobRuntime::JobRuntime(config::JobConfig job, JobPlugins plugins,
                       std::shared_ptr<coordination::JobCoordinator> coordinator, WorkerPool& pool,
                       TraceDispatcher& traces, std::string instance_id, std::string hostname,
                       FireEndHandler on_fire_end)
    : job_name_(job.name),
      coordinator_(std::move(coordinator)),
      traces_(traces),
      instance_id_(std::move(instance_id)),
      hostname_(std::move(hostname)),
      on_fire_end_(std::move(on_fire_end)),
      pool_(pool),
      setup_(MakeSetup(std::move(job), std::move(plugins))) {}

std::shared_ptr<const JobRuntime::Setup> JobRuntime::MakeSetup(config::JobConfig job,
                                                               JobPlugins plugins) {
  auto setup = std::make_shared<Setup>();
  setup->lane = std::make_shared<TaskLane>(pool_, static_cast<std::size_t>(job.executor_threads));
  setup->job = std::move(job);
  setup->plugins = std::move(plugins);
  return setup;
}

bool JobRuntime::HasClusterOnceListener(const Setup& setup) {
  for (const auto& listener : setup.plugins.listeners) {
    if (listener->ClusterOnce()) return true;
  }
  return false;
}

void JobRuntime::Update(config::JobConfig job, JobPlugins plugins) {
  auto setup = MakeSetup(std::move(job), std::move(plugins));
  std::lock_guard<std::mutex> lock(mutex_);
  setup_ = std::move(setup);
}

config::JobConfig JobRuntime::config() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return setup_->job;
}

void JobRuntime::OnFire(const schedule::Fire& fire, spi::ExecutionSource source,
                        std::optional<std::vector<int>> items) {
  std::shared_ptr<FireRun> run;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!accepting_) return;
    if (running_) {
      if (source != spi::ExecutionSource::kNormalTrigger) {
        queued_.push_back(QueuedFire{fire, source, std::move(items)});
        return;
      }
      ++counters_.misfires;
      if (setup_->job.misfire) {
        if (pending_misfire_) ++counters_.skipped_fires;  // coalesced into the newer one
        pending_misfire_ = fire;
        spdlog::warn(
            "job={} fire={} instance={} arrived while fire {} still runs; it runs next "
            "(misfire)",
            job_name_, fire.fire_id, instance_id_, running_->fire.fire_id);
      } else {
        ++counters_.skipped_fires;
        spdlog::warn("job={} fire={} instance={} skipped: fire {} still runs and misfire is off",
                     job_name_, fire.fire_id, instance_id_, running_->fire.fire_id);
      }
      return;
    }
    run = BeginLocked(QueuedFire{fire, source, std::move(items)});
  }
  pool_.Submit([self = shared_from_this(), run] { self->RunFire(run); });
}

std::shared_ptr<JobRuntime::FireRun> JobRuntime::BeginLocked(QueuedFire queued) {
  auto run = std::make_shared<FireRun>();
  run->fire = std::move(queued.fire);
  run->source = queued.source;
  run->items = std::move(queued.items);
  run->setup = setup_;
  run->task_id = job_name_ + "@-@" + run->fire.fire_id + "@-@" + instance_id_;
  running_ = run;
  ++counters_.fires;
  if (run->source == spi::ExecutionSource::kFailover) ++counters_.failover_fires;
  return run;
}

void JobRuntime::RunFire(std::shared_ptr<FireRun> run) {
  const Setup& setup = *run->setup;
  auto lateness = schedule::NowMs() - run->fire.scheduled;
  spdlog::debug("job={} fire={} instance={} started {} ms after its scheduled time", job_name_,
                run->fire.fire_id, instance_id_, lateness.count());
  run->claims = coordinator_->ClaimFire(run->fire.fire_id, run->items,
                                        run->source == spi::ExecutionSource::kFailover);
  PostStatus(*run, spi::TaskState::kStaging,
             "Job '" + job_name_ + "' execute begin, shards " + ItemList(run->claims));
  if (run->claims.empty()) {
    spdlog::debug("job={} fire={} instance={} has no shards to run", job_name_, run->fire.fire_id,
                  instance_id_);
    FinishFire(run);
    return;
  }
  spi::FireInfo info{job_name_, run->fire.fire_id, instance_id_, {}};
  for (const auto& claim : run->claims) info.sharding_items.push_back(claim.item);
  bool first_in_cluster =
      HasClusterOnceListener(setup) && coordinator_->BeginFireOnce(run->fire.fire_id);
  for (const auto& listener : setup.plugins.listeners) {
    if (listener->ClusterOnce() && !first_in_cluster) continue;
    spi::Status status = listener->BeforeFire(info);
    if (!status.ok() && ReportError(*run, -1, "listener before fire: " + Describe(status))) {
      run->abandoned = true;
    }
  }
  PostStatus(*run, spi::TaskState::kRunning, "");
  run->remaining = run->claims.size();
  for (const auto& claim : run->claims) {
    setup.lane->Submit([self = shared_from_this(), run, claim] { self->RunTask(run, claim); });
  }
}

void JobRuntime::RunTask(std::shared_ptr<FireRun> run, coordination::Claim claim) {
  const config::JobConfig& job = run->setup->job;
  spi::ShardingContext context;
  context.job_name = job_name_;
  context.fire_id = run->fire.fire_id;
  context.instance_id = instance_id_;
  context.task_id = job_name_ + "@-@" + run->fire.fire_id + "@-@" + std::to_string(claim.item) +
                    "@-@" + instance_id_;
  context.sharding_total_count = job.sharding_total_count;
  context.sharding_item = claim.item;
  auto parameter = job.sharding_item_parameters.find(claim.item);
  if (parameter != job.sharding_item_parameters.end()) {
    context.sharding_parameter = parameter->second;
  }
  context.job_parameter = job.job_parameter;
  context.fencing_token = claim.fencing_token;
  context.cancellation = &run->cancellation;

  spi::ExecutionEvent event;
  event.id = RandomId();
  event.hostname = hostname_;
  event.task_id = context.task_id;
  event.job_name = job_name_;
  event.source = run->source;
  event.sharding_item = claim.item;
  event.start_time_ms = EpochMs(schedule::NowMs());
  event.fire_id = run->fire.fire_id;
  event.instance_id = instance_id_;
  event.fencing_token = claim.fencing_token;
  traces_.Post(event);

  spi::Status status;
  const bool abandoned = run->abandoned;
  if (abandoned) {
    status = spi::Status::Failed("not run: an earlier error of this fire was escalated");
  } else if (run->cancellation.IsCancelled()) {
    status = spi::Status::Cancelled("not run: the fire was cancelled before this shard started");
  } else {
    spdlog::info("job={} fire={} shard={}/{} instance={} token={} parameter={} started", job_name_,
                 context.fire_id, claim.item, job.sharding_total_count, instance_id_,
                 claim.fencing_token, context.sharding_parameter.value_or(""));
    status = run->setup->plugins.executor->Execute(run->setup->plugins.job_object.get(), context);
  }
  event.complete_time_ms = EpochMs(schedule::NowMs());
  event.success = status.ok();
  if (status.ok()) {
    spdlog::info("job={} fire={} shard={} instance={} succeeded in {} ms", job_name_,
                 context.fire_id, claim.item, instance_id_,
                 event.complete_time_ms - event.start_time_ms);
  } else {
    event.failure_cause = Describe(status);
    spdlog::error("job={} fire={} shard={} instance={} failed: {}", job_name_, context.fire_id,
                  claim.item, instance_id_, event.failure_cause);
    // A shard abandoned after an escalation is its consequence, not a new error to report.
    if (!abandoned && ReportError(*run, claim.item, event.failure_cause)) {
      run->abandoned = true;
    }
  }
  traces_.Post(std::move(event));

  bool last;
  {
    std::lock_guard<std::mutex> lock(run->mutex);
    // A task its cancellation stopped did not do its work: it is not committed, so it runs
    // again (failed over, or at the next fire): committed once, executed at least once.
    if (!status.ok() && run->cancellation.IsCancelled()) {
      run->released.push_back(claim);
    } else {
      run->outcomes.push_back(coordination::TaskOutcome{claim, status.ok()});
    }
    last = --run->remaining == 0;
  }
  if (last) FinishFire(run);
}

void JobRuntime::FinishFire(std::shared_ptr<FireRun> run) {
  coordination::CommitResult committed = coordinator_->Commit(run->fire.fire_id, run->outcomes);
  coordinator_->Release(run->released);
  std::set<int> failed(committed.fenced.begin(), committed.fenced.end());
  for (const auto& claim : run->released) failed.insert(claim.item);
  failed.insert(committed.unknown.begin(), committed.unknown.end());
  std::uint64_t succeeded = 0;
  for (const auto& outcome : run->outcomes) {
    if (outcome.success) {
      ++succeeded;
    } else {
      failed.insert(outcome.claim.item);
    }
  }
  if (!run->claims.empty()) {
    spi::FireInfo info{job_name_, run->fire.fire_id, instance_id_, {}};
    for (const auto& claim : run->claims) info.sharding_items.push_back(claim.item);
    int committed_here =
        static_cast<int>(run->outcomes.size() - committed.fenced.size() - committed.unknown.size());
    bool completes_fire = HasClusterOnceListener(*run->setup) &&
                          coordinator_->EndFireOnce(run->fire.fire_id, committed_here);
    std::vector<int> failed_items(failed.begin(), failed.end());
    for (const auto& listener : run->setup->plugins.listeners) {
      if (listener->ClusterOnce() && !completes_fire) continue;
      listener->AfterFire(info, failed_items);
    }
  }
  if (failed.empty()) {
    PostStatus(*run, spi::TaskState::kFinished, "");
  } else {
    PostStatus(*run, spi::TaskState::kError, std::to_string(failed.size()) + " shard(s) failed");
  }

  std::shared_ptr<FireRun> next;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    counters_.tasks_succeeded += succeeded;
    counters_.tasks_failed += run->outcomes.size() - succeeded;
    counters_.tasks_released += run->released.size();
    counters_.commits_fenced += committed.fenced.size();
    counters_.commits_unknown += committed.unknown.size();
    running_.reset();
    if (accepting_) {
      if (!queued_.empty()) {
        next = BeginLocked(std::move(queued_.front()));
        queued_.pop_front();
      } else if (pending_misfire_) {
        next = BeginLocked(QueuedFire{*pending_misfire_, spi::ExecutionSource::kMisfire, {}});
        pending_misfire_.reset();
      }
    }
  }
  if (!next) idle_.notify_all();
  if (on_fire_end_) on_fire_end_(schedule::NowMs());
  // Through the pool, not a call: a long queue of fires with nothing to claim must not nest.
  if (next) pool_.Submit([self = shared_from_this(), next] { self->RunFire(next); });
}

bool JobRuntime::ReportError(const FireRun& run, int item, const std::string& message) {
  spi::JobError error{job_name_, run.fire.fire_id, item, instance_id_, message};
  spi::Status status = run.setup->plugins.error_handler->Handle(error);
  if (status.ok()) return false;
  spdlog::error(
      "job={} fire={} instance={} error handler {} escalated: {}; the fire's remaining "
      "shards on this instance are abandoned",
      job_name_, run.fire.fire_id, instance_id_, run.setup->job.error_handler, Describe(status));
  return true;
}

void JobRuntime::PostStatus(const FireRun& run, spi::TaskState state, const std::string& message) {
  spi::StatusEvent event;
  event.id = RandomId();
  event.job_name = job_name_;
  event.task_id = run.task_id;
  event.slave_id = instance_id_;
  event.sharding_items = ItemList(run.claims);
  event.state = state;
  event.message = message;
  event.creation_time_ms = EpochMs(schedule::NowMs());
  traces_.Post(std::move(event));
}

void JobRuntime::OnClaimsLost() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++counters_.claims_lost;
  if (running_) running_->cancellation.Cancel();
}

void JobRuntime::StopAccepting() {
  std::lock_guard<std::mutex> lock(mutex_);
  accepting_ = false;
  if (!queued_.empty() || pending_misfire_) {
    // Not run here; their claims were never made, so a failover fire's shards stay claimable
    // by the instances that take them over.
    spdlog::warn("job={} instance={} stopping with {} queued fire(s) and {} misfire(s) not run",
                 job_name_, instance_id_, queued_.size(), pending_misfire_ ? 1 : 0);
  }
  pending_misfire_.reset();
  queued_.clear();
}

bool JobRuntime::WaitIdle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  return idle_.wait_until(lock, deadline, [this] { return running_ == nullptr; });
}

void JobRuntime::CancelRunning() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (running_) running_->cancellation.Cancel();
}

JobCounters JobRuntime::Counters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counters_;
}

}  // namespace shardjob::execution
