#include "coordination/job_coordinator.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include <spdlog/spdlog.h>

#include "coordination/registry_json.h"

namespace shardjob::coordination {

using registry::Code;
using registry::NodeMode;
using registry::Op;

JobEvents::~JobEvents() = default;
void JobEvents::OnItemsGained(const std::vector<int>&) {}
void JobEvents::OnItemsLost(const std::vector<int>&) {}
void JobEvents::OnConfigDeleted() {}

JobCoordinator::JobCoordinator(registry::Registry& registry, EventLoop& loop, std::string root,
                               const config::JobConfig& job,
                               std::shared_ptr<spi::ShardingStrategy> strategy,
                               std::string instance_id, JobEvents* events,
                               CoordinatorOptions options)
    : registry_(registry),
      loop_(loop),
      root_(std::move(root)),
      job_name_(job.name),
      instance_id_(std::move(instance_id)),
      events_(events),
      options_(options),
      ledger_(registry, root_ + "/jobs/" + job.name, job.name, instance_id_),
      plans_(registry, root_ + "/jobs/" + job.name, job.name),
      job_(job),
      strategy_(std::move(strategy)),
      config_seen_(options.config_in_registry) {}

config::JobConfig JobCoordinator::Job() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return job_;
}

void JobCoordinator::Start() {
  config::JobConfig job = Job();
  for (const char* child : {"/instances", "/leader", "/shards", "/triggers"}) {
    Code code = registry::EnsurePath(registry_, JobPath() + child);
    if (code != Code::kOk) {
      throw CoordinationError("job '" + job_name_ + "': cannot create " + JobPath() + child +
                              " in the registry: " + Describe(code));
    }
  }
  Code code = ledger_.CreateStates(job.ShardCount());
  if (code != Code::kOk) {
    throw CoordinationError("job '" + job_name_ +
                            "': cannot create its shard states: " + Describe(code));
  }
  CheckClock();
  std::weak_ptr<JobCoordinator> weak = weak_from_this();
  registry_.AddSessionListener([weak, loop = &loop_](registry::SessionState state) {
    auto self = weak.lock();
    if (!self) return;
    // Only a live session has an id worth reading: a closed one may be gone already.
    std::int64_t session =
        state == registry::SessionState::kConnected ? self->registry_.SessionId() : 0;
    if (state == registry::SessionState::kExpired || state == registry::SessionState::kClosed) {
      // Said at once, not on the loop: from now on this instance leads nothing.
      std::lock_guard<std::mutex> lock(self->mutex_);
      self->leader_ = false;
      self->connected_ = false;
    }
    loop->Post([weak, state, session] {
      if (auto live = weak.lock()) {
        std::lock_guard<std::mutex> steps(live->steps_mutex_);
        live->OnSessionState(state, session);
      }
    });
  });
  std::lock_guard<std::mutex> steps(steps_mutex_);
  Register();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    started_ = true;
  }
  if (job.reconcile_interval_minutes > 0) {
    PostStep(&JobCoordinator::Reconcile, std::chrono::minutes(job.reconcile_interval_minutes));
  }
}

std::optional<std::chrono::milliseconds> JobCoordinator::RegistryClockSkew(std::string* error) {
  // The registry stamps a write with its own clock: compare with ours around the round trip.
  auto before = std::chrono::system_clock::now();
  registry::Stat stat;
  std::string path = root_ + "/clock";
  Code code = registry_.Set(path, "", registry::kAnyVersion, &stat);
  if (code == Code::kNoNode) {
    registry_.Create(path, "", NodeMode::kPersistent, nullptr);
    code = registry_.Set(path, "", registry::kAnyVersion, &stat);
  }
  auto after = std::chrono::system_clock::now();
  if (code != Code::kOk) {
    if (error != nullptr) *error = Describe(code);
    return std::nullopt;
  }
  auto local = std::chrono::duration_cast<std::chrono::milliseconds>(
      (before.time_since_epoch() + after.time_since_epoch()) / 2);
  return local - std::chrono::milliseconds(stat.mtime_ms);
}

void JobCoordinator::CheckClock() {
  config::JobConfig job = Job();
  if (job.max_time_diff_seconds < 0) return;
  std::string error;
  std::optional<std::chrono::milliseconds> skew = RegistryClockSkew(&error);
  if (!skew) {
    throw CoordinationError("job '" + job_name_ + "': cannot read the registry's clock: " + error);
  }
  long long diff_ms = std::llabs(skew->count());
  if (diff_ms > job.max_time_diff_seconds * 1000LL) {
    throw CoordinationError("job '" + job_name_ +
                            "': this host's clock differs from the "
                            "registry's by " +
                            std::to_string(diff_ms) + " ms, more than max_time_diff_seconds=" +
                            std::to_string(job.max_time_diff_seconds) +
                            "; fix the clock (NTP) or raise the limit");
  }
}

std::string JobCoordinator::RegistrationData(const config::JobConfig& job) {
  Json me = {
      {"pid", static_cast<long>(getpid())}, {"disabled", job.disabled}, {"label", job.label}};
  return me.dump();
}

void JobCoordinator::Register() {
  // Triggers first: the ones listed now are older than this registration (for the instances
  // alive then); any trigger written once this instance can hold shards comes after the list.
  RefreshTriggers();
  std::int64_t session = registry_.SessionId();
  std::string path = JobPath() + "/instances/" + instance_id_;
  Code code = registry_.Create(path, RegistrationData(Job()), NodeMode::kEphemeral, nullptr);
  if (code == Code::kNodeExists) {
    registry::Stat stat;
    // Our own node from this same session (a rejoin that raced an earlier one) is fine.
    if (registry_.Exists(path, &stat, nullptr) == Code::kOk && stat.ephemeral_owner == session) {
      code = Code::kOk;
    }
  }
  if (code == Code::kNoNode && ConfigDeleted()) return;
  if (code != Code::kOk) {
    throw CoordinationError(
        "job '" + job_name_ + "': cannot register instance '" + instance_id_ +
        "': " + Describe(code) +
        (code == Code::kNodeExists ? " (another live process uses this instance id)" : ""));
  }
  std::string candidate = OwnCandidate(session);
  if (candidate.empty()) {
    code = registry_.Create(JobPath() + "/leader/candidate-", instance_id_,
                            NodeMode::kEphemeralSequential, &candidate);
    if (code == Code::kNoNode && ConfigDeleted()) return;
    if (code != Code::kOk) {
      throw CoordinationError("job '" + job_name_ +
                              "': cannot join the leader election: " + Describe(code));
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    candidate_path_ = candidate;
    registered_session_ = session;
    connected_ = true;
  }
  RefreshConfig();
  RefreshNextInstance();
  RefreshInstances();
  Elect();
  RefreshAssignment();
}

std::string JobCoordinator::OwnCandidate(std::int64_t session) {
  // A candidate this session already created (an earlier try whose reply was lost) must be
  // reused: a second one would sit after the first, watching it for ever, and nobody would lead.
  std::vector<std::string> candidates;
  if (registry_.GetChildren(JobPath() + "/leader", &candidates, nullptr) != Code::kOk) return "";
  for (const std::string& name : candidates) {
    std::string path = JobPath() + "/leader/" + name;
    std::string data;
    registry::Stat stat;
    if (registry_.Get(path, &data, &stat, nullptr) == Code::kOk && data == instance_id_ &&
        stat.ephemeral_owner == session) {
      return path;
    }
  }
  return "";
}

void JobCoordinator::Stop() {
  std::lock_guard<std::mutex> steps(steps_mutex_);  // waits for a step that runs now
  std::string candidate;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    leader_ = false;
    candidate = candidate_path_;
  }
  // If the registry cannot be reached, the session's expiry removes both nodes all the same.
  for (const std::string& path : {JobPath() + "/instances/" + instance_id_, candidate}) {
    if (path.empty()) continue;
    Code code = registry_.Delete(path, registry::kAnyVersion);
    if (code != Code::kOk && code != Code::kNoNode) {
      spdlog::warn("job={} instance={} could not deregister {}: {}", job_name_, instance_id_, path,
                   Describe(code));
    }
  }
}

std::function<void()> JobCoordinator::StepTask(void (JobCoordinator::*step)()) {
  std::weak_ptr<JobCoordinator> weak = weak_from_this();
  return [weak, step] {
    auto self = weak.lock();
    if (!self) return;
    std::lock_guard<std::mutex> steps(self->steps_mutex_);
    {
      std::lock_guard<std::mutex> lock(self->mutex_);
      // A deleted job's folder is being removed: no step may write into it again.
      if (self->stopped_ || self->config_deleted_) return;
    }
    ((*self).*step)();
  };
}

void JobCoordinator::PostStep(void (JobCoordinator::*step)(), std::chrono::milliseconds delay) {
  if (delay.count() > 0) {
    loop_.PostAfter(delay, StepTask(step));
  } else {
    loop_.Post(StepTask(step));
  }
}

registry::Watcher JobCoordinator::PostToLoop(void (JobCoordinator::*step)()) {
  std::weak_ptr<JobCoordinator> weak = weak_from_this();
  // Captures no `this`: a watch may fire after the coordinator is gone.
  return [weak, step](const registry::WatchEvent&) {
    auto self = weak.lock();
    if (!self) return;
    // Posting under mutex_ means that once Stop() has returned no watch posts to the loop, so the
    // loop may be destroyed right after Stop() while the registry still delivers watches.
    std::lock_guard<std::mutex> lock(self->mutex_);
    if (self->stopped_) return;
    self->loop_.Post(self->StepTask(step));
  };
}

void JobCoordinator::OnSessionState(registry::SessionState state, std::int64_t session_id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_ || !started_) return;
    // A deleted job rejoins nothing; losing its claims still cancels what runs.
    if (config_deleted_ && state == registry::SessionState::kConnected) return;
  }
  switch (state) {
    case registry::SessionState::kConnecting: {
      spdlog::warn(
          "job={} instance={} lost the registry connection; no new claims until it is "
          "back",
          job_name_, instance_id_);
      std::lock_guard<std::mutex> lock(mutex_);  // see PostToLoop: no post once stopped
      if (stopped_) return;
      connected_ = false;
      report_all_gained_ = true;  // after the outage every local item may have missed fires
      std::uint64_t epoch = ++disconnect_epoch_;
      std::weak_ptr<JobCoordinator> weak = weak_from_this();
      loop_.PostAfter(options_.session_timeout, [weak, epoch] {
        if (auto self = weak.lock()) {
          std::lock_guard<std::mutex> steps(self->steps_mutex_);
          self->CheckDisconnected(epoch);
        }
      });
      break;
    }
    case registry::SessionState::kExpired:
    case registry::SessionState::kClosed:
      spdlog::error(
          "job={} instance={} registry session {}: its claims are lost; running tasks "
          "are cancelled",
          job_name_, instance_id_, registry::SessionStateName(state));
      ledger_.Forget();
      if (events_) events_->OnClaimsLost();
      break;
    case registry::SessionState::kConnected: {
      bool same_session;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        same_session = session_id == registered_session_;
        connected_ = true;
        ++disconnect_epoch_;
      }
      if (same_session) {
        spdlog::info("job={} instance={} registry connection back, same session", job_name_,
                     instance_id_);
        // The ephemerals survived, but leadership was given up when the session timeout passed
        // without contact (take it back if the candidate node is still first), and a step that
        // failed while the connection was down did not re-arm its watch: re-read everything.
        RefreshConfig();
        RefreshTriggers();
        RefreshNextInstance();
        RefreshInstances();
        Elect();
        RefreshAssignment();
        return;
      }
      spdlog::warn("job={} instance={} new registry session: registering again", job_name_,
                   instance_id_);
      ledger_.Forget();
      try {
        CheckClock();
        Register();
      } catch (const CoordinationError& e) {
        spdlog::error("{}; will retry", e.what());
        std::weak_ptr<JobCoordinator> weak = weak_from_this();
        loop_.PostAfter(std::chrono::seconds(1), [weak, session_id] {
          auto self = weak.lock();
          // A retry for a session that is gone since is moot: the new one has its own.
          if (!self || self->registry_.SessionId() != session_id) return;
          std::lock_guard<std::mutex> steps(self->steps_mutex_);
          self->OnSessionState(registry::SessionState::kConnected, session_id);
        });
      }
      break;
    }
  }
}

void JobCoordinator::CheckDisconnected(std::uint64_t disconnect_epoch) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_ || connected_ || disconnect_epoch != disconnect_epoch_) return;
    leader_ = false;
  }
  spdlog::error(
      "job={} instance={} no registry contact for the session timeout ({} ms): its "
      "claims are presumed lost; running tasks are cancelled",
      job_name_, instance_id_, options_.session_timeout.count());
  if (events_) events_->OnClaimsLost();
}

void JobCoordinator::Elect() {
  std::string candidate;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    candidate = candidate_path_;
  }
  std::string mine = candidate.substr(candidate.rfind('/') + 1);
  // Bounded: each pass either decides or finds a predecessor that vanished in between.
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::vector<std::string> candidates;
    Code code = registry_.GetChildren(JobPath() + "/leader", &candidates, nullptr);
    if (code != Code::kOk) {
      spdlog::error("job={} election: cannot list candidates: {}", job_name_, Describe(code));
      return;
    }
    std::sort(candidates.begin(), candidates.end());
    auto position = std::find(candidates.begin(), candidates.end(), mine);
    if (position == candidates.end()) {
      spdlog::error("job={} election: own candidate {} is gone", job_name_, mine);
      return;
    }
    if (position == candidates.begin()) {
      bool was_leader;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        was_leader = leader_;
        leader_ = true;
      }
      if (!was_leader) spdlog::info("job={} instance={} is the leader", job_name_, instance_id_);
      RefreshDisabled();
      Reshard();
      return;
    }
    // Watch only the predecessor: when it goes, only this candidate wakes.
    std::string predecessor = JobPath() + "/leader/" + *(position - 1);
    code = registry_.Exists(predecessor, nullptr, PostToLoop(&JobCoordinator::Elect));
    if (code == Code::kOk) return;
    if (code != Code::kNoNode) {
      spdlog::error("job={} election: cannot watch {}: {}", job_name_, predecessor, Describe(code));
      return;
    }
  }
  spdlog::error("job={} election did not settle after 100 rounds", job_name_);
}

void JobCoordinator::RefreshInstances() {
  std::vector<std::string> children;
  Code code = registry_.GetChildren(JobPath() + "/instances", &children,
                                    PostToLoop(&JobCoordinator::RefreshInstances));
  if (code != Code::kOk) {
    spdlog::error("job={} cannot list instances: {}", job_name_, Describe(code));
    return;
  }
  std::vector<std::string> enabled;
  for (const std::string& id : children) {
    std::string data;
    if (registry_.Get(JobPath() + "/instances/" + id, &data, nullptr, nullptr) != Code::kOk) {
      continue;  // gone since the listing
    }
    // Only an explicit `"disabled": true` disables: other writers' data must not throw here.
    Json disabled = ParseObject(data)["disabled"];
    if (!(disabled.is_boolean() && disabled.get<bool>())) enabled.push_back(id);
  }
  bool leader;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    live_instances_ = std::move(enabled);
    leader = leader_;
  }
  if (leader) Reshard();
}

std::vector<Claim> JobCoordinator::ClaimFire(const std::string& fire_id,
                                             const std::optional<std::vector<int>>& items,
                                             bool failover, std::map<int, std::string>* holders) {
  if (!IsConnected()) {
    spdlog::warn("job={} fire={} instance={} not claimed: the registry is unreachable", job_name_,
                 fire_id, instance_id_);
    return {};
  }
  return ledger_.ClaimFire(fire_id, items ? *items : LocalItems(), failover, holders);
}

std::map<int, std::int64_t> JobCoordinator::ScheduledWatermarks(const std::vector<int>& items,
                                                                bool fresh) {
  return ledger_.ScheduledWatermarks(items, fresh);
}

bool JobCoordinator::ShardsOf(spi::ShardSource& source, const std::string& fire_id, int shard_count,
                              std::vector<spi::ShardSpec>* shards, std::string* error) {
  return plans_.Get(source, fire_id, shard_count, shards, error);
}

CheckpointResult JobCoordinator::SaveCheckpoint(const std::string& fire_id, Claim* claim,
                                                const std::string& record) {
  return ledger_.SaveCheckpoint(fire_id, claim, record);
}

std::map<int, std::int64_t> JobCoordinator::TriggerWatermarks(const std::vector<int>& items,
                                                              bool fresh) {
  return ledger_.TriggerWatermarks(items, fresh);
}

void JobCoordinator::Release(const std::vector<Claim>& claims) {
  if (!claims.empty()) ledger_.Release(claims);
}

CommitResult JobCoordinator::Commit(const std::string& fire_id,
                                    const std::vector<TaskOutcome>& outcomes) {
  CommitResult result = ledger_.Commit(fire_id, outcomes);
  if (!outcomes.empty() && result.fenced.empty() && result.unknown.empty()) PassSingleShardOn();
  return result;
}

bool JobCoordinator::IsLeader() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return leader_;
}

bool JobCoordinator::ConfigWasDeleted() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return config_deleted_;
}

bool JobCoordinator::IsConnected() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return connected_;
}

std::vector<int> JobCoordinator::LocalItems() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (RotatesSingleShardLocked() && !next_instance_.empty() &&
      std::find(live_instances_.begin(), live_instances_.end(), next_instance_) !=
          live_instances_.end()) {
    return next_instance_ == instance_id_ ? std::vector<int>{0} : std::vector<int>{};
  }
  auto it = assignment_.find(instance_id_);
  return it == assignment_.end() ? std::vector<int>{} : it->second;
}

std::map<std::string, std::vector<int>> JobCoordinator::Assignment() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return assignment_;
}

}  // namespace shardjob::coordination
