#include "coordination/job_coordinator.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "config/job_config_json.h"

namespace shardjob::coordination {

using registry::Code;
using registry::NodeMode;
using registry::Op;
using Json = nlohmann::json;

namespace {

// Trigger and once nodes kept; older ones are deleted.
constexpr std::size_t kTriggersKept = 16;
constexpr std::size_t kOnceNodesKept = 16;
// Guarded increments of a once node that lose a race retry; each loss means another instance
// progressed, so this bounds nothing in practice but a runaway loop.
constexpr int kOnceAttempts = 100;
// A leader whose assignment write failed tries again after this long.
constexpr std::chrono::milliseconds kReshardRetry{1000};

std::string Describe(Code code) { return registry::CodeName(code); }

Json ParseObject(const std::string& text) {
  Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return parsed.is_object() ? parsed : Json::object();
}

template <typename T>
std::vector<T> ListField(const Json& object, const char* key) {
  std::vector<T> values;
  auto it = object.find(key);
  if (it == object.end() || !it->is_array()) return values;
  for (const Json& value : *it) {
    if constexpr (std::is_same_v<T, int>) {
      if (value.is_number_integer()) values.push_back(value.get<int>());
    } else {
      if (value.is_string()) values.push_back(value.get<std::string>());
    }
  }
  return values;
}

}  // namespace

JobEvents::~JobEvents() = default;

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
      job_(job),
      strategy_(std::move(strategy)) {}

config::JobConfig JobCoordinator::SeedConfig(registry::Registry& registry, const std::string& root,
                                             const config::JobConfig& local) {
  std::string job_path = root + "/jobs/" + local.name;
  Code code = registry::EnsurePath(registry, job_path);
  if (code != Code::kOk) {
    throw CoordinationError("job '" + local.name + "': cannot create " + job_path +
                            " in the registry: " + Describe(code));
  }
  std::string stored;
  code = registry.Get(job_path + "/config", &stored, nullptr, nullptr);
  if (code == Code::kOk && !local.overwrite) {
    config::JobConfig effective;
    try {
      effective = config::JobConfigFromJson(stored, "registry:" + job_path + "/config");
    } catch (const config::ConfigError& e) {
      throw CoordinationError("job '" + local.name + "': the config in the registry is invalid (" +
                              e.what() + "); fix it, or start with `overwrite: true`");
    }
    if (config::JobConfigToJson(effective) != config::JobConfigToJson(local)) {
      spdlog::warn(
          "job={} the registry's config differs from {}; the registry's wins "
          "(overwrite: false)",
          local.name, local.location.ToString());
    }
    effective.location = local.location;
    return effective;
  }
  if (code != Code::kOk && code != Code::kNoNode) {
    throw CoordinationError("job '" + local.name + "': cannot read its config: " + Describe(code));
  }
  std::string json = config::JobConfigToJson(local);
  code = code == Code::kNoNode
             ? registry.Create(job_path + "/config", json, NodeMode::kPersistent, nullptr)
             : registry.Set(job_path + "/config", json, registry::kAnyVersion, nullptr);
  if (code == Code::kNodeExists) return SeedConfig(registry, root, local);  // lost a race
  if (code != Code::kOk) {
    throw CoordinationError("job '" + local.name + "': cannot write its config: " + Describe(code));
  }
  return local;
}

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
  Code code = ledger_.CreateStates(job.sharding_total_count);
  if (code != Code::kOk) {
    throw CoordinationError("job '" + job_name_ +
                            "': cannot create its shard states: " + Describe(code));
  }
  CheckClock();
  std::weak_ptr<JobCoordinator> weak = weak_from_this();
  registry_.AddSessionListener([weak, loop = &loop_](registry::SessionState state) {
    auto self = weak.lock();
    if (!self) return;
    std::int64_t session = self->registry_.SessionId();
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

void JobCoordinator::CheckClock() {
  config::JobConfig job = Job();
  if (job.max_time_diff_seconds < 0) return;
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
    throw CoordinationError("job '" + job_name_ +
                            "': cannot read the registry's clock: " + Describe(code));
  }
  auto local_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      (before.time_since_epoch() + after.time_since_epoch()) / 2)
                      .count();
  long long diff_ms = std::llabs(stat.mtime_ms - local_ms);
  if (diff_ms > job.max_time_diff_seconds * 1000LL) {
    throw CoordinationError("job '" + job_name_ +
                            "': this host's clock differs from the "
                            "registry's by " +
                            std::to_string(diff_ms) + " ms, more than max_time_diff_seconds=" +
                            std::to_string(job.max_time_diff_seconds) +
                            "; fix the clock (NTP) or raise the limit");
  }
}

void JobCoordinator::Register() {
  config::JobConfig job = Job();
  Json me = {
      {"pid", static_cast<long>(getpid())}, {"disabled", job.disabled}, {"label", job.label}};
  std::int64_t session = registry_.SessionId();
  std::string path = JobPath() + "/instances/" + instance_id_;
  Code code = registry_.Create(path, me.dump(), NodeMode::kEphemeral, nullptr);
  if (code == Code::kNodeExists) {
    registry::Stat stat;
    // Our own node from this same session (a rejoin that raced an earlier one) is fine.
    if (registry_.Exists(path, &stat, nullptr) == Code::kOk && stat.ephemeral_owner == session) {
      code = Code::kOk;
    }
  }
  if (code != Code::kOk) {
    throw CoordinationError(
        "job '" + job_name_ + "': cannot register instance '" + instance_id_ +
        "': " + Describe(code) +
        (code == Code::kNodeExists ? " (another live process uses this instance id)" : ""));
  }
  std::string candidate;
  code = registry_.Create(JobPath() + "/leader/candidate-", instance_id_,
                          NodeMode::kEphemeralSequential, &candidate);
  if (code != Code::kOk) {
    throw CoordinationError("job '" + job_name_ +
                            "': cannot join the leader election: " + Describe(code));
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    candidate_path_ = candidate;
    registered_session_ = session;
    connected_ = true;
  }
  RefreshConfig();
  RefreshTriggers();
  RefreshNextInstance();
  RefreshInstances();
  Elect();
  RefreshAssignment();
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

void JobCoordinator::PostStep(void (JobCoordinator::*step)(), std::chrono::milliseconds delay) {
  std::weak_ptr<JobCoordinator> weak = weak_from_this();
  auto run = [weak, step] {
    auto self = weak.lock();
    if (!self) return;
    std::lock_guard<std::mutex> steps(self->steps_mutex_);
    {
      std::lock_guard<std::mutex> lock(self->mutex_);
      if (self->stopped_) return;
    }
    ((*self).*step)();
  };
  if (delay.count() > 0) {
    loop_.PostAfter(delay, std::move(run));
  } else {
    loop_.Post(std::move(run));
  }
}

registry::Watcher JobCoordinator::PostToLoop(void (JobCoordinator::*step)()) {
  std::weak_ptr<JobCoordinator> weak = weak_from_this();
  // Captures no `this`: a watch may fire after the coordinator is gone.
  return [weak, step](const registry::WatchEvent&) {
    if (auto self = weak.lock()) self->PostStep(step, std::chrono::milliseconds(0));
  };
}

void JobCoordinator::OnSessionState(registry::SessionState state, std::int64_t session_id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_ || !started_) return;
  }
  switch (state) {
    case registry::SessionState::kConnecting: {
      std::uint64_t epoch;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        connected_ = false;
        epoch = ++disconnect_epoch_;
      }
      spdlog::warn(
          "job={} instance={} lost the registry connection; no new claims until it is "
          "back",
          job_name_, instance_id_);
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
        // The ephemerals and watches survived, but leadership was given up when the session
        // timeout passed without contact: take it back if the candidate node is still first.
        Elect();
        RefreshInstances();
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
          if (auto self = weak.lock()) {
            std::lock_guard<std::mutex> steps(self->steps_mutex_);
            self->OnSessionState(registry::SessionState::kConnected, session_id);
          }
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

void JobCoordinator::RefreshDisabled() {
  std::string data;
  Code code = registry_.Get(JobPath() + "/disabled", &data, nullptr,
                            PostToLoop(&JobCoordinator::RefreshDisabled));
  if (code == Code::kNoNode) {
    code = registry_.Exists(JobPath() + "/disabled", nullptr,
                            PostToLoop(&JobCoordinator::RefreshDisabled));
    if (code == Code::kOk) return RefreshDisabled();  // created in between
  } else if (code != Code::kOk) {
    spdlog::error("job={} cannot read the disabled shards: {}", job_name_, Describe(code));
    return;
  }
  Json parsed = ParseObject(data);
  bool leader;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    disabled_shards_ = ListField<int>(parsed, "shards");
    disabled_instances_ = ListField<std::string>(parsed, "instances");
    leader = leader_;
  }
  if (leader) Reshard();
}

bool JobCoordinator::AssignmentIsValidLocked(const std::vector<std::string>& instances,
                                             const std::vector<int>& disabled_shards,
                                             int total) const {
  if (assignment_malformed_) return false;
  Json stored = ParseObject(assignment_json_);
  if (!stored.contains("total") || stored["total"] != total) return false;
  std::vector<int> seen;
  for (const auto& [instance, items] : assignment_) {
    if (std::find(instances.begin(), instances.end(), instance) == instances.end()) return false;
    seen.insert(seen.end(), items.begin(), items.end());
  }
  std::vector<int> expected;
  for (int item = 0; item < total; ++item) {
    if (std::find(disabled_shards.begin(), disabled_shards.end(), item) == disabled_shards.end()) {
      expected.push_back(item);
    }
  }
  std::sort(seen.begin(), seen.end());
  // Every enabled item exactly once, owned by a live instance, and nothing else.
  return seen == expected;
}

void JobCoordinator::Reshard() {
  spi::ShardingRequest request;
  std::string candidate;
  std::vector<int> disabled_shards;
  std::shared_ptr<spi::ShardingStrategy> strategy;
  config::JobConfig job;
  std::string inputs;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!leader_) return;
    for (const std::string& id : live_instances_) {
      if (std::find(disabled_instances_.begin(), disabled_instances_.end(), id) ==
          disabled_instances_.end()) {
        request.instances.push_back(id);
      }
    }
    candidate = candidate_path_;
    disabled_shards = disabled_shards_;
    strategy = strategy_;
    job = job_;
    // ElasticJob hands its strategies the instances in descending order; so do we, so that the
    // strategies give ElasticJob's results.
    std::sort(request.instances.rbegin(), request.instances.rend());
    inputs = Json({{"instances", request.instances},
                   {"total", job.sharding_total_count},
                   {"disabled", disabled_shards},
                   {"strategy", job.sharding_strategy}})
                 .dump();
    // Recompute only when what the plan depends on changed, or the stored plan is broken (an
    // owner gone, an item missing or doubled): a strategy need not be deterministic in time.
    if (inputs == planned_inputs_ &&
        AssignmentIsValidLocked(request.instances, disabled_shards, job.sharding_total_count)) {
      return;
    }
  }
  request.job_name = job_name_;
  request.sharding_total_count = job.sharding_total_count;
  Json plan_json = Json::object();
  if (!request.instances.empty()) {
    spi::ShardingPlan plan;
    spi::Status status = strategy->Shard(request, &plan);
    if (!status.ok()) {
      spdlog::error("job={} sharding strategy {} failed: {}", job_name_, job.sharding_strategy,
                    status.ToString());
      return;
    }
    for (auto& [instance, items] : plan) {
      // A disabled shard is run by nobody, as in ElasticJob; it is not moved elsewhere.
      std::erase_if(items, [&](int item) {
        return std::find(disabled_shards.begin(), disabled_shards.end(), item) !=
               disabled_shards.end();
      });
      plan_json[instance] = items;
    }
  }
  Json assignment = {{"total", job.sharding_total_count}, {"instances", plan_json}};
  std::string text = assignment.dump();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    planned_inputs_ = inputs;
    if (text == assignment_json_) return;
  }
  // The check on our own candidate node makes a deposed leader's write fail.
  std::vector<registry::OpResult> results;
  Code code = registry_.Multi(
      {Op::Check(candidate, registry::kAnyVersion), Op::SetData(JobPath() + "/assignment", text)},
      &results);
  if (code == Code::kNoNode && results.size() == 2 && results[1].code == Code::kNoNode) {
    code = registry_.Multi(
        {Op::Check(candidate, registry::kAnyVersion), Op::Create(JobPath() + "/assignment", text)},
        &results);
  }
  if (code != Code::kOk) {
    spdlog::error("job={} cannot write the assignment: {}; trying again in {} ms", job_name_,
                  Describe(code), kReshardRetry.count());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      planned_inputs_.clear();
    }
    // Once a second at most: a registry in trouble gets no busy loop from us.
    PostStep(&JobCoordinator::Reshard, kReshardRetry);
    return;
  }
  spdlog::info("job={} assignment {}", job_name_, plan_json.dump());
}

void JobCoordinator::Reconcile() {
  config::JobConfig job = Job();
  if (job.reconcile_interval_minutes <= 0) return;
  bool leader = IsLeader();
  if (leader) {
    // Re-read everything the assignment depends on; Reshard writes only if it differs.
    RefreshInstances();
    RefreshAssignment();
  }
  PostStep(&JobCoordinator::Reconcile, std::chrono::minutes(job.reconcile_interval_minutes));
}

void JobCoordinator::RefreshAssignment() {
  std::string data;
  Code code = registry_.Get(JobPath() + "/assignment", &data, nullptr,
                            PostToLoop(&JobCoordinator::RefreshAssignment));
  if (code == Code::kNoNode) {
    // Not written yet: watch for its creation.
    code = registry_.Exists(JobPath() + "/assignment", nullptr,
                            PostToLoop(&JobCoordinator::RefreshAssignment));
    if (code == Code::kOk) RefreshAssignment();  // created in between
    return;
  }
  if (code != Code::kOk) {
    spdlog::error("job={} cannot read the assignment: {}", job_name_, Describe(code));
    return;
  }
  Json parsed = ParseObject(data);
  std::map<std::string, std::vector<int>> assignment;
  if (parsed.contains("instances") && parsed["instances"].is_object()) {
    for (auto& [instance, items] : parsed["instances"].items()) {
      // An exception here would end the process (this runs on the event loop): keep the last
      // good assignment instead; the watch is armed again already.
      bool well_formed = items.is_array() &&
                         std::all_of(items.begin(), items.end(),
                                     [](const Json& item) { return item.is_number_integer(); });
      if (!well_formed) {
        spdlog::error("job={} ignoring a malformed assignment: {}", job_name_, data);
        bool leader;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          assignment_json_ = data;  // what is stored now, so that the leader's rewrite differs
          assignment_malformed_ = true;
          leader = leader_;
        }
        if (leader) Reshard();  // the leader repairs it
        return;
      }
      assignment[instance] = items.get<std::vector<int>>();
    }
  }
  bool leader;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    assignment_ = std::move(assignment);
    assignment_json_ = data;
    assignment_malformed_ = false;
    leader = leader_;
  }
  // The leader repairs an assignment that is not what it would write (an operator's edit, a
  // write from a deposed leader): Reshard writes only when they differ.
  if (leader) Reshard();
  RecoverOrphans();
}

void JobCoordinator::RecoverOrphans() {
  config::JobConfig job = Job();
  std::vector<int> items = LocalItems();
  if (items.empty() || !IsConnected()) return;
  for (const auto& [fire, orphaned] : ledger_.FindOrphans(items)) {
    if (!job.failover) {
      spdlog::warn(
          "job={} fire={} shards {} were left unfinished by their runner; failover is "
          "off, so they wait for the next fire",
          job_name_, fire, Json(orphaned).dump());
      continue;
    }
    spdlog::warn(
        "job={} fire={} shards {} were left unfinished by their runner; failing them "
        "over to instance {}",
        job_name_, fire, Json(orphaned).dump(), instance_id_);
    if (events_) events_->OnOrphanedShards(fire, orphaned);
  }
}

void JobCoordinator::RefreshTriggers() {
  std::vector<std::string> children;
  Code code = registry_.GetChildren(JobPath() + "/triggers", &children,
                                    PostToLoop(&JobCoordinator::RefreshTriggers));
  if (code != Code::kOk) {
    spdlog::error("job={} cannot list triggers: {}", job_name_, Describe(code));
    return;
  }
  std::sort(children.begin(), children.end());
  std::vector<std::string> fresh;
  bool leader;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const std::string& child : children) {
      long long sequence =
          std::atoll(child.substr(child.find_last_not_of("0123456789") + 1).c_str());
      if (sequence <= last_trigger_) continue;
      // Triggers older than this process's first registration were for the instances alive
      // then; those that came while this instance was cut off are still run when it rejoins.
      if (triggers_seen_) fresh.push_back(child);
      last_trigger_ = sequence;
    }
    triggers_seen_ = true;
    leader = leader_;
  }
  for (const std::string& trigger : fresh) {
    spdlog::info("job={} instance={} one-off trigger {}", job_name_, instance_id_, trigger);
    if (events_) events_->OnTrigger(trigger);
  }
  if (leader && children.size() > kTriggersKept) {
    for (std::size_t i = 0; i + kTriggersKept < children.size(); ++i) {
      registry_.Delete(JobPath() + "/triggers/" + children[i], registry::kAnyVersion);
    }
  }
}

void JobCoordinator::RefreshConfig() {
  std::string data;
  Code code = registry_.Get(JobPath() + "/config", &data, nullptr,
                            PostToLoop(&JobCoordinator::RefreshConfig));
  if (code != Code::kOk) {
    if (code != Code::kNoNode) {
      spdlog::error("job={} cannot read its config: {}", job_name_, Describe(code));
    }
    return;
  }
  bool changed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    changed = !config_json_.empty() && data != config_json_;
    config_json_ = data;
  }
  if (!changed) return;
  try {
    config::JobConfig job = config::JobConfigFromJson(data, "registry:" + JobPath() + "/config");
    if (job.name != job_name_) throw config::ConfigError("the name may not change");
    spdlog::info("job={} config changed in the registry; it applies from the next fire", job_name_);
    if (events_) events_->OnConfigChanged(job);
  } catch (const config::ConfigError& e) {
    spdlog::error("job={} ignoring an invalid config written to the registry: {}", job_name_,
                  e.what());
  }
}

void JobCoordinator::UpdateConfig(const config::JobConfig& job,
                                  std::shared_ptr<spi::ShardingStrategy> strategy) {
  Code code = ledger_.CreateStates(job.sharding_total_count);
  if (code != Code::kOk) {
    spdlog::error("job={} cannot create the new shards' states: {}", job_name_, Describe(code));
  }
  std::lock_guard<std::mutex> steps(steps_mutex_);
  bool leader;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = job;
    strategy_ = std::move(strategy);
    leader = leader_;
  }
  // The instance's own `disabled` may have changed: registration carries it.
  Json me = {
      {"pid", static_cast<long>(getpid())}, {"disabled", job.disabled}, {"label", job.label}};
  registry_.Set(JobPath() + "/instances/" + instance_id_, me.dump(), registry::kAnyVersion,
                nullptr);
  if (leader) Reshard();
}

std::vector<Claim> JobCoordinator::ClaimFire(const std::string& fire_id,
                                             const std::optional<std::vector<int>>& items) {
  if (!IsConnected()) {
    spdlog::warn("job={} fire={} instance={} not claimed: the registry is unreachable", job_name_,
                 fire_id, instance_id_);
    return {};
  }
  return ledger_.ClaimFire(fire_id, items ? *items : LocalItems());
}

bool JobCoordinator::BeginFireOnce(const std::string& fire_id) {
  EnsurePathQuietly(JobPath() + "/once");
  Code code = registry_.Create(JobPath() + "/once/" + fire_id, Json({{"committed", 0}}).dump(),
                               NodeMode::kPersistent, nullptr);
  if (code == Code::kOk) {
    PruneOnceNodes();
    return true;
  }
  if (code != Code::kNodeExists) {
    spdlog::error(
        "job={} fire={} cannot record the start of the fire for cluster-once listeners: "
        "{}",
        job_name_, fire_id, Describe(code));
  }
  return false;
}

bool JobCoordinator::EndFireOnce(const std::string& fire_id, int committed) {
  if (committed <= 0) return false;
  std::size_t enabled = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [instance, items] : assignment_) enabled += items.size();
  }
  std::string path = JobPath() + "/once/" + fire_id;
  // A guarded read-modify-write: the write that succeeds was based on the latest count, so the
  // one that reaches `enabled` is unique.
  for (int attempt = 0; attempt < kOnceAttempts; ++attempt) {
    std::string data;
    registry::Stat stat;
    Code code = registry_.Get(path, &data, &stat, nullptr);
    if (code == Code::kNoNode) {
      BeginFireOnce(fire_id);  // the node's creator died before writing it; recreate
      continue;
    }
    if (code != Code::kOk) break;
    Json count = ParseObject(data);
    long long before = count.value("committed", 0LL);
    long long after = before + committed;
    code = registry_.Set(path, Json({{"committed", after}}).dump(), stat.version, nullptr);
    if (code == Code::kBadVersion) continue;
    if (code != Code::kOk) break;
    return before < static_cast<long long>(enabled) && after >= static_cast<long long>(enabled);
  }
  spdlog::error("job={} fire={} cannot count its commits for cluster-once listeners", job_name_,
                fire_id);
  return false;
}

void JobCoordinator::EnsurePathQuietly(const std::string& path) {
  Code code = registry::EnsurePath(registry_, path);
  if (code != Code::kOk) {
    spdlog::warn("job={} cannot create {}: {}", job_name_, path, Describe(code));
  }
}

void JobCoordinator::PruneOnceNodes() {
  std::vector<std::string> fires;
  if (registry_.GetChildren(JobPath() + "/once", &fires, nullptr) != Code::kOk) return;
  if (fires.size() <= kOnceNodesKept) return;
  // Oldest first by creation: the transaction ids order them whatever the fire ids look like.
  std::vector<std::pair<std::int64_t, std::string>> by_age;
  for (const std::string& fire : fires) {
    registry::Stat stat;
    if (registry_.Exists(JobPath() + "/once/" + fire, &stat, nullptr) == Code::kOk) {
      by_age.emplace_back(stat.czxid, fire);
    }
  }
  std::sort(by_age.begin(), by_age.end());
  for (std::size_t i = 0; i + kOnceNodesKept < by_age.size(); ++i) {
    registry_.Delete(JobPath() + "/once/" + by_age[i].second, registry::kAnyVersion);
  }
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

bool JobCoordinator::IsConnected() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return connected_;
}

bool JobCoordinator::RotatesSingleShardLocked() const {
  return job_.sharding_strategy == "SINGLE_SHARDING_BALANCE" && job_.sharding_total_count == 1;
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

void JobCoordinator::RefreshNextInstance() {
  std::string data;
  Code code = registry_.Get(JobPath() + "/next-instance", &data, nullptr,
                            PostToLoop(&JobCoordinator::RefreshNextInstance));
  if (code == Code::kNoNode) {
    code = registry_.Exists(JobPath() + "/next-instance", nullptr,
                            PostToLoop(&JobCoordinator::RefreshNextInstance));
    if (code == Code::kOk) return RefreshNextInstance();  // created in between
  }
  std::lock_guard<std::mutex> lock(mutex_);
  next_instance_ = code == Code::kOk ? data : std::string();
}

void JobCoordinator::PassSingleShardOn() {
  std::string next;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!RotatesSingleShardLocked() || live_instances_.empty()) return;
    std::vector<std::string> instances = live_instances_;
    std::sort(instances.begin(), instances.end());
    auto mine = std::find(instances.begin(), instances.end(), instance_id_);
    next = mine == instances.end() || mine + 1 == instances.end() ? instances.front() : *(mine + 1);
  }
  // The next instance runs the next fire: ElasticJob's "next job instance", one write per fire.
  std::string path = JobPath() + "/next-instance";
  Code code = registry_.Set(path, next, registry::kAnyVersion, nullptr);
  if (code == Code::kNoNode) code = registry_.Create(path, next, NodeMode::kPersistent, nullptr);
  if (code != Code::kOk) {
    spdlog::warn("job={} cannot pass the single shard on to {}: {}", job_name_, next,
                 Describe(code));
  }
}

std::map<std::string, std::vector<int>> JobCoordinator::Assignment() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return assignment_;
}

}  // namespace shardjob::coordination
