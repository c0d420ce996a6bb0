// The leader's assignment: computing, writing, checking and repairing it, and what each
// instance does when it changes (failover of orphaned claims, the rotating single shard).

#include "coordination/job_coordinator.h"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "coordination/registry_json.h"

namespace shardjob::coordination {

using registry::Code;
using registry::NodeMode;
using registry::Op;

namespace {

// A leader whose assignment write failed tries again after this long.
constexpr std::chrono::milliseconds kReshardRetry{1000};

}  // namespace

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
                   {"total", job.ShardCount()},
                   {"disabled", disabled_shards},
                   {"strategy", job.sharding_strategy}})
                 .dump();
    // Recompute only when what the plan depends on changed, or the stored plan is broken (an
    // owner gone, an item missing or doubled): a strategy need not be deterministic in time.
    if (inputs == planned_inputs_ &&
        AssignmentIsValidLocked(request.instances, disabled_shards, job.ShardCount())) {
      return;
    }
  }
  request.job_name = job_name_;
  request.sharding_total_count = job.ShardCount();
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
  Json assignment = {{"total", job.ShardCount()}, {"instances", plan_json}};
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
    bool retry_pending;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      planned_inputs_.clear();
      retry_pending = reshard_retry_pending_;
      reshard_retry_pending_ = true;
    }
    // Once a second at most, one retry at a time: a registry in trouble gets no busy loop.
    if (!retry_pending) PostStep(&JobCoordinator::RetryReshard, kReshardRetry);
    return;
  }
  spdlog::info("job={} assignment {}", job_name_, plan_json.dump());
}

void JobCoordinator::RetryReshard() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    reshard_retry_pending_ = false;
  }
  Reshard();
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
  ReportItemChanges();
}

void JobCoordinator::ReportItemChanges() {
  if (!IsConnected()) return;
  std::vector<int> items = LocalItems();
  std::vector<int> gained;
  std::vector<int> lost;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int item : items) {
      if (report_all_gained_ || std::find(reported_items_.begin(), reported_items_.end(), item) ==
                                    reported_items_.end()) {
        gained.push_back(item);
      }
    }
    report_all_gained_ = false;
    for (int item : reported_items_) {
      if (std::find(items.begin(), items.end(), item) == items.end()) lost.push_back(item);
    }
    reported_items_ = items;
  }
  if (!lost.empty() && events_) events_->OnItemsLost(lost);
  if (!gained.empty() && events_) events_->OnItemsGained(gained);
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

bool JobCoordinator::RotatesSingleShardLocked() const {
  return job_.sharding_strategy == "SINGLE_SHARDING_BALANCE" && job_.ShardCount() == 1;
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

}  // namespace shardjob::coordination
