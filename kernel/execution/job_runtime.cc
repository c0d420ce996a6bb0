#include "execution/job_runtime.h"

#include <algorithm>
#include <random>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

namespace shardjob::execution {
namespace {

using config::MisfirePolicy;
using config::OverlapPolicy;

std::int64_t EpochMs(schedule::TimePoint time) { return time.time_since_epoch().count(); }

// At most this many missed instants of one shard are looked at in one catch-up; older ones count
// as skipped (a 1 s schedule down for a day must not enqueue 86,400 fires).
constexpr std::size_t kMaxCatchUpInstants = 10000;

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

std::string ItemList(const std::vector<int>& items) {
  std::string list = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) list += ", ";
    list += std::to_string(items[i]);
  }
  return list + "]";
}

std::vector<int> ItemsOf(const std::vector<coordination::Claim>& claims) {
  std::vector<int> items;
  for (const auto& claim : claims) items.push_back(claim.item);
  return items;
}

bool IsScheduled(spi::ExecutionSource source) {
  return source == spi::ExecutionSource::kNormalTrigger;
}

// The scheduled instant a fire stands for: its id, when that is one (a failover of a scheduled
// fire is one too; a trigger's is not). Ids of the scheduled family are epoch milliseconds.
// The number `text` spells in 1 to 18 decimal digits (so that it fits), or nullopt.
std::optional<std::int64_t> DecimalOf(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  std::int64_t value = 0;
  for (char digit : text) {
    if (digit < '0' || digit > '9') return std::nullopt;
    value = value * 10 + (digit - '0');
  }
  return value;
}

std::optional<std::int64_t> InstantOf(const schedule::Fire& fire) {
  return DecimalOf(fire.fire_id);
}

// A task never starts before its fire's instant nor its jittered start (fires handed over ahead
// carry it), whatever the source: a failover of a fire claimed ahead may come early too.
schedule::TimePoint NotBefore(const schedule::Fire& fire) {
  schedule::TimePoint not_before = fire.start_at;
  if (std::optional<std::int64_t> instant = InstantOf(fire)) {
    not_before = std::max(not_before, schedule::TimePoint(std::chrono::milliseconds(*instant)));
  }
  return not_before;
}

// The sequence of a one-off trigger's fire ("trigger-0000000012" -> 12).
std::optional<std::int64_t> TriggerSequenceOf(const schedule::Fire& fire) {
  constexpr std::string_view kPrefix = "trigger-";
  std::string_view id = fire.fire_id;
  if (id.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  return DecimalOf(id.substr(kPrefix.size()));
}

// Dynamic sharding pulls the shards of scheduled and triggered fires; fires that name their
// shards (failovers, catch-ups) claim them all at once, as in static mode.
bool Pulls(const config::JobConfig& job, spi::ExecutionSource source) {
  return job.sharding_mode == config::ShardingMode::kDynamic &&
         (source == spi::ExecutionSource::kNormalTrigger ||
          source == spi::ExecutionSource::kManualTrigger);
}

// A catch-up of a shard comes at most this often: one whose fires were refused (the previous
// owner still holds the shard) must not spin against the registry.
constexpr auto kCatchUpSpacing = std::chrono::milliseconds(500);

}  // namespace

// One shard of a run.
struct JobRuntime::Task {
  // Claimed ahead, waiting in the StartGate for its instant; whoever lowers it starts the task.
  // Its context is built before it waits; set before at_gate is raised, taken by RunTask. (First,
  // on the line the start reads anyway.)
  std::atomic<bool> at_gate{false};
  std::atomic<int> attempt{0};
  // Replaced for each attempt; the flag of the attempt that runs is the one raised.
  std::shared_ptr<spi::Cancellation> cancellation = std::make_shared<spi::Cancellation>();
  // The claim's version and checkpoint move on with each checkpoint saved: read and written
  // under claim_mutex once the task has started.
  std::mutex claim_mutex;
  coordination::Claim claim;
  std::atomic<bool> timed_out{false};
  std::atomic<bool> claim_lost{false};  // cancelled because the claim is lost, or at shutdown
  std::optional<spi::ShardingContext> context_ahead;
  bool done = false;  // under mutex_
  // Raised when the shard is assigned elsewhere while the task runs (for every attempt).
  std::shared_ptr<spi::Cancellation> reassigned = std::make_shared<spi::Cancellation>();
};

// One fire on this instance, for the items it reserved.
struct JobRuntime::Run {
  schedule::Fire fire;
  spi::ExecutionSource source = spi::ExecutionSource::kNormalTrigger;
  std::vector<int> items;              // reserved when the run was made
  std::shared_ptr<const Setup> setup;  // the config and plugins this fire runs with
  std::string task_id;                 // of the fire on this instance, for status events
  std::atomic<bool> abandoned{false};  // the error handler escalated
  // Finished tasks of earlier fires on these items, committed before this run claims them.
  std::vector<std::pair<std::string, coordination::TaskOutcome>> handed_over;

  // Under mutex_:
  std::vector<coordination::Claim> claims;
  std::map<int, std::shared_ptr<Task>> tasks;
  std::size_t remaining = 0;
  std::map<int, coordination::TaskOutcome> uncommitted;  // finished, not handed over
  std::vector<coordination::Claim> released;             // stopped by cancellation
  std::vector<int> failed;                               // for the listeners' AfterFire
  std::uint64_t succeeded = 0;

  // Dynamic sharding (under mutex_): the run claims its items one at a time (`pending`, then
  // other instances' lists, each tail first), commits each task as it ends, and ends once
  // nothing is left to claim (`pull_done`) and no task runs.
  bool pulls = false;
  bool listeners_called = false;  // BeforeFire, at the first claim
  std::deque<int> pending;
  bool steal_lists_made = false;
  std::vector<std::pair<std::string, std::deque<int>>> steal_lists;  // owner -> items
  std::size_t next_list = 0;
  bool pull_done = false;
  int committed = 0;  // tasks committed as they ended
};

// spi::Checkpoint for one task: the record travels with the task's claim, and each save is a
// write guarded by it (ShardLedger::SaveCheckpoint).
class JobRuntime::TaskCheckpoint final : public spi::Checkpoint {
 public:
  TaskCheckpoint(JobRuntime& runtime, std::string fire_id, std::shared_ptr<Task> task)
      : runtime_(runtime), fire_id_(std::move(fire_id)), task_(std::move(task)) {}

  std::optional<std::string> Load() const noexcept override {
    std::lock_guard<std::mutex> lock(task_->claim_mutex);
    return task_->claim.checkpoint;
  }

  spi::Status Save(const std::string& record) noexcept override {
    spi::Status status = SaveOrRefuse(record);
    std::lock_guard<std::mutex> lock(runtime_.mutex_);
    ++(status.ok() ? runtime_.counters_.checkpoints_saved : runtime_.counters_.checkpoint_failures);
    return status;
  }

 private:
  spi::Status SaveOrRefuse(const std::string& record) noexcept {
    if (record.size() > spi::kMaxCheckpointBytes) {
      return spi::Status::InvalidArgument("a checkpoint of " + std::to_string(record.size()) +
                                          " bytes is larger than the " +
                                          std::to_string(spi::kMaxCheckpointBytes) + " allowed");
    }
    const std::string lost = "the claim on shard " + std::to_string(task_->claim.item) +
                             " is lost: stop; the task runs again from its last checkpoint";
    if (task_->claim_lost) return spi::Status::Cancelled(lost);
    try {
      std::lock_guard<std::mutex> lock(task_->claim_mutex);
      switch (runtime_.coordinator_->SaveCheckpoint(fire_id_, &task_->claim, record)) {
        case coordination::CheckpointResult::kSaved:
          return spi::Status::Ok();
        case coordination::CheckpointResult::kFenced:
          return spi::Status::Cancelled(lost);
        case coordination::CheckpointResult::kUnknown:
          break;
      }
      return spi::Status::Unavailable(
          "the registry did not answer; the checkpoint may not be "
          "stored");
    } catch (const std::exception& e) {
      return spi::Status::Internal(std::string("saving the checkpoint: ") + e.what());
    }
  }

  JobRuntime& runtime_;
  const std::string fire_id_;
  const std::shared_ptr<Task> task_;
};

JobRuntime::JobRuntime(config::JobConfig job, JobPlugins plugins,
                       std::shared_ptr<const schedule::Schedule> schedule,
                       std::shared_ptr<coordination::JobCoordinator> coordinator, WorkerPool& pool,
                       StartGate& gate, coordination::EventLoop& timers, TraceDispatcher& traces,
                       std::string instance_id, Host host, FireEndHandler on_fire_end,
                       std::shared_ptr<schedule::ClockWatch> clock)
    : job_name_(job.name),
      coordinator_(std::move(coordinator)),
      traces_(traces),
      timers_(timers),
      instance_id_(std::move(instance_id)),
      host_(std::move(host)),
      on_fire_end_(std::move(on_fire_end)),
      pool_(pool),
      gate_(gate),
      clock_(std::move(clock)),
      setup_(MakeSetup(std::move(job), std::move(plugins), std::move(schedule))) {}

std::shared_ptr<const JobRuntime::Setup> JobRuntime::MakeSetup(
    config::JobConfig job, JobPlugins plugins, std::shared_ptr<const schedule::Schedule> schedule) {
  auto setup = std::make_shared<Setup>();
  setup->lane = std::make_shared<TaskLane>(pool_, static_cast<std::size_t>(job.executor_threads));
  setup->job = std::move(job);
  setup->plugins = std::move(plugins);
  setup->schedule = std::move(schedule);
  return setup;
}

bool JobRuntime::HasClusterOnceListener(const Setup& setup) {
  for (const auto& listener : setup.plugins.listeners) {
    if (listener->ClusterOnce()) return true;
  }
  return false;
}

void JobRuntime::Update(config::JobConfig job, JobPlugins plugins,
                        std::shared_ptr<const schedule::Schedule> schedule) {
  auto setup = MakeSetup(std::move(job), std::move(plugins), std::move(schedule));
  std::lock_guard<std::mutex> lock(mutex_);
  setup_ = std::move(setup);
}

config::JobConfig JobRuntime::config() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return setup_->job;
}

// ---- fires arriving ----

void JobRuntime::OnFire(const schedule::Fire& fire, spi::ExecutionSource source,
                        std::optional<std::vector<int>> items) {
  if (IsScheduled(source) && clock_) {
    if (std::chrono::milliseconds step = clock_->Step(); step.count() != 0) {
      RefuseForClockStep(fire, step);
      return;
    }
  }
  std::vector<int> targets = items ? std::move(*items) : coordinator_->LocalItems();
  if (source == spi::ExecutionSource::kManualTrigger) {
    if (std::optional<std::int64_t> sequence = TriggerSequenceOf(fire)) {
      constexpr std::size_t kTriggersRemembered = 64;
      std::lock_guard<std::mutex> lock(mutex_);
      triggers_seen_.insert(*sequence);
      if (triggers_seen_.size() > kTriggersRemembered) triggers_seen_.erase(triggers_seen_.begin());
    }
  }
  if (IsScheduled(source)) {
    std::lock_guard<std::mutex> lock(mutex_);
    last_scheduled_ = std::max(last_scheduled_.value_or(0), EpochMs(fire.scheduled));
  }
  Starts starts;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!accepting_) return;
    DispatchLocked(fire, source, targets, &starts);
  }
  Launch(std::move(starts));
}

void JobRuntime::DispatchLocked(const schedule::Fire& fire, spi::ExecutionSource source,
                                const std::vector<int>& items, Starts* starts) {
  const OverlapPolicy overlap = setup_->job.overlap;
  std::vector<int> free, skipped, buffered;
  for (int item : items) {
    const bool running = running_.count(item) > 0;
    // Briefly busy (a commit in flight, a catch-up being computed), not running: always wait.
    const bool held = committing_.count(item) > 0 || catching_up_.count(item) > 0;
    if (!running && !held) {
      free.push_back(item);
      continue;
    }
    std::deque<Waiting>& queue = waiting_[item];
    if (running) ++counters_.overlaps;
    if (running && IsScheduled(source) && overlap == OverlapPolicy::kSkip) {
      ++counters_.skipped_tasks;
      skipped.push_back(item);
      DecidedLocked(item, fire);
      continue;
    }
    if (IsScheduled(source) && overlap == OverlapPolicy::kBufferOne) {
      // The newest scheduled fire replaces an older one still waiting; other fires stay.
      auto older = std::find_if(queue.begin(), queue.end(),
                                [](const Waiting& waiting) { return IsScheduled(waiting.source); });
      if (older != queue.end()) {
        ++counters_.coalesced_tasks;
        DecidedLocked(item, older->fire);
        PostDropped(older->fire, {item}, "coalesced into fire " + fire.fire_id + " (buffer_one)");
        queue.erase(older);
      }
    }
    ++counters_.buffered_tasks;
    buffered.push_back(item);
    InsertWaitingLocked(item, Waiting{fire, source});
  }
  if (!skipped.empty()) {
    spdlog::warn(
        "job={} fire={} instance={} skipped on shards {}: their previous fire still runs "
        "(overlap: skip)",
        job_name_, fire.fire_id, instance_id_, ItemList(skipped));
    PostDropped(fire, skipped, "skipped: the previous fire still runs (overlap: skip)");
  }
  if (!buffered.empty()) {
    spdlog::info("job={} fire={} instance={} waits on shards {} for their previous fire", job_name_,
                 fire.fire_id, instance_id_, ItemList(buffered));
  }
  // A fire with no item to run still makes a run when it names no items: its listeners and
  // status events say the instance had nothing to do.
  // Under dynamic sharding it may still take other instances' shards.
  if (!free.empty() || (items.empty() && (IsScheduled(source) || Pulls(setup_->job, source)))) {
    starts->push_back(NewRunLocked(fire, source, std::move(free)));
  }
}

std::shared_ptr<JobRuntime::Run> JobRuntime::NewRunLocked(const schedule::Fire& fire,
                                                          spi::ExecutionSource source,
                                                          std::vector<int> items) {
  auto run = std::make_shared<Run>();
  run->fire = fire;
  run->source = source;
  run->setup = setup_;
  run->task_id = job_name_ + "@-@" + fire.fire_id + "@-@" + instance_id_;
  run->pulls = Pulls(setup_->job, source);
  for (int item : items) {
    running_[item] = run;
    auto finished = finished_.find(item);
    if (finished != finished_.end()) {
      Run& earlier = *finished->second;
      auto outcome = earlier.uncommitted.find(item);
      if (outcome != earlier.uncommitted.end()) {
        run->handed_over.emplace_back(earlier.fire.fire_id, outcome->second);
        earlier.uncommitted.erase(outcome);
      }
      finished_.erase(finished);
    }
  }
  run->items = std::move(items);
  runs_.insert(run);
  return run;
}

void JobRuntime::DecidedLocked(int item, const schedule::Fire& fire) {
  // Only scheduled instants order with the watermark; a trigger's fire id is no instant.
  auto instant = InstantOf(fire);
  if (!instant) return;
  std::int64_t& decided = last_decided_[item];
  decided = std::max(decided, *instant);
}

void JobRuntime::InsertWaitingLocked(int item, Waiting waiting) {
  std::deque<Waiting>& queue = waiting_[item];
  for (const Waiting& queued : queue) {
    if (queued.fire.fire_id == waiting.fire.fire_id) return;
  }
  // Scheduled instants stay in order: a newer one committed first would make the older ones
  // look done. Triggers and failovers (ids of their own) go to the back.
  auto instant = InstantOf(waiting.fire);
  auto position = queue.end();
  if (instant) {
    position = std::find_if(queue.begin(), queue.end(), [&](const Waiting& queued) {
      auto other = InstantOf(queued.fire);
      return !other || *other > *instant;
    });
  }
  queue.insert(position, std::move(waiting));
}

bool JobRuntime::IdleLocked(int item) const {
  return !running_.count(item) && !finished_.count(item) && !committing_.count(item) &&
         !catching_up_.count(item) && !waiting_.count(item);
}

bool JobRuntime::HereLocked(int item, const std::string& fire_id) const {
  auto running = running_.find(item);
  if (running != running_.end() && running->second->fire.fire_id == fire_id) return true;
  auto queue = waiting_.find(item);
  if (queue == waiting_.end()) return false;
  return std::any_of(queue->second.begin(), queue->second.end(),
                     [&](const Waiting& waiting) { return waiting.fire.fire_id == fire_id; });
}

void JobRuntime::StartWaitingLocked(const std::vector<int>& items, Starts* starts) {
  if (!accepting_) return;
  // Items whose first waiting fire is the same start together, as one run.
  std::map<std::string, std::pair<Waiting, std::vector<int>>> by_fire;
  for (int item : items) {
    if (running_.count(item) || committing_.count(item) || catching_up_.count(item)) continue;
    auto queue = waiting_.find(item);
    if (queue == waiting_.end() || queue->second.empty()) continue;
    Waiting next = queue->second.front();
    queue->second.pop_front();
    if (queue->second.empty()) waiting_.erase(queue);
    auto [entry, inserted] = by_fire.try_emplace(next.fire.fire_id, next, std::vector<int>{});
    entry->second.second.push_back(item);
  }
  for (auto& [fire_id, entry] : by_fire) {
    starts->push_back(NewRunLocked(entry.first.fire, entry.first.source, entry.second));
  }
}

void JobRuntime::Launch(Starts starts) {
  for (auto& run : starts) {
    pool_.Submit([self = shared_from_this(), run] { self->RunFire(run); });
  }
}

// ---- a run ----

// A fire's shards may start here in several runs (some waited for their previous fire): the
// fire counts once per source, when its first run claims.
void JobRuntime::CountFireLocked(const Run& run) {
  constexpr std::size_t kRemembered = 256;
  const std::string key = run.fire.fire_id + "/" + spi::ExecutionSourceName(run.source);
  if (std::find(counted_fires_.begin(), counted_fires_.end(), key) != counted_fires_.end()) {
    return;
  }
  counted_fires_.push_back(key);
  if (counted_fires_.size() > kRemembered) counted_fires_.pop_front();
  ++counters_.fires;
  ++counters_.fires_by_source[static_cast<std::size_t>(run.source)];
  if (run.source == spi::ExecutionSource::kFailover) ++counters_.failover_fires;
}

void JobRuntime::CountCommit(const coordination::CommitResult& result) {
  std::lock_guard<std::mutex> lock(mutex_);
  counters_.commits_fenced += result.fenced.size();
  counters_.commits_unknown += result.unknown.size();
}

void JobRuntime::CommitHandedOver(Run& run) {
  std::map<std::string, std::vector<coordination::TaskOutcome>> by_fire;
  for (auto& [fire_id, outcome] : run.handed_over) by_fire[fire_id].push_back(outcome);
  for (const auto& [fire_id, outcomes] : by_fire) {
    CountCommit(coordinator_->Commit(fire_id, outcomes));
  }
  run.handed_over.clear();
}

void JobRuntime::RunFire(std::shared_ptr<Run> run) {
  if (!run->handed_over.empty()) CommitHandedOver(*run);
  if (DeferBehindItems(*run)) {
    if (run->items.empty()) {
      FinishRun(run);
      return;
    }
  }
  if (run->pulls) {
    // Before the run can be pulled from: its claims are not read without the lock.
    PostStatus(
        *run, spi::TaskState::kStaging,
        "Job '" + job_name_ + "' execute begin, pulling shards " + ItemList(run->items) + " first");
    {
      std::lock_guard<std::mutex> lock(mutex_);
      run->pending.assign(run->items.begin(), run->items.end());
      pulling_.push_back(run);
    }
    Pull();
    return;
  }
  std::vector<coordination::Claim> claims;
  if (!run->items.empty()) {
    claims = coordinator_->ClaimFire(run->fire.fire_id, run->items,
                                     run->source == spi::ExecutionSource::kFailover);
  }
  std::vector<int> claimed = ItemsOf(claims);
  Starts starts;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    run->claims = claims;
    std::vector<int> unclaimed;
    for (int item : run->items) {
      if (std::find(claimed.begin(), claimed.end(), item) != claimed.end()) continue;
      auto reserved = running_.find(item);
      if (reserved != running_.end() && reserved->second == run) running_.erase(reserved);
      unclaimed.push_back(item);
    }
    for (const auto& claim : claims) {
      DecidedLocked(claim.item, run->fire);
      auto task = std::make_shared<Task>();
      task->claim = claim;
      run->tasks[claim.item] = task;
    }
    run->remaining = claims.size();
    active_tasks_ += claims.size();
    if (!claims.empty()) CountFireLocked(*run);
    StartWaitingLocked(unclaimed, &starts);
  }
  Launch(std::move(starts));
  PostStatus(*run, spi::TaskState::kStaging,
             "Job '" + job_name_ + "' execute begin, shards " + ItemList(claimed));
  if (claims.empty()) {
    FinishRun(run);
    return;
  }
  BeforeFire(*run, claimed);
  std::vector<std::shared_ptr<Task>> tasks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [item, task] : run->tasks) tasks.push_back(task);
  }
  for (auto& task : tasks) StartTask(run, task);
}

void JobRuntime::BeforeFire(Run& run, const std::vector<int>& claimed) {
  const Setup& setup = *run.setup;
  spi::FireInfo info{job_name_, run.fire.fire_id, instance_id_, claimed};
  bool first_in_cluster =
      HasClusterOnceListener(setup) && coordinator_->BeginFireOnce(run.fire.fire_id);
  for (const auto& listener : setup.plugins.listeners) {
    if (listener->ClusterOnce() && !first_in_cluster) continue;
    spi::Status status = listener->BeforeFire(info);
    if (!status.ok() && ReportError(run, -1, "listener before fire: " + Describe(status))) {
      run.abandoned = true;
    }
  }
  PostStatus(run, spi::TaskState::kRunning, "");
}

bool JobRuntime::DeferBehindItems(Run& run) {
  auto instant = InstantOf(run.fire);
  const schedule::Schedule* schedule = run.setup->schedule.get();
  if (!instant || !schedule || schedule->CountsFromCompletion() || run.items.empty()) {
    return false;
  }
  // From the cache: no request in the steady state.
  std::map<int, std::int64_t> watermarks = coordinator_->ScheduledWatermarks(run.items, false);
  std::vector<int> behind;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [item, done] : watermarks) {
    std::int64_t seen = done;
    if (auto decided = last_decided_.find(item); decided != last_decided_.end()) {
      seen = std::max(seen, decided->second);
    }
    // An instant between what the shard committed (or this instance dealt with) and this fire
    // was missed: the process was paused, the previous owner still held the shard, the registry
    // was out of reach. It must run (or be coalesced) first, or this fire would make it look
    // done.
    auto next = schedule->NextAfter(schedule::TimePoint(std::chrono::milliseconds(seen)));
    if (next && EpochMs(*next) < *instant) behind.push_back(item);
  }
  if (behind.empty()) return false;
  for (int item : behind) {
    auto reserved = running_.find(item);
    if (reserved != running_.end() && reserved->second.get() == &run) running_.erase(reserved);
    run.items.erase(std::find(run.items.begin(), run.items.end(), item));
    InsertWaitingLocked(item, Waiting{run.fire, run.source});
  }
  CatchUpLocked(behind);
  return true;
}

spi::ShardingContext JobRuntime::ContextOf(const Run& run, int item) const {
  const config::JobConfig& job = run.setup->job;
  spi::ShardingContext context;
  context.job_name = job_name_;
  context.fire_id = run.fire.fire_id;
  context.instance_id = instance_id_;
  const std::string item_text = std::to_string(item);
  context.task_id.reserve(job_name_.size() + run.fire.fire_id.size() + item_text.size() +
                          instance_id_.size() + 9);
  context.task_id.append(job_name_).append("@-@").append(run.fire.fire_id).append("@-@");
  context.task_id.append(item_text).append("@-@").append(instance_id_);
  // The claimed shard is a page of an item under grid sharding (item * pages + page).
  const int pages = std::max(1, job.grid_pages);
  context.sharding_total_count = job.sharding_total_count;
  context.sharding_item = item / pages;
  context.shard = item;
  context.shard_count = job.ShardCount();
  context.page = item % pages;
  context.page_count = pages;
  auto parameter = job.sharding_item_parameters.find(context.sharding_item);
  if (parameter != job.sharding_item_parameters.end()) {
    context.sharding_parameter = parameter->second;
  }
  context.job_parameter = job.job_parameter;
  return context;
}

void JobRuntime::StartTask(std::shared_ptr<Run> run, std::shared_ptr<Task> task) {
  const config::JobConfig& job = run->setup->job;
  if (job.claim_ahead.count() > 0 && task->attempt == 0) {
    const schedule::TimePoint not_before = NotBefore(run->fire);
    if (not_before > schedule::Clock::now()) {
      // Claimed ahead: waits without a thread, and starts with every task due at its instant.
      task->context_ahead = ContextOf(*run, task->claim.item);
      task->at_gate = true;
      gate_.Add(not_before, job.claim_ahead + job.jitter, run->setup->lane,
                [self = shared_from_this(), run, task]() mutable {
                  // Called once: whether to run it or not, the pointers are not needed again.
                  if (task->at_gate.exchange(false)) self->RunTask(std::move(run), std::move(task));
                });
      // Its claim lost meanwhile (CancelAllLocked raises claim_lost, then lowers at_gate): one
      // of the two sees the other, and the task starts now to give the claim up.
      if (!task->claim_lost || !task->at_gate.exchange(false)) return;
    }
  }
  StartNow(std::move(run), std::move(task));
}

void JobRuntime::StartNow(std::shared_ptr<Run> run, std::shared_ptr<Task> task) {
  run->setup->lane->Submit([self = shared_from_this(), run, task] { self->RunTask(run, task); });
}

void JobRuntime::RunTask(std::shared_ptr<Run> run, std::shared_ptr<Task> task) {
  const config::JobConfig& job = run->setup->job;
  const coordination::Claim& claim = task->claim;
  std::shared_ptr<spi::Cancellation> cancellation = task->cancellation;
  // A task claimed ahead waited for its instant in the StartGate (or was let go because its
  // claim was lost), and its context was built before it waited, off the path to Execute().
  const bool through_gate = task->context_ahead.has_value();
  spi::ShardingContext context =
      through_gate ? std::move(*task->context_ahead) : ContextOf(*run, claim.item);
  task->context_ahead.reset();
  // A failover's task of a fire claimed ahead elsewhere may come early, and so may one its lane
  // held from the gate's admission, just before the instant, until a slot freed: they wait
  // here, on the steady clock and at most claim_ahead + jitter, so a wall clock stepped back
  // meanwhile cannot hold the claim for the length of the step. A cancelled task does not wait.
  const bool may_be_early =
      through_gate ? schedule::Clock::now() < NotBefore(run->fire) : job.claim_ahead.count() > 0;
  if (may_be_early) {
    const auto wait = std::clamp<std::chrono::nanoseconds>(
        NotBefore(run->fire) - schedule::Clock::now(), std::chrono::nanoseconds(0),
        job.claim_ahead + job.jitter);
    const auto start = std::chrono::steady_clock::now() + wait;
    for (auto now = std::chrono::steady_clock::now(); now < start;
         now = std::chrono::steady_clock::now()) {
      // Rounded up to whole milliseconds, the cancellation's unit: never early.
      if (cancellation->WaitFor(std::chrono::ceil<std::chrono::milliseconds>(start - now))) break;
    }
  }
  std::string source_error;  // the shard source could not say what this item covers
  if (const auto& source = run->setup->plugins.shard_source) {
    std::vector<spi::ShardSpec> shards;
    if (!coordinator_->ShardsOf(*source, run->fire.fire_id, job.sharding_total_count, &shards,
                                &source_error)) {
      if (source_error.empty()) source_error = "the shard source failed";
    } else if (static_cast<std::size_t>(context.sharding_item) >= shards.size()) {
      // The item count shrank since the claim: this item is no longer part of the job.
      source_error = "item " + std::to_string(context.sharding_item) + " is beyond the " +
                     std::to_string(shards.size()) + " items of the fire";
    } else {
      const spi::ShardSpec& spec = shards[context.sharding_item];
      context.shard_label = spec.label;
      context.shard_params = spec.params;
      // The source may say this item needs fewer pages this fire: the others have nothing to do.
      if (spec.pages > 0) context.page_count = std::min(spec.pages, context.page_count);
    }
  }
  TaskCheckpoint checkpoint(*this, run->fire.fire_id, task);
  context.checkpoint = &checkpoint;
  context.fencing_token = claim.fencing_token;
  context.cancellation = cancellation.get();
  context.reassigned = task->reassigned.get();
  spi::TaskProgress progress;
  context.progress = &progress;

  // Built only for a tracer: in a burst of thousands of tasks, its strings cost the later ones.
  const bool traced = traces_.enabled();
  spi::ExecutionEvent event;
  if (traced) {
    event.id = RandomId();
    event.hostname = host_.name;
    event.ip = host_.ip;
    event.task_id = context.task_id;
    event.job_name = job_name_;
    event.source = run->source;
    event.sharding_item = claim.item;
    event.start_time_ms = EpochMs(schedule::NowMs());
    event.fire_id = run->fire.fire_id;
    event.instance_id = instance_id_;
    event.fencing_token = claim.fencing_token;
    traces_.Post(event);
  }

  if (job.timeout.count() > 0) {
    std::weak_ptr<Task> weak = task;
    timers_.PostAfter(job.timeout, [weak, cancellation, attempt = task->attempt.load()] {
      auto live = weak.lock();
      if (!live || live->attempt != attempt) return;  // that attempt is over
      live->timed_out = true;
      cancellation->Cancel();
    });
  }

  spi::Status status;
  std::optional<std::chrono::steady_clock::duration> ran_for;  // when the executor ran
  std::optional<std::chrono::system_clock::duration> lateness;
  const bool abandoned = run->abandoned;
  if (abandoned) {
    status = spi::Status::Failed("not run: an earlier error of this fire was escalated");
  } else if (cancellation->IsCancelled()) {
    status = spi::Status::Cancelled("not run: the fire was cancelled before this shard started");
  } else if (!source_error.empty()) {
    status = spi::Status::Failed("not run: " + source_error);
  } else if (context.page >= context.page_count) {
    // Committed as done, so that the fire's accounting stays whole: nothing was there to run.
    spdlog::debug("job={} fire={} shard={} page {} of item {}: the item needs {} page(s) this fire",
                  job_name_, context.fire_id, claim.item, context.page, context.sharding_item,
                  context.page_count);
    std::lock_guard<std::mutex> lock(mutex_);
    ++counters_.pages_not_needed;
  } else {
    std::optional<std::string> resumed = checkpoint.Load();
    if (spdlog::should_log(spdlog::level::info)) {  // its arguments cost even when not logged
      spdlog::info("job={} fire={} shard={}/{} instance={} token={} parameter={}{} started{}{}",
                   job_name_, context.fire_id, claim.item, context.shard_count, instance_id_,
                   claim.fencing_token, context.sharding_parameter.value_or(""),
                   context.shard_label.empty() ? "" : " label=" + context.shard_label,
                   task->attempt > 0 ? " (retry " + std::to_string(task->attempt.load()) + ")" : "",
                   resumed ? " from checkpoint " + *resumed : "");
    }
    if (resumed) {
      std::lock_guard<std::mutex> lock(mutex_);
      ++counters_.tasks_resumed;
    }
    // Lateness against the wall clock the schedule names; the run time on the monotonic one,
    // which a clock step cannot bend.
    if (run->source == spi::ExecutionSource::kNormalTrigger && task->attempt == 0) {
      lateness = std::chrono::system_clock::now() - run->fire.scheduled;
    }
    const auto started = std::chrono::steady_clock::now();
    status = run->setup->plugins.executor->Execute(run->setup->plugins.job_object.get(), context);
    ran_for = std::chrono::steady_clock::now() - started;
  }
  // Read once: the timeout's timer may still fire until EndTask ends the attempt.
  const bool timed_out = task->timed_out;
  if (timed_out && !task->claim_lost) {
    status = spi::Status::Failed("timed out after " + std::to_string(job.timeout.count()) +
                                 " ms (" + Describe(status) + ")");
  }
  auto end = std::make_shared<TaskEnd>();  // one block, handed on by pointer
  end->status = std::move(status);
  end->timed_out = timed_out;
  end->abandoned = abandoned;
  end->lateness = lateness;
  end->ran_for = ran_for;
  end->items_processed = progress.items_processed();
  if (traced) end->event = std::make_unique<spi::ExecutionEvent>(std::move(event));
  // It points into this frame and the attempt's flags: kept only for its strings to be freed.
  context.checkpoint = nullptr;
  context.progress = nullptr;
  context.cancellation = nullptr;
  context.reassigned = nullptr;
  end->context = std::move(context);
  if (pool_.StartsWaiting()) {
    // Tasks of a burst wait to start: this one's bookkeeping and commit wait behind them.
    pool_.Submit(
        [self = shared_from_this(), run = std::move(run), task = std::move(task),
         end = std::move(end)]() mutable { self->EndTask(std::move(run), std::move(task), *end); });
    return;
  }
  EndTask(std::move(run), std::move(task), *end);
}

void JobRuntime::EndTask(std::shared_ptr<Run> run, std::shared_ptr<Task> task, TaskEnd& end) {
  const config::JobConfig& job = run->setup->job;
  spi::Status& status = end.status;
  if (end.lateness) lateness_.Observe(std::chrono::duration<double>(*end.lateness).count());
  if (end.ran_for) {
    // After the timeout's verdict, so the histogram's outcome is the task's.
    (status.ok() ? succeeded_duration_ : failed_duration_)
        .Observe(std::chrono::duration<double>(*end.ran_for).count());
  }
  if (end.items_processed > 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    counters_.items_processed += end.items_processed;
  }
  if (end.event) {
    spi::ExecutionEvent& event = *end.event;
    event.complete_time_ms = EpochMs(schedule::NowMs());
    event.items_processed = end.items_processed;
    event.success = status.ok();
    if (!status.ok()) event.failure_cause = Describe(status);
    traces_.Post(std::move(event));
  }

  const bool retry =
      !status.ok() && !end.abandoned && !task->claim_lost && task->attempt < job.max_retries;
  if (retry) {
    task->attempt++;
    auto backoff = job.retry_backoff;
    for (int i = 1; i < task->attempt && backoff < job.retry_backoff_max; ++i) backoff *= 2;
    backoff = std::min(backoff, job.retry_backoff_max);
    spdlog::warn("job={} fire={} shard={} instance={} failed: {}; retry {} of {} in {} ms",
                 job_name_, run->fire.fire_id, task->claim.item, instance_id_, Describe(status),
                 task->attempt.load(), job.max_retries, backoff.count());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++counters_.task_retries;
      if (end.timed_out) ++counters_.tasks_timed_out;
      task->timed_out = false;
      task->cancellation = std::make_shared<spi::Cancellation>();
    }
    std::weak_ptr<JobRuntime> weak = shared_from_this();
    timers_.PostAfter(backoff, [weak, run, task] {
      if (auto self = weak.lock()) self->StartTask(run, task);
    });
    return;
  }
  FinishTask(std::move(run), std::move(task), std::move(status), end.timed_out);
}

void JobRuntime::FinishTask(std::shared_ptr<Run> run, std::shared_ptr<Task> task,
                            spi::Status status, bool timed_out) {
  coordination::Claim claim;
  {
    std::lock_guard<std::mutex> lock(task->claim_mutex);
    claim = task->claim;
  }
  const int item = claim.item;
  const bool abandoned = run->abandoned;
  if (status.ok()) {
    spdlog::info("job={} fire={} shard={} instance={} succeeded", job_name_, run->fire.fire_id,
                 item, instance_id_);
  } else {
    spdlog::error("job={} fire={} shard={} instance={} failed: {}", job_name_, run->fire.fire_id,
                  item, instance_id_, Describe(status));
    // A shard abandoned after an escalation is its consequence, not a new error to report; a
    // task whose claim is lost is not failed: it runs again elsewhere or later.
    if (!abandoned && !task->claim_lost && ReportError(*run, item, Describe(status))) {
      run->abandoned = true;
    }
  }
  bool last;
  bool pulls_waiting;
  Starts starts;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task->done = true;
    // A task its claim's loss stopped did not do its work: it is not committed, so it runs
    // again (failed over, or at the next fire): committed once, executed at least once.
    if (!status.ok() && task->claim_lost) {
      run->released.push_back(claim);
      ++counters_.tasks_released;
      run->failed.push_back(item);
      // The fire is owed again. If the release cannot reach the registry, the session may still
      // hold the claim when the shard's next fire comes, and that claim would supersede this
      // fire: the missed-fire check must count it as not dealt with, so it runs first.
      if (auto instant = InstantOf(run->fire)) {
        auto decided = last_decided_.find(item);
        if (decided != last_decided_.end() && decided->second >= *instant) {
          decided->second = *instant - 1;
        }
      }
    } else {
      run->uncommitted[item] = coordination::TaskOutcome{claim, status.ok()};
      finished_[item] = run;
      if (status.ok()) {
        ++counters_.tasks_succeeded;
        last_success_ms_[item] = EpochMs(schedule::NowMs());
        ++run->succeeded;
      } else {
        ++counters_.tasks_failed;
        if (timed_out) ++counters_.tasks_timed_out;
        run->failed.push_back(item);
      }
    }
    auto reserved = running_.find(item);
    if (reserved != running_.end() && reserved->second == run) running_.erase(reserved);
    --active_tasks_;
    // A pulled task counts in `remaining` until SettleTask has committed it.
    last = !run->pulls && --run->remaining == 0;
    if (!run->pulls && !last) StartWaitingLocked({item}, &starts);
    pulls_waiting = !pulling_.empty();
  }
  Launch(std::move(starts));
  if (run->pulls) {
    // Committed on the pool, off the path from this worker's task to its next one.
    pool_.Submit([self = shared_from_this(), run, item] { self->SettleTask(run, item); });
  }
  // A worker is free (whichever kind of run it served): a pulling run may claim its next shard.
  if (pulls_waiting) Pull();
  if (last) FinishRun(run);
}

void JobRuntime::SettleTask(const std::shared_ptr<Run>& run, int item) {
  std::vector<coordination::TaskOutcome> outcomes;
  std::vector<coordination::Claim> released;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto outcome = run->uncommitted.find(item);
    if (outcome != run->uncommitted.end()) {
      outcomes.push_back(outcome->second);
      run->uncommitted.erase(outcome);
      auto finished = finished_.find(item);
      if (finished != finished_.end() && finished->second == run) finished_.erase(finished);
      committing_.insert(item);
    }
    auto claim = std::find_if(run->released.begin(), run->released.end(),
                              [item](const coordination::Claim& c) { return c.item == item; });
    if (claim != run->released.end()) {
      released.push_back(*claim);
      run->released.erase(claim);
    }
  }
  coordination::CommitResult committed = coordinator_->Commit(run->fire.fire_id, outcomes);
  coordinator_->Release(released);
  CountCommit(committed);
  Starts starts;
  bool parked;
  bool last;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<int> freed = CommitEndedLocked(run, outcomes, committed);
    for (const auto& claim : released) freed.push_back(claim.item);
    run->failed.insert(run->failed.end(), committed.fenced.begin(), committed.fenced.end());
    run->failed.insert(run->failed.end(), committed.unknown.begin(), committed.unknown.end());
    run->committed +=
        static_cast<int>(outcomes.size() - committed.fenced.size() - committed.unknown.size());
    parked = !run->uncommitted.empty();
    StartWaitingLocked(freed, &starts);
    last = --run->remaining == 0 && run->pull_done;
  }
  Launch(std::move(starts));
  if (parked) ResolveUnknown(run, std::chrono::milliseconds(1000));
  if (last) FinishRun(run);
}

// ---- dynamic sharding ----

void JobRuntime::Pull() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (pull_running_) {
      pull_again_ = true;
      return;
    }
    pull_running_ = true;
  }
  for (;;) {
    std::optional<PullStep> step;
    std::vector<std::shared_ptr<Run>> ended;
    Starts starts;
    bool stop = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      step = NextPullLocked(&ended, &starts);
      if (!step && ended.empty() && starts.empty()) {
        if (pull_again_) {
          pull_again_ = false;
        } else {
          pull_running_ = false;
          stop = true;
        }
      }
    }
    Launch(std::move(starts));
    for (auto& run : ended) FinishRun(run);
    if (step) ClaimPulled(*step);
    if (stop) return;
  }
}

std::optional<JobRuntime::PullStep> JobRuntime::NextPullLocked(
    std::vector<std::shared_ptr<Run>>* ended, Starts* starts) {
  const auto workers = static_cast<std::size_t>(std::max(1, setup_->job.executor_threads));
  while (!pulling_.empty()) {
    std::shared_ptr<Run> run = pulling_.front();
    if (!accepting_ || run->abandoned) {
      // Left for the other instances and the shards' next fires (an escalated error abandons
      // what this instance has not started of the fire).
      std::vector<int> freed;
      for (int item : run->pending) {
        auto reserved = running_.find(item);
        if (reserved != running_.end() && reserved->second == run) running_.erase(reserved);
        freed.push_back(item);
      }
      run->pending.clear();
      run->steal_lists.clear();
      run->steal_lists_made = true;
      StartWaitingLocked(freed, starts);
    }
    const bool may_have_more =
        !run->pending.empty() || !run->steal_lists_made || !run->steal_lists.empty();
    if (may_have_more && active_tasks_ >= workers) return std::nullopt;
    if (!run->pending.empty()) {
      int item = run->pending.front();
      run->pending.pop_front();
      return PullStep{run, item, ""};
    }
    if (!run->steal_lists_made) MakeStealListsLocked(*run);
    while (!run->steal_lists.empty()) {
      std::size_t index = run->next_list++ % run->steal_lists.size();
      auto& [owner, items] = run->steal_lists[index];
      if (items.empty()) {
        run->steal_lists.erase(run->steal_lists.begin() + static_cast<std::ptrdiff_t>(index));
        continue;
      }
      int item = items.front();
      items.pop_front();
      if (!IdleLocked(item)) continue;  // it runs, waits or commits here: not the owner's to lose
      running_[item] = run;
      return PullStep{run, item, owner};
    }
    run->pull_done = true;
    pulling_.pop_front();
    if (run->remaining == 0) ended->push_back(run);
  }
  return std::nullopt;
}

void JobRuntime::MakeStealListsLocked(Run& run) {
  run.steal_lists_made = true;
  std::vector<std::pair<std::string, std::vector<int>>> others;
  for (auto& [owner, items] : coordinator_->Assignment()) {
    if (owner != instance_id_ && !items.empty()) others.emplace_back(owner, items);
  }
  // From the instance after this one, so that thieves begin on different lists; each list from
  // its tail, while its owner works from its head: they meet once.
  auto after_me = std::find_if(others.begin(), others.end(),
                               [this](const auto& other) { return other.first > instance_id_; });
  std::rotate(others.begin(), after_me, others.end());
  for (auto& [owner, items] : others) {
    run.steal_lists.emplace_back(owner, std::deque<int>(items.rbegin(), items.rend()));
  }
}

bool JobRuntime::BehindForSteal(const Run& run, int item) {
  // Read afresh (another instance committed it last): the claim that follows uses this read.
  if (std::optional<std::int64_t> sequence = TriggerSequenceOf(run.fire)) {
    // The owner may still have an earlier trigger of the shard to run, which this one's commit
    // would make look done: a shard is taken only once the trigger before this one (as this
    // instance was told of them; every instance is) is committed on it.
    std::optional<std::int64_t> previous;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto later = triggers_seen_.lower_bound(*sequence);
      if (later != triggers_seen_.begin()) previous = *std::prev(later);
    }
    if (!previous) return false;
    std::map<int, std::int64_t> done = coordinator_->TriggerWatermarks({item}, true);
    auto found = done.find(item);
    return found == done.end() || found->second < *previous;
  }
  auto instant = InstantOf(run.fire);
  const schedule::Schedule* schedule = run.setup->schedule.get();
  if (!instant || !schedule || schedule->CountsFromCompletion()) return false;
  std::map<int, std::int64_t> watermarks = coordinator_->ScheduledWatermarks({item}, true);
  auto done = watermarks.find(item);
  if (done == watermarks.end()) return true;  // unreadable: leave it to its owner
  auto next = schedule->NextAfter(schedule::TimePoint(std::chrono::milliseconds(done->second)));
  return next && EpochMs(*next) < *instant;
}

void JobRuntime::ClaimPulled(const PullStep& step) {
  const std::shared_ptr<Run>& run = step.run;
  const bool steal = !step.owner.empty();
  std::vector<coordination::Claim> claims;
  std::map<int, std::string> holders;
  std::uint64_t claims_lost_before;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    claims_lost_before = counters_.claims_lost;
  }
  if (!run->abandoned && !(steal && BehindForSteal(*run, step.item))) {
    claims = coordinator_->ClaimFire(run->fire.fire_id, std::vector<int>{step.item},
                                     /*failover=*/false, &holders);
  }
  std::shared_ptr<Task> task;
  bool first = false;
  Starts starts;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (claims.empty()) {
      auto reserved = running_.find(step.item);
      if (reserved != running_.end() && reserved->second == run) running_.erase(reserved);
      auto holder = holders.find(step.item);
      if (steal && holder != holders.end() && holder->second == step.owner) {
        // Its owner got here from the head of its list: the rest of the list is its own.
        for (auto& [owner, items] : run->steal_lists) {
          if (owner == step.owner) items.clear();
        }
      }
      StartWaitingLocked({step.item}, &starts);
    } else {
      task = std::make_shared<Task>();
      task->claim = claims.front();
      if (counters_.claims_lost != claims_lost_before || !accepting_) {
        // Claimed while the claims were being given up, or shutdown began: released unrun.
        task->claim_lost = true;
        task->cancellation->Cancel();
      }
      run->tasks[step.item] = task;
      run->claims.push_back(claims.front());
      ++run->remaining;
      ++active_tasks_;
      if (steal) ++counters_.tasks_stolen;
      DecidedLocked(step.item, run->fire);
      CountFireLocked(*run);
      first = !run->listeners_called;
      run->listeners_called = true;
    }
  }
  Launch(std::move(starts));
  if (!task) return;
  if (steal) {
    spdlog::info("job={} fire={} shard={} instance={} taken from {}'s list (dynamic sharding)",
                 job_name_, run->fire.fire_id, step.item, instance_id_, step.owner);
  }
  if (first) BeforeFire(*run, {step.item});
  StartTask(run, task);
}

void JobRuntime::FinishRun(std::shared_ptr<Run> run) {
  std::vector<coordination::TaskOutcome> outcomes;
  std::vector<coordination::Claim> released;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [item, outcome] : run->uncommitted) {
      outcomes.push_back(outcome);
      auto finished = finished_.find(item);
      if (finished != finished_.end() && finished->second == run) finished_.erase(finished);
      committing_.insert(item);
    }
    run->uncommitted.clear();
    released = run->released;
  }
  coordination::CommitResult committed = coordinator_->Commit(run->fire.fire_id, outcomes);
  coordinator_->Release(released);
  CountCommit(committed);
  std::vector<int> failed = run->failed;
  failed.insert(failed.end(), committed.fenced.begin(), committed.fenced.end());
  failed.insert(failed.end(), committed.unknown.begin(), committed.unknown.end());
  std::sort(failed.begin(), failed.end());
  failed.erase(std::unique(failed.begin(), failed.end()), failed.end());
  if (!run->claims.empty()) {
    spi::FireInfo info{job_name_, run->fire.fire_id, instance_id_, ItemsOf(run->claims)};
    int committed_here =
        run->committed +
        static_cast<int>(outcomes.size() - committed.fenced.size() - committed.unknown.size());
    bool completes_fire = HasClusterOnceListener(*run->setup) &&
                          coordinator_->EndFireOnce(run->fire.fire_id, committed_here);
    for (const auto& listener : run->setup->plugins.listeners) {
      if (listener->ClusterOnce() && !completes_fire) continue;
      listener->AfterFire(info, failed);
    }
  }
  if (failed.empty()) {
    PostStatus(*run, spi::TaskState::kFinished, "");
  } else {
    PostStatus(*run, spi::TaskState::kError, std::to_string(failed.size()) + " shard(s) failed");
  }

  Starts starts;
  bool idle;
  bool parked;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<int> freed = CommitEndedLocked(run, outcomes, committed);
    parked = !run->uncommitted.empty();
    for (const auto& claim : released) freed.push_back(claim.item);
    runs_.erase(run);
    StartWaitingLocked(freed, &starts);
    idle = runs_.empty();
  }
  // The registry did not say whether these landed: they are committed again (same session, same
  // guard) by the shard's next fire, or by a retry, whichever comes first (T21).
  if (parked) ResolveUnknown(run, std::chrono::milliseconds(1000));
  if (idle) idle_.notify_all();
  if (on_fire_end_) on_fire_end_(schedule::NowMs());
  // Through the pool, not a call: a long queue of fires with nothing to claim must not nest.
  Launch(std::move(starts));
}

std::vector<int> JobRuntime::CommitEndedLocked(
    const std::shared_ptr<Run>& run, const std::vector<coordination::TaskOutcome>& outcomes,
    const coordination::CommitResult& committed) {
  std::vector<int> freed;
  for (const auto& outcome : outcomes) {
    committing_.erase(outcome.claim.item);
    freed.push_back(outcome.claim.item);
  }
  ParkUnknownLocked(run, outcomes, committed.unknown);
  return freed;
}

void JobRuntime::ParkUnknownLocked(const std::shared_ptr<Run>& run,
                                   const std::vector<coordination::TaskOutcome>& outcomes,
                                   const std::vector<int>& unknown) {
  for (const auto& outcome : outcomes) {
    int item = outcome.claim.item;
    if (std::find(unknown.begin(), unknown.end(), item) == unknown.end()) continue;
    if (running_.count(item) || finished_.count(item)) continue;  // a newer run has the item
    run->uncommitted[item] = outcome;
    finished_[item] = run;
  }
}

void JobRuntime::ResolveUnknown(std::shared_ptr<Run> run, std::chrono::milliseconds delay) {
  if (delay.count() > 0) {
    std::weak_ptr<JobRuntime> weak = shared_from_this();
    timers_.PostAfter(delay, [weak, run, delay] {
      if (auto self = weak.lock()) {
        self->pool_.Submit(
            [self, run, delay] { self->ResolveUnknown(run, std::chrono::milliseconds(0)); });
      }
    });
    return;
  }
  std::vector<coordination::TaskOutcome> outcomes;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!accepting_) return;  // at shutdown the session ends: the shards fail over
    for (auto it = run->uncommitted.begin(); it != run->uncommitted.end();) {
      auto finished = finished_.find(it->first);
      if (finished == finished_.end() || finished->second != run) {
        ++it;
        continue;
      }
      finished_.erase(finished);
      committing_.insert(it->first);
      outcomes.push_back(it->second);
      it = run->uncommitted.erase(it);
    }
  }
  if (outcomes.empty()) return;
  coordination::CommitResult committed = coordinator_->Commit(run->fire.fire_id, outcomes);
  CountCommit(committed);
  Starts starts;
  bool parked;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<int> freed = CommitEndedLocked(run, outcomes, committed);
    parked = !run->uncommitted.empty();
    StartWaitingLocked(freed, &starts);
  }
  Launch(std::move(starts));
  if (parked) ResolveUnknown(run, std::chrono::milliseconds(1000));
}

// ---- missed fires ----

void JobRuntime::CatchUp(std::vector<int> items) {
  std::lock_guard<std::mutex> lock(mutex_);
  CatchUpLocked(items);
}

void JobRuntime::CatchUpLocked(const std::vector<int>& items) {
  if (!accepting_ || !setup_->schedule || setup_->schedule->CountsFromCompletion()) return;
  std::vector<int> fresh;
  auto now = std::chrono::steady_clock::now();
  auto start_after = std::chrono::milliseconds(0);
  for (int item : items) {
    if (!catching_up_.insert(item).second) continue;  // one is on its way
    fresh.push_back(item);
    auto last = last_catch_up_.find(item);
    if (last != last_catch_up_.end() && now - last->second < kCatchUpSpacing) {
      start_after = kCatchUpSpacing;
    }
    last_catch_up_[item] = now;
  }
  if (fresh.empty()) return;
  std::weak_ptr<JobRuntime> weak = shared_from_this();
  auto run = [weak, fresh] {
    if (auto self = weak.lock()) self->RunCatchUp(fresh);
  };
  if (start_after.count() > 0) {
    timers_.PostAfter(start_after, [this, weak, run] {
      if (auto self = weak.lock()) pool_.Submit(run);
    });
  } else {
    pool_.Submit(run);
  }
}

std::vector<std::int64_t> JobRuntime::InstantsBetween(const schedule::Schedule& schedule,
                                                      std::int64_t after, std::int64_t until,
                                                      std::size_t limit) const {
  std::vector<std::int64_t> instants;
  schedule::TimePoint cursor{std::chrono::milliseconds(after)};
  while (instants.size() < limit) {
    auto next = schedule.NextAfter(cursor);
    if (!next || EpochMs(*next) > until) break;
    instants.push_back(EpochMs(*next));
    cursor = *next;
  }
  return instants;
}

void JobRuntime::RunCatchUp(std::vector<int> items) {
  std::shared_ptr<const Setup> setup;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    setup = setup_;
  }
  const config::JobConfig& job = setup->job;
  if (clock_ && clock_->Step().count() != 0) {
    // Now is not to be trusted: the next scheduled fire after the clock is settled finds these
    // shards behind and catches up then.
    Starts starts;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (int item : items) catching_up_.erase(item);
      StartWaitingLocked(items, &starts);
    }
    Launch(std::move(starts));
    return;
  }
  // Every instant up to now that the shard has not committed is missed. One the timer is firing
  // at this moment may be among them: whichever claims it second finds it done.
  std::int64_t now = EpochMs(schedule::NowMs());
  std::map<int, std::int64_t> watermarks = coordinator_->ScheduledWatermarks(items, true);
  std::int64_t window_start = now - job.misfire_window.count();
  std::map<std::int64_t, std::vector<int>> to_run;  // instant -> items
  std::map<int, std::int64_t> dropped_through;      // item -> newest instant skipped/coalesced
  std::uint64_t missed = 0, skipped = 0, coalesced = 0;
  for (const auto& [item, done] : watermarks) {
    // Looked at from the window's start: anything older is skipped, whatever the policy.
    std::int64_t from = std::max(done, window_start);
    std::vector<std::int64_t> instants =
        InstantsBetween(*setup->schedule, from, now, kMaxCatchUpInstants);
    std::vector<std::int64_t> too_old = InstantsBetween(*setup->schedule, done, from, 1000);
    missed += instants.size() + too_old.size();
    skipped += too_old.size();
    if (!too_old.empty()) dropped_through[item] = too_old.back();
    if (instants.empty()) continue;
    switch (job.misfire_policy) {
      case MisfirePolicy::kRunAll:
        for (std::int64_t instant : instants) to_run[instant].push_back(item);
        break;
      case MisfirePolicy::kRunOnce:
        coalesced += instants.size() - 1;
        if (instants.size() > 1) dropped_through[item] = instants[instants.size() - 2];
        to_run[instants.back()].push_back(item);
        break;
      case MisfirePolicy::kSkip:
        skipped += instants.size();
        dropped_through[item] = instants.back();
        break;
    }
  }
  if (missed > 0) {
    spdlog::warn(
        "job={} instance={} shards {} missed {} fire(s) nobody ran in time; misfire_policy {}: "
        "{} to run, {} coalesced, {} skipped (misfire_window {} ms)",
        job_name_, instance_id_, ItemList(items), missed,
        config::MisfirePolicyName(job.misfire_policy), missed - skipped - coalesced, coalesced,
        skipped, job.misfire_window.count());
    schedule::Fire summary{job_name_, schedule::NowMs(), "catch-up"};
    if (skipped + coalesced > 0) {
      PostDropped(summary, items,
                  std::to_string(skipped) + " missed fire(s) skipped and " +
                      std::to_string(coalesced) + " coalesced (misfire_policy " +
                      config::MisfirePolicyName(job.misfire_policy) + ")");
    }
  }
  Starts starts;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    counters_.missed_tasks += missed;
    counters_.skipped_tasks += skipped;
    counters_.coalesced_tasks += coalesced;
    // What the policy dropped is dealt with: the missed-fire check counts from there.
    for (const auto& [item, instant] : dropped_through) {
      std::int64_t& decided = last_decided_[item];
      decided = std::max(decided, instant);
    }
    // Missed fires wait in instant order with what already waits; a fire that is already
    // running or waiting here was not missed.
    for (auto it = to_run.begin(); it != to_run.end(); ++it) {
      schedule::TimePoint instant{std::chrono::milliseconds(it->first)};
      schedule::Fire fire{job_name_, instant, std::to_string(it->first)};
      for (int item : it->second) {
        if (HereLocked(item, fire.fire_id)) continue;
        InsertWaitingLocked(item, Waiting{fire, spi::ExecutionSource::kMisfire});
      }
    }
    for (int item : items) catching_up_.erase(item);
    StartWaitingLocked(items, &starts);
  }
  Launch(std::move(starts));
}

void JobRuntime::StartWatchdog() {
  std::chrono::milliseconds period;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const Setup& setup = *setup_;
    if (!accepting_ || !setup.schedule || setup.schedule->CountsFromCompletion() ||
        setup.job.watchdog_tolerance.count() <= 0) {
      return;
    }
    period = std::max(setup.job.watchdog_tolerance / 2, std::chrono::milliseconds(100));
    if (!watchdog_checked_) watchdog_checked_ = EpochMs(schedule::NowMs());
  }
  std::weak_ptr<JobRuntime> weak = shared_from_this();
  timers_.PostAfter(period, [weak] {
    if (auto self = weak.lock()) self->CheckWatchdog();
  });
}

void JobRuntime::CheckWatchdog() {
  std::vector<std::int64_t> late;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!accepting_) return;
    const Setup& setup = *setup_;
    if (setup.schedule && !setup.schedule->CountsFromCompletion() &&
        setup.job.watchdog_tolerance.count() > 0) {
      // Instants that should have arrived by now, less the tolerance, and did not.
      std::int64_t judged_until = EpochMs(schedule::NowMs()) - setup.job.watchdog_tolerance.count();
      std::int64_t from =
          std::max(watchdog_checked_.value_or(judged_until), last_scheduled_.value_or(0));
      late = InstantsBetween(*setup.schedule, from, judged_until, 1000);
      watchdog_checked_ = std::max(from, judged_until);
      counters_.missed_fires += late.size();
    }
  }
  if (!late.empty()) {
    spdlog::error(
        "job={} instance={} missed-fire watchdog: {} scheduled fire(s) did not start within the "
        "tolerance (first {}); the timer is late or stopped",
        job_name_, instance_id_, late.size(), late.front());
  }
  StartWatchdog();
}

void JobRuntime::RefuseForClockStep(const schedule::Fire& fire, std::chrono::milliseconds step) {
  bool verify = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++counters_.clock_refused_fires;
    if (!clock_check_pending_ && accepting_) verify = clock_check_pending_ = true;
  }
  spdlog::error(
      "job={} fire={} instance={} refused: the wall clock stepped by {} ms while running; "
      "scheduled fires wait until it is back, or the registry's clock agrees with it",
      job_name_, fire.fire_id, instance_id_, step.count());
  if (verify) pool_.Submit([self = shared_from_this()] { self->VerifyClock(); });
}

void JobRuntime::VerifyClock() {
  config::JobConfig job = config();
  std::chrono::milliseconds allowed =
      std::max(std::chrono::milliseconds(1000),
               std::chrono::milliseconds(std::max(job.max_time_diff_seconds, 0) * 1000LL));
  std::string error;
  std::optional<std::chrono::milliseconds> skew = coordinator_->RegistryClockSkew(&error);
  if (skew) {
    // The skew was taken with the system clock; the watched clock is that one outside tests.
    *skew += clock_->WallNow() - std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch());
  }
  if (!skew) {
    spdlog::error("job={} instance={} cannot compare the clock with the registry's: {}", job_name_,
                  instance_id_, error);
  } else if (std::chrono::abs(*skew) <= allowed) {
    clock_->Accept();
    spdlog::warn(
        "job={} instance={} the registry's clock agrees with the stepped wall clock "
        "(within {} ms): following it",
        job_name_, instance_id_, skew->count());
  } else {
    spdlog::error(
        "job={} instance={} this host's clock differs from the registry's by {} ms: "
        "scheduled fires stay refused until it is fixed",
        job_name_, instance_id_, skew->count());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  clock_check_pending_ = false;
}

// ---- reporting ----

bool JobRuntime::ReportError(const Run& run, int item, const std::string& message) {
  spi::JobError error{job_name_, run.fire.fire_id, item, instance_id_, message};
  spi::Status status = run.setup->plugins.error_handler->Handle(error);
  if (status.ok()) return false;
  spdlog::error(
      "job={} fire={} instance={} error handler {} escalated: {}; the fire's remaining "
      "shards on this instance are abandoned",
      job_name_, run.fire.fire_id, instance_id_, run.setup->job.error_handler, Describe(status));
  return true;
}

void JobRuntime::PostStatus(const Run& run, spi::TaskState state, const std::string& message) {
  spi::StatusEvent event;
  event.id = RandomId();
  event.job_name = job_name_;
  event.task_id = run.task_id;
  event.fire_id = run.fire.fire_id;
  event.slave_id = instance_id_;
  event.sharding_items = ItemList(ItemsOf(run.claims));
  event.state = state;
  event.message = message;
  event.creation_time_ms = EpochMs(schedule::NowMs());
  traces_.Post(std::move(event));
}

void JobRuntime::PostDropped(const schedule::Fire& fire, const std::vector<int>& items,
                             const std::string& why) {
  spi::StatusEvent event;
  event.id = RandomId();
  event.job_name = job_name_;
  event.task_id = job_name_ + "@-@" + fire.fire_id + "@-@" + instance_id_;
  event.fire_id = fire.fire_id;
  event.slave_id = instance_id_;
  event.sharding_items = ItemList(items);
  event.state = spi::TaskState::kDropped;
  event.message = why;
  event.creation_time_ms = EpochMs(schedule::NowMs());
  traces_.Post(std::move(event));
}

// ---- claims lost, shutdown ----

void JobRuntime::OnItemsLost(const std::vector<int>& items) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& run : runs_) {
    for (auto& [item, task] : run->tasks) {
      if (task->done || std::find(items.begin(), items.end(), item) == items.end()) continue;
      task->reassigned->Cancel();
    }
  }
}

void JobRuntime::OnClaimsLost() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++counters_.claims_lost;
  CancelAllLocked();
}

void JobRuntime::CancelAllLocked() {
  for (const auto& run : runs_) {
    for (auto& [item, task] : run->tasks) {
      if (task->done) continue;
      task->claim_lost = true;
      task->cancellation->Cancel();
      // A task waiting for its instant starts now, to see the flag and give its claim up.
      if (task->at_gate.exchange(false)) StartNow(run, task);
    }
  }
}

void JobRuntime::StopAccepting() {
  std::lock_guard<std::mutex> lock(mutex_);
  accepting_ = false;
  std::size_t waiting = 0;
  for (const auto& [item, queue] : waiting_) waiting += queue.size();
  if (waiting > 0) {
    // Not run here; their claims were never made, so the shards stay claimable by the instances
    // that take them over (which find the missed fires from the shards' watermarks).
    spdlog::warn("job={} instance={} stopping with {} waiting task(s) not run", job_name_,
                 instance_id_, waiting);
  }
  waiting_.clear();
  // Runs still pulling give their unclaimed shards up and end once their tasks have.
  if (!pulling_.empty()) pool_.Submit([self = shared_from_this()] { self->Pull(); });
}

bool JobRuntime::WaitIdle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  return idle_.wait_until(lock, deadline, [this] { return runs_.empty(); });
}

void JobRuntime::CancelRunning() {
  std::lock_guard<std::mutex> lock(mutex_);
  CancelAllLocked();
}

JobCounters JobRuntime::Counters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counters_;
}

JobTimings JobRuntime::Timings() const {
  JobTimings timings;
  timings.lateness = lateness_.Read();
  timings.succeeded_duration = succeeded_duration_.Read();
  timings.failed_duration = failed_duration_.Read();
  std::lock_guard<std::mutex> lock(mutex_);
  timings.last_success_ms = last_success_ms_;
  return timings;
}

}  // namespace shardjob::execution
