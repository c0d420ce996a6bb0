#include "coordination/job_coordinator.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace shardjob::coordination {

using registry::Code;
using registry::NodeMode;
using registry::Op;
using Json = nlohmann::json;

namespace {

std::string Describe(Code code) { return registry::CodeName(code); }

Json ParseOrEmpty(const std::string& text) {
  Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return parsed.is_object() ? parsed : Json::object();
}

// The field's value when it is a string, else "" (the node may hold anything).
std::string StringField(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

JobCoordinator::JobCoordinator(registry::Registry& registry, EventLoop& events, std::string root,
                               const config::JobConfig& job,
                               std::shared_ptr<spi::ShardingStrategy> strategy,
                               std::string instance_id)
    : registry_(registry),
      events_(events),
      root_(std::move(root)),
      job_(job),
      strategy_(std::move(strategy)),
      instance_id_(std::move(instance_id)) {}

std::string JobCoordinator::ShardPath(int item) const {
  return JobPath() + "/shards/" + std::to_string(item);
}

void JobCoordinator::Start() {
  for (const char* child : {"/instances", "/leader", "/shards"}) {
    Code code = registry::EnsurePath(registry_, JobPath() + child);
    if (code != Code::kOk) {
      throw CoordinationError("job '" + job_.name + "': cannot create " + JobPath() + child +
                              " in the registry: " + Describe(code));
    }
  }
  for (int item = 0; item < job_.sharding_total_count; ++item) {
    Code code = registry_.Create(ShardPath(item), "", NodeMode::kPersistent, nullptr);
    if (code == Code::kOk || code == Code::kNodeExists) {
      code = registry_.Create(ShardPath(item) + "/state", "{}", NodeMode::kPersistent, nullptr);
    }
    if (code != Code::kOk && code != Code::kNodeExists) {
      throw CoordinationError("job '" + job_.name + "': cannot create the state of shard " +
                              std::to_string(item) + ": " + Describe(code));
    }
  }
  Json me = {
      {"pid", static_cast<long>(getpid())}, {"disabled", job_.disabled}, {"label", job_.label}};
  Code code = registry_.Create(JobPath() + "/instances/" + instance_id_, me.dump(),
                               NodeMode::kEphemeral, nullptr);
  if (code != Code::kOk) {
    throw CoordinationError(
        "job '" + job_.name + "': cannot register instance '" + instance_id_ +
        "': " + Describe(code) +
        (code == Code::kNodeExists ? " (another process uses this instance id)" : ""));
  }
  std::string candidate;
  code = registry_.Create(JobPath() + "/leader/candidate-", instance_id_,
                          NodeMode::kEphemeralSequential, &candidate);
  if (code != Code::kOk) {
    throw CoordinationError("job '" + job_.name +
                            "': cannot join the leader election: " + Describe(code));
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    candidate_path_ = candidate;
  }
  // A session that ends takes the candidate node with it: this instance no longer leads.
  std::weak_ptr<JobCoordinator> weak = weak_from_this();
  registry_.AddSessionListener([weak](registry::SessionState state) {
    if (state != registry::SessionState::kExpired && state != registry::SessionState::kClosed) {
      return;
    }
    if (auto self = weak.lock()) {
      std::lock_guard<std::mutex> lock(self->mutex_);
      self->leader_ = false;
    }
  });
  std::lock_guard<std::mutex> steps(steps_mutex_);
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
    Code code = registry_.Delete(path, registry::kAnyVersion);
    if (code != Code::kOk && code != Code::kNoNode) {
      spdlog::warn("job={} instance={} could not deregister {}: {}", job_.name, instance_id_, path,
                   Describe(code));
    }
  }
}

registry::Watcher JobCoordinator::PostToLoop(void (JobCoordinator::*step)()) {
  std::weak_ptr<JobCoordinator> weak = weak_from_this();
  // Captures no `this`: a watch may fire after the coordinator is gone.
  return [events = &events_, weak, step](const registry::WatchEvent&) {
    events->Post([weak, step] {
      if (auto self = weak.lock()) {
        std::lock_guard<std::mutex> steps(self->steps_mutex_);
        bool stopped;
        {
          std::lock_guard<std::mutex> lock(self->mutex_);
          stopped = self->stopped_;
        }
        if (!stopped) ((*self).*step)();
      }
    });
  };
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
      spdlog::error("job={} election: cannot list candidates: {}", job_.name, Describe(code));
      return;
    }
    std::sort(candidates.begin(), candidates.end());
    auto position = std::find(candidates.begin(), candidates.end(), mine);
    if (position == candidates.end()) {
      spdlog::error("job={} election: own candidate {} is gone", job_.name, mine);
      return;
    }
    if (position == candidates.begin()) {
      bool was_leader;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        was_leader = leader_;
        leader_ = true;
      }
      if (!was_leader) spdlog::info("job={} instance={} is the leader", job_.name, instance_id_);
      Reshard();
      return;
    }
    // Watch only the predecessor: when it goes, only this candidate wakes (no herd).
    std::string predecessor = JobPath() + "/leader/" + *(position - 1);
    code = registry_.Exists(predecessor, nullptr, PostToLoop(&JobCoordinator::Elect));
    if (code == Code::kOk) return;
    if (code != Code::kNoNode) {
      spdlog::error("job={} election: cannot watch {}: {}", job_.name, predecessor, Describe(code));
      return;
    }
  }
  spdlog::error("job={} election did not settle after 100 rounds", job_.name);
}

void JobCoordinator::RefreshInstances() {
  std::vector<std::string> children;
  Code code = registry_.GetChildren(JobPath() + "/instances", &children,
                                    PostToLoop(&JobCoordinator::RefreshInstances));
  if (code != Code::kOk) {
    spdlog::error("job={} cannot list instances: {}", job_.name, Describe(code));
    return;
  }
  std::vector<std::string> enabled;
  for (const std::string& id : children) {
    std::string data;
    if (registry_.Get(JobPath() + "/instances/" + id, &data, nullptr, nullptr) != Code::kOk) {
      continue;  // gone since the listing
    }
    // Only an explicit `"disabled": true` disables: other writers' data must not throw here.
    Json disabled = ParseOrEmpty(data)["disabled"];
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

void JobCoordinator::Reshard() {
  spi::ShardingRequest request;
  std::string candidate;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!leader_) return;
    request.instances = live_instances_;
    candidate = candidate_path_;
  }
  request.job_name = job_.name;
  request.sharding_total_count = job_.sharding_total_count;
  // ElasticJob hands its strategies the instances in descending order; so do we, so that the
  // strategies give ElasticJob's results.
  std::sort(request.instances.rbegin(), request.instances.rend());
  Json plan_json = Json::object();
  if (!request.instances.empty()) {
    spi::ShardingPlan plan;
    spi::Status status = strategy_->Shard(request, &plan);
    if (!status.ok()) {
      spdlog::error("job={} sharding strategy {} failed: {}", job_.name, job_.sharding_strategy,
                    status.ToString());
      return;
    }
    for (auto& [instance, items] : plan) plan_json[instance] = items;
  }
  Json assignment = {{"total", job_.sharding_total_count}, {"instances", plan_json}};
  std::string text = assignment.dump();
  {
    std::lock_guard<std::mutex> lock(mutex_);
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
    spdlog::error("job={} cannot write the assignment: {}", job_.name, Describe(code));
    return;
  }
  spdlog::info("job={} assignment {}", job_.name, plan_json.dump());
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
    spdlog::error("job={} cannot read the assignment: {}", job_.name, Describe(code));
    return;
  }
  Json parsed = ParseOrEmpty(data);
  std::map<std::string, std::vector<int>> assignment;
  if (parsed.contains("instances") && parsed["instances"].is_object()) {
    for (auto& [instance, items] : parsed["instances"].items()) {
      // An exception here would end the process (this runs on the event loop): keep the last
      // good assignment instead; the watch is armed again already.
      bool well_formed = items.is_array() &&
                         std::all_of(items.begin(), items.end(),
                                     [](const Json& item) { return item.is_number_integer(); });
      if (!well_formed) {
        spdlog::error("job={} ignoring a malformed assignment: {}", job_.name, data);
        return;
      }
      assignment[instance] = items.get<std::vector<int>>();
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  assignment_ = std::move(assignment);
  assignment_json_ = data;
}

bool JobCoordinator::IsLeader() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return leader_;
}

std::vector<int> JobCoordinator::LocalItems() const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = assignment_.find(instance_id_);
  return it == assignment_.end() ? std::vector<int>{} : it->second;
}

std::map<std::string, std::vector<int>> JobCoordinator::Assignment() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return assignment_;
}

std::optional<JobCoordinator::ShardState> JobCoordinator::ReadState(int item) {
  ShardState state;
  registry::Stat stat;
  Code code = registry_.Get(ShardPath(item) + "/state", &state.data, &stat, nullptr);
  if (code == Code::kNoNode) {
    // The shard count grew since this instance started, or the node was removed: recreate it.
    registry::EnsurePath(registry_, ShardPath(item));
    code = registry_.Create(ShardPath(item) + "/state", "{}", NodeMode::kPersistent, nullptr);
    if (code == Code::kOk || code == Code::kNodeExists) {
      code = registry_.Get(ShardPath(item) + "/state", &state.data, &stat, nullptr);
    }
  }
  if (code != Code::kOk) {
    spdlog::error("job={} shard={} cannot read its state: {}", job_.name, item, Describe(code));
    return std::nullopt;
  }
  state.version = stat.version;
  return state;
}

std::vector<Claim> JobCoordinator::ClaimFire(const std::string& fire_id) {
  std::vector<int> items = LocalItems();
  std::lock_guard<std::mutex> lock(claims_mutex_);
  // Each failed attempt removes or refreshes the one item that failed, so this ends.
  for (std::size_t attempt = 0; attempt <= 2 * items.size() + 1 && !items.empty(); ++attempt) {
    std::vector<Op> ops;
    for (auto it = items.begin(); it != items.end();) {
      auto cached = shard_states_.find(*it);
      if (cached == shard_states_.end()) {
        std::optional<ShardState> state = ReadState(*it);
        if (!state) {
          it = items.erase(it);
          continue;
        }
        cached = shard_states_.emplace(*it, std::move(*state)).first;
      }
      Json state = ParseOrEmpty(cached->second.data);
      if (StringField(state, "committed_fire") == fire_id) {
        spdlog::info("job={} fire={} shard={} already committed; not run again", job_.name, fire_id,
                     *it);
        it = items.erase(it);
        continue;
      }
      std::string nonce = instance_id_ + "#" + std::to_string(++claim_counter_);
      state["claimed_fire"] = fire_id;
      state["claimed_by"] = instance_id_;
      state["claim_nonce"] = nonce;
      ops.push_back(Op::SetData(ShardPath(*it) + "/state", state.dump(), cached->second.version));
      Json lease = {{"fire", fire_id}, {"instance", instance_id_}, {"nonce", nonce}};
      ops.push_back(Op::Create(ShardPath(*it) + "/lease", lease.dump(), NodeMode::kEphemeral));
      ++it;
    }
    if (items.empty()) break;
    std::vector<registry::OpResult> results;
    Code code = registry_.Multi(ops, &results);
    if (code == Code::kOk) {
      std::vector<Claim> claims;
      for (std::size_t i = 0; i < items.size(); ++i) {
        const registry::Stat& stat = results[2 * i].stat;
        ShardState& cached = shard_states_[items[i]];
        cached.data = ops[2 * i].data;
        cached.version = stat.version;
        // The lease was created by the same transaction, so its czxid is this mzxid: strictly
        // larger than every earlier claim's token on the shard.
        claims.push_back(Claim{items[i], stat.mzxid, stat.version});
      }
      return claims;
    }
    std::size_t failed = 0;
    while (failed < results.size() && results[failed].code == Code::kOk) ++failed;
    if (failed >= results.size()) {
      spdlog::error("job={} fire={} claim failed: {}", job_.name, fire_id, Describe(code));
      return {};
    }
    int item = items[failed / 2];
    shard_states_.erase(item);  // stale: re-read on the next attempt
    if (results[failed].code == Code::kNodeExists) {
      if (!ReleaseOwnStaleLease(item)) {
        items.erase(items.begin() + static_cast<std::ptrdiff_t>(failed / 2));
      }
    } else if (results[failed].code != Code::kBadVersion) {
      spdlog::error("job={} fire={} shard={} claim failed: {}", job_.name, fire_id, item,
                    Describe(results[failed].code));
      items.erase(items.begin() + static_cast<std::ptrdiff_t>(failed / 2));
    }
  }
  return {};
}

std::vector<int> JobCoordinator::Commit(const std::string& fire_id,
                                        const std::vector<TaskOutcome>& outcomes) {
  if (outcomes.empty()) return {};
  std::lock_guard<std::mutex> lock(claims_mutex_);
  if (CommitBatch(fire_id, outcomes) == Code::kOk) return {};
  // One lost claim fails the whole multi: commit the tasks one by one to keep the others.
  std::vector<int> fenced;
  for (const TaskOutcome& outcome : outcomes) {
    Code code = CommitBatch(fire_id, {outcome});
    if (code == Code::kOk) continue;
    shard_states_.erase(outcome.claim.item);
    spdlog::error("job={} fire={} shard={} commit refused ({}): the claim was lost (fenced)",
                  job_.name, fire_id, outcome.claim.item, Describe(code));
    fenced.push_back(outcome.claim.item);
  }
  return fenced;
}

Code JobCoordinator::CommitBatch(const std::string& fire_id,
                                 const std::vector<TaskOutcome>& outcomes) {
  std::vector<Op> ops;
  for (const TaskOutcome& outcome : outcomes) {
    int item = outcome.claim.item;
    Json state = {{"committed_fire", fire_id},
                  {"committed_token", outcome.claim.fencing_token},
                  {"committed_by", instance_id_},
                  {"success", outcome.success}};
    // Guarded by the version the claim produced, and deleting the lease: before anyone
    // re-claims, the missing lease refuses a fenced runner; after, the version does.
    ops.push_back(
        Op::SetData(ShardPath(item) + "/state", state.dump(), outcome.claim.state_version));
    ops.push_back(Op::Delete(ShardPath(item) + "/lease"));
  }
  std::vector<registry::OpResult> results;
  Code code = registry_.Multi(ops, &results);
  if (code != Code::kOk) return code;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    shard_states_[outcomes[i].claim.item] =
        ShardState{ops[2 * i].data, results[2 * i].stat.version};
  }
  return Code::kOk;
}

bool JobCoordinator::ReleaseOwnStaleLease(int item) {
  std::string data;
  registry::Stat stat;
  std::string path = ShardPath(item) + "/lease";
  if (registry_.Get(path, &data, &stat, nullptr) != Code::kOk) return false;
  // A job runs one fire at a time on an instance, so a lease this session holds when a new fire
  // is claimed belongs to no running task: its commit never landed. Release it rather than skip
  // the shard for as long as the session lives.
  if (stat.ephemeral_owner != registry_.SessionId()) {
    spdlog::warn("job={} shard={} is held by another runner ({}); not claimed", job_.name, item,
                 data);
    return false;
  }
  Code code = registry_.Delete(path, stat.version);
  spdlog::warn("job={} shard={} releasing this instance's stale lease {}: {}", job_.name, item,
               data, Describe(code));
  return code == Code::kOk || code == Code::kNoNode;
}

}  // namespace shardjob::coordination
