// What reaches a job through the registry besides its assignment: its config (seeded from the
// file, changed by operators), one-off triggers, and the counts behind cluster-once listeners.

#include "coordination/job_coordinator.h"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "config/job_config_json.h"
#include "coordination/registry_json.h"

namespace shardjob::coordination {

using registry::Code;
using registry::NodeMode;

namespace {

// Trigger and once nodes kept; older ones are deleted.
constexpr std::size_t kTriggersKept = 16;
constexpr std::chrono::milliseconds kTriggerMinAge{10 * 60 * 1000};
constexpr std::size_t kOnceNodesKept = 16;
// Guarded increments of a once node that lose a race retry; each loss means another instance
// progressed, so this bounds nothing in practice but a runaway loop.
constexpr int kOnceAttempts = 100;

}  // namespace

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
    // The oldest beyond the newest few, and only once old enough that every instance has seen
    // them: a burst must not lose a trigger a slow instance has yet to list.
    std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    for (std::size_t i = 0; i + kTriggersKept < children.size(); ++i) {
      std::string path = JobPath() + "/triggers/" + children[i];
      registry::Stat stat;
      if (registry_.Exists(path, &stat, nullptr) != Code::kOk) continue;
      if (now_ms - stat.ctime_ms < kTriggerMinAge.count()) break;  // the rest are newer
      registry_.Delete(path, registry::kAnyVersion);
    }
  }
}

void JobCoordinator::RefreshConfig() {
  std::string data;
  Code code = registry_.Get(JobPath() + "/config", &data, nullptr,
                            PostToLoop(&JobCoordinator::RefreshConfig));
  if (code == Code::kNoNode) {
    ConfigDeleted();
    return;
  }
  if (code != Code::kOk) {
    spdlog::error("job={} cannot read its config: {}", job_name_, Describe(code));
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    config_seen_ = true;
  }
  try {
    config::JobConfig job = config::JobConfigFromJson(data, "registry:" + JobPath() + "/config");
    if (job.name != job_name_) throw config::ConfigError("the name may not change");
    // Compared by meaning, not text: the first read after start-up catches a change made
    // between SeedConfig and now, and a rewrite with the same content is no change.
    if (config::JobConfigToJson(job) == config::JobConfigToJson(Job())) return;
    spdlog::info("job={} config changed in the registry; it applies from the next fire", job_name_);
    if (events_) events_->OnConfigChanged(job);
  } catch (const config::ConfigError& e) {
    spdlog::error("job={} ignoring an invalid config written to the registry: {}", job_name_,
                  e.what());
  }
}

bool JobCoordinator::ConfigDeleted() {
  // Asked again, not assumed: a folder or node may be missing for another reason (an operator
  // removed it by hand), and only a missing config means the job was deleted.
  Code code = registry_.Exists(JobPath() + "/config", nullptr, nullptr);
  if (code != Code::kNoNode) return false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // A config never known to be there was never there to delete (a coordinator started without
    // one, as tests do).
    if (!config_seen_) return false;
    if (config_deleted_) return true;
    config_deleted_ = true;
  }
  spdlog::warn("job={} instance={} its config was deleted from the registry; stopping it",
               job_name_, instance_id_);
  if (events_) events_->OnConfigDeleted();
  return true;
}

void JobCoordinator::UpdateConfig(const config::JobConfig& job,
                                  std::shared_ptr<spi::ShardingStrategy> strategy) {
  std::lock_guard<std::mutex> steps(steps_mutex_);
  config::JobConfig previous;
  bool leader;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;  // posted before Stop: the registry may be gone by now
    previous = job_;
    job_ = job;
    strategy_ = std::move(strategy);
    leader = leader_;
  }
  Code code = ledger_.CreateStates(job.ShardCount());
  if (code != Code::kOk) {
    spdlog::error("job={} cannot create the new shards' states: {}", job_name_, Describe(code));
  }
  if (job.disabled != previous.disabled || job.label != previous.label) {
    // The leader watches the instance list, not each instance's data: leave and join again so
    // that it sees this instance's new `disabled` at once.
    std::string path = JobPath() + "/instances/" + instance_id_;
    code = registry_.Delete(path, registry::kAnyVersion);
    if (code == Code::kOk || code == Code::kNoNode) {
      code = registry_.Create(path, RegistrationData(job), NodeMode::kEphemeral, nullptr);
    }
    if (code != Code::kOk) {
      spdlog::error("job={} cannot update this instance's registration: {}", job_name_,
                    Describe(code));
    }
  }
  if (previous.reconcile_interval_minutes <= 0 && job.reconcile_interval_minutes > 0) {
    // The periodic check was off: start it (a running one picks the new interval up itself).
    PostStep(&JobCoordinator::Reconcile, std::chrono::minutes(job.reconcile_interval_minutes));
  }
  if (leader) Reshard();
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
    long long before = IntField(ParseObject(data), "committed");
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

}  // namespace shardjob::coordination
