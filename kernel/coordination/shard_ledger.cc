#include "coordination/shard_ledger.h"

#include <chrono>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>

#include "coordination/registry_json.h"
#include "failpoint/failpoint.h"

namespace shardjob::coordination {

using registry::Code;
using registry::NodeMode;
using registry::Op;

namespace {

// How long a read after an unknown outcome keeps retrying while the connection comes back.
constexpr int kRereadAttempts = 30;
constexpr auto kRereadPause = std::chrono::milliseconds(100);

// Fire ids come in two families that each grow: scheduled fires (the scheduled instant in epoch
// milliseconds) and one-off triggers ("trigger-<sequence>"). A shard's state keeps the highest
// committed fire of each, so that no fire at or below it is ever claimed again (G2), whatever
// was committed in between.
constexpr const char* kScheduledWatermark = "done_scheduled";
constexpr const char* kTriggerWatermark = "done_trigger";
constexpr std::string_view kTriggerPrefix = "trigger-";

struct FireOrder {
  const char* watermark = nullptr;  // null: the id is in neither family
  std::int64_t position = 0;
};

FireOrder OrderOf(const std::string& fire_id) {
  auto digits_from = [&](std::size_t start) -> std::optional<std::int64_t> {
    if (start >= fire_id.size() || fire_id.size() - start > 18) return std::nullopt;
    std::int64_t value = 0;
    for (std::size_t i = start; i < fire_id.size(); ++i) {
      if (fire_id[i] < '0' || fire_id[i] > '9') return std::nullopt;
      value = value * 10 + (fire_id[i] - '0');
    }
    return value;
  };
  if (auto scheduled = digits_from(0)) return FireOrder{kScheduledWatermark, *scheduled};
  if (fire_id.rfind(kTriggerPrefix, 0) == 0) {
    if (auto sequence = digits_from(kTriggerPrefix.size())) {
      return FireOrder{kTriggerWatermark, *sequence};
    }
  }
  return FireOrder{};
}

// True when `fire_id` was committed on the shard, or a later fire of its family was.
bool AlreadyDone(const Json& state, const std::string& fire_id) {
  if (StringField(state, "committed_fire") == fire_id) return true;
  FireOrder order = OrderOf(fire_id);
  return order.watermark != nullptr && state.contains(order.watermark) &&
         IntField(state, order.watermark) >= order.position;
}

// A shard's state keeps the checkpoint of the task that holds (or last held) its claim:
// {"fire": F, "record": R}. Only a runner of the same fire resumes from it.
constexpr const char* kCheckpoint = "checkpoint";

std::optional<std::string> CheckpointFor(const Json& state, const std::string& fire_id) {
  auto it = state.find(kCheckpoint);
  if (it == state.end() || !it->is_object() || StringField(*it, "fire") != fire_id) {
    return std::nullopt;
  }
  auto record = it->find("record");
  if (record == it->end() || !record->is_string()) return std::nullopt;
  return record->get<std::string>();
}

// Retries a read while the connection is down, for a bounded time.
template <typename Read>
Code ReadWithRetry(Read read) {
  Code code = read();
  for (int attempt = 1; attempt < kRereadAttempts && code == Code::kConnectionLoss; ++attempt) {
    std::this_thread::sleep_for(kRereadPause);
    code = read();
  }
  return code;
}

}  // namespace

ShardLedger::ShardLedger(registry::Registry& registry, std::string job_path, std::string job_name,
                         std::string instance_id)
    : registry_(registry),
      job_path_(std::move(job_path)),
      job_name_(std::move(job_name)),
      instance_id_(std::move(instance_id)) {}

std::string ShardLedger::ShardPath(int item) const {
  return job_path_ + "/shards/" + std::to_string(item);
}

Code ShardLedger::CreateStates(int total) {
  for (int item = 0; item < total; ++item) {
    Code code = registry_.Create(ShardPath(item), "", NodeMode::kPersistent, nullptr);
    if (code == Code::kOk || code == Code::kNodeExists) {
      code = registry_.Create(ShardPath(item) + "/state", "{}", NodeMode::kPersistent, nullptr);
    }
    if (code != Code::kOk && code != Code::kNodeExists) return code;
  }
  return Code::kOk;
}

void ShardLedger::Forget() { ++forget_epoch_; }

void ShardLedger::CatchUpLocked() {
  std::uint64_t epoch = forget_epoch_.load();
  if (epoch != seen_forget_epoch_) {
    states_.clear();
    seen_forget_epoch_ = epoch;
  }
}

bool ShardLedger::ResolveUnknownLocked(const std::string& fire_id, const TaskOutcome& outcome) {
  const int item = outcome.claim.item;
  if (CommittedAfterUnknownOutcome(fire_id, outcome)) {
    unresolved_.erase(item);
    return true;
  }
  std::optional<ShardState> state = ReadState(item);
  if (state && state->version == outcome.claim.state_version) {
    states_[item] = std::move(*state);  // still our claim's state: the commit can go again
  }
  unresolved_.erase(item);  // from here the guarded commit tells
  return false;
}

void ShardLedger::Release(const std::vector<Claim>& claims) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (Claim claim : claims) {
    ResolveCheckpointLocked(&claim);
    unresolved_checkpoints_.erase(claim.item);
    // Only while nobody re-claimed since (the state still has our claim's version) is the lease
    // ours to delete: after a session change another runner's lease may sit at the same path.
    std::string path = ShardPath(claim.item);
    std::vector<registry::OpResult> results;
    Code code = registry_.Multi(
        {Op::Check(path + "/state", claim.state_version), Op::Delete(path + "/lease")}, &results);
    states_.erase(claim.item);
    spdlog::info(
        "job={} shard={} claim released without a commit ({}): it is failed over, or run "
        "at the next fire",
        job_name_, claim.item, registry::CodeName(code));
  }
}

std::optional<ShardLedger::ShardState> ShardLedger::ReadState(int item) {
  ShardState state;
  registry::Stat stat;
  std::string path = ShardPath(item) + "/state";
  Code code = registry_.Get(path, &state.data, &stat, nullptr);
  if (code == Code::kNoNode) {
    // The shard count grew since this instance started: create the state. State nodes are never
    // deleted, so a version seen once can never be seen again by a different node.
    registry::EnsurePath(registry_, ShardPath(item));
    code = registry_.Create(path, "{}", NodeMode::kPersistent, nullptr);
    if (code == Code::kOk || code == Code::kNodeExists) {
      code = registry_.Get(path, &state.data, &stat, nullptr);
    }
  }
  if (code != Code::kOk) {
    spdlog::error("job={} shard={} cannot read its state: {}", job_name_, item,
                  registry::CodeName(code));
    return std::nullopt;
  }
  state.version = stat.version;
  state.mzxid = stat.mzxid;
  state.ctime_ms = stat.ctime_ms;
  return state;
}

std::vector<Claim> ShardLedger::ClaimFire(const std::string& fire_id, std::vector<int> items,
                                          bool failover, std::map<int, std::string>* holders) {
  std::map<int, std::string> claimed_by;  // items whose state shows this fire claimed: by whom
  std::lock_guard<std::mutex> lock(mutex_);
  CatchUpLocked();
  if (failover) {
    // Read afresh: a failover claim stands only while the state still shows the unfinished fire.
    for (int item : items) states_.erase(item);
  }
  // Each failed attempt drops, refreshes or releases the one item that failed, so this ends.
  for (std::size_t attempt = 0; attempt <= 2 * items.size() + 1 && !items.empty(); ++attempt) {
    std::vector<Op> ops;
    std::vector<std::string> nonces;
    for (auto it = items.begin(); it != items.end();) {
      auto cached = states_.find(*it);
      if (cached == states_.end()) {
        std::optional<ShardState> state = ReadState(*it);
        if (!state) {
          it = items.erase(it);
          continue;
        }
        cached = states_.emplace(*it, std::move(*state)).first;
      }
      Json state = ParseObject(cached->second.data);
      if (AlreadyDone(state, fire_id)) {
        if (holders != nullptr) (*holders)[*it] = StringField(state, "committed_by");
        spdlog::info(
            "job={} fire={} shard={} already committed (or a later fire was); not run "
            "again",
            job_name_, fire_id, *it);
        it = items.erase(it);
        continue;
      }
      std::string unfinished = StringField(state, "claimed_fire");
      if (unfinished == fire_id) claimed_by[*it] = StringField(state, "claimed_by");
      if (failover && unfinished != fire_id) {
        spdlog::info("job={} fire={} shard={} no longer needs a failover (the state shows {})",
                     job_name_, fire_id, *it, unfinished.empty() ? "no open claim" : unfinished);
        it = items.erase(it);
        continue;
      }
      if (!unfinished.empty() && unfinished != fire_id &&
          unfinished != StringField(state, "committed_fire")) {
        // An orphaned claim nobody failed over (failover off, or the new owner was late): this
        // fire supersedes it. Said, not silent; the misfire policies decide more.
        spdlog::warn("job={} shard={} fire {} was never finished; fire {} supersedes it", job_name_,
                     *it, unfinished, fire_id);
      }
      std::string nonce = instance_id_ + "#" + std::to_string(++claim_counter_);
      // Another fire's progress means nothing to this one.
      if (!CheckpointFor(state, fire_id)) state.erase(kCheckpoint);
      state["claimed_fire"] = fire_id;
      state["claimed_by"] = instance_id_;
      state["claim_nonce"] = nonce;
      ops.push_back(Op::SetData(ShardPath(*it) + "/state", state.dump(), cached->second.version));
      Json lease = {{"fire", fire_id}, {"instance", instance_id_}, {"nonce", nonce}};
      ops.push_back(Op::Create(ShardPath(*it) + "/lease", lease.dump(), NodeMode::kEphemeral));
      nonces.push_back(std::move(nonce));
      ++it;
    }
    if (items.empty()) break;
    std::vector<registry::OpResult> results;
    // The claim belongs to the session its multi went out on: the only one it is committed on.
    // A session that changed around the request leaves that unknown, like a lost reply.
    const std::int64_t session = registry_.SessionId();
    Code code = registry_.Multi(ops, &results);
    if (code == Code::kOk && registry_.SessionId() != session) code = Code::kConnectionLoss;
    if (code == Code::kOk) {
      std::vector<Claim> claims;
      for (std::size_t i = 0; i < items.size(); ++i) {
        const registry::Stat& stat = results[2 * i].stat;
        states_[items[i]] = ShardState{ops[2 * i].data, stat.version, stat.mzxid, stat.ctime_ms};
        unresolved_checkpoints_.erase(items[i]);  // a new claim: an older save means nothing
        claims.push_back(Claim{items[i], stat.mzxid, stat.version, session, nonces[i],
                               CheckpointFor(ParseObject(ops[2 * i].data), fire_id)});
      }
      return claims;
    }
    if (code == Code::kConnectionLoss) return AdoptAfterUnknownOutcome(fire_id, items, nonces);
    std::size_t failed = 0;
    while (failed < results.size() && results[failed].code == Code::kOk) ++failed;
    if (failed >= results.size()) {
      spdlog::error("job={} fire={} claim failed: {}", job_name_, fire_id,
                    registry::CodeName(code));
      states_.clear();
      return {};
    }
    int item = items[failed / 2];
    states_.erase(item);  // stale: re-read on the next attempt
    Code cause = results[failed].code;
    bool keep =
        cause == Code::kBadVersion || (cause == Code::kNodeExists && ReleaseOwnStaleLease(item));
    if (!keep) {
      if (holders != nullptr) (*holders)[item] = claimed_by[item];
      if (cause != Code::kNodeExists) {
        spdlog::error("job={} fire={} shard={} claim failed: {}", job_name_, fire_id, item,
                      registry::CodeName(cause));
      }
      items.erase(items.begin() + static_cast<std::ptrdiff_t>(failed / 2));
    }
  }
  return {};
}

std::vector<Claim> ShardLedger::AdoptAfterUnknownOutcome(const std::string& fire_id,
                                                         const std::vector<int>& items,
                                                         const std::vector<std::string>& nonces) {
  states_.clear();
  std::vector<Claim> adopted;
  for (std::size_t i = 0; i < items.size(); ++i) {
    std::string lease_data;
    registry::Stat lease_stat;
    std::string lease_path = ShardPath(items[i]) + "/lease";
    if (ReadWithRetry([&] {
          return registry_.Get(lease_path, &lease_data, &lease_stat, nullptr);
        }) != Code::kOk) {
      continue;
    }
    std::optional<ShardState> state = ReadState(items[i]);
    // "Mine" is the nonce of this very claim and a state written by the same transaction, never
    // "the lease belongs to my session": every job of the process shares the session.
    if (!state || StringField(ParseObject(lease_data), "nonce") != nonces[i] ||
        state->mzxid != lease_stat.czxid) {
      continue;
    }
    states_[items[i]] = *state;
    adopted.push_back(Claim{items[i], lease_stat.czxid, state->version, lease_stat.ephemeral_owner,
                            nonces[i], CheckpointFor(ParseObject(state->data), fire_id)});
  }
  spdlog::warn("job={} a claim's outcome was unknown; {} of {} shard(s) turned out to be ours",
               job_name_, adopted.size(), items.size());
  return adopted;
}

bool ShardLedger::ResolveCheckpointLocked(Claim* claim) {
  auto pending = unresolved_checkpoints_.find(claim->item);
  if (pending == unresolved_checkpoints_.end()) return true;
  if (pending->second.nonce != claim->nonce) {
    unresolved_checkpoints_.erase(pending);  // another claim's
    return true;
  }
  if (claim->state_version >= pending->second.version) return true;  // known already
  std::optional<ShardState> state = ReadState(claim->item);
  if (!state) return false;
  if (state->version == pending->second.version && state->data == pending->second.data) {
    // The save whose reply was lost had landed: the claim's guard is the version it wrote. The
    // entry stays until the claim is committed or released, for every copy of the claim.
    claim->state_version = state->version;
    claim->checkpoint = pending->second.record;
  }
  states_[claim->item] = std::move(*state);
  return true;
}

CheckpointResult ShardLedger::SaveCheckpoint(const std::string& fire_id, Claim* claim,
                                             const std::string& record) {
  std::lock_guard<std::mutex> lock(mutex_);
  CatchUpLocked();
  const int item = claim->item;
  if (claim->session_id != registry_.SessionId()) {
    spdlog::error(
        "job={} fire={} shard={} checkpoint refused: its claim was made on another "
        "session (fenced)",
        job_name_, fire_id, item);
    return CheckpointResult::kFenced;
  }
  if (!ResolveCheckpointLocked(claim)) return CheckpointResult::kUnknown;
  auto cached = states_.find(item);
  if (cached == states_.end() || cached->second.version != claim->state_version) {
    std::optional<ShardState> state = ReadState(item);
    if (!state) return CheckpointResult::kUnknown;
    if (state->version != claim->state_version) {
      spdlog::error(
          "job={} fire={} shard={} checkpoint refused: the shard's state moved on "
          "since the claim (fenced)",
          job_name_, fire_id, item);
      states_.erase(item);
      return CheckpointResult::kFenced;
    }
    cached = states_.insert_or_assign(item, std::move(*state)).first;
  }
  Json state = ParseObject(cached->second.data);
  state[kCheckpoint] = {{"fire", fire_id}, {"record", record}};
  std::string data = state.dump();
  registry::Stat stat;
  const std::string path = ShardPath(item) + "/state";
  Code code = registry_.Set(path, data, claim->state_version, &stat);
  if (code == Code::kConnectionLoss) {
    // The write may have landed with its reply lost: it did if the state is exactly what it
    // wrote, one version on.
    std::optional<ShardState> now;
    if (ReadWithRetry([&] {
          ShardState read;
          registry::Stat read_stat;
          Code read_code = registry_.Get(path, &read.data, &read_stat, nullptr);
          if (read_code == Code::kOk) {
            read.version = read_stat.version;
            read.mzxid = read_stat.mzxid;
            read.ctime_ms = read_stat.ctime_ms;
            now = std::move(read);
          }
          return read_code;
        }) != Code::kOk ||
        !now) {
      states_.erase(item);
      // Settled by the next save, the commit or the release, which read the state first.
      unresolved_checkpoints_[item] =
          PendingCheckpoint{claim->nonce, claim->state_version + 1, data, record};
      return CheckpointResult::kUnknown;
    }
    if (now->version == claim->state_version + 1 && now->data == data) {
      code = Code::kOk;
      stat.version = now->version;
      stat.mzxid = now->mzxid;
      stat.ctime_ms = now->ctime_ms;
    } else if (now->version == claim->state_version) {
      // Not stored, as far as this read shows (a lagging server may show an older state): kept
      // as a possibility that later reads settle.
      states_[item] = std::move(*now);
      unresolved_checkpoints_[item] =
          PendingCheckpoint{claim->nonce, claim->state_version + 1, data, record};
      return CheckpointResult::kUnknown;
    } else {
      code = Code::kBadVersion;
    }
  }
  if (code != Code::kOk) {
    states_.erase(item);
    if (code == Code::kBadVersion || code == Code::kNoNode || code == Code::kSessionExpired) {
      spdlog::error("job={} fire={} shard={} checkpoint refused ({}): the claim was lost (fenced)",
                    job_name_, fire_id, item, registry::CodeName(code));
      return CheckpointResult::kFenced;
    }
    spdlog::error("job={} fire={} shard={} checkpoint not saved: {}", job_name_, fire_id, item,
                  registry::CodeName(code));
    return CheckpointResult::kUnknown;
  }
  states_[item] = ShardState{data, stat.version, stat.mzxid, stat.ctime_ms};
  unresolved_checkpoints_.erase(item);  // this save moved the claim past it
  claim->state_version = stat.version;
  claim->checkpoint = record;
  return CheckpointResult::kSaved;
}

CommitResult ShardLedger::Commit(const std::string& fire_id,
                                 const std::vector<TaskOutcome>& outcomes) {
  CommitResult result;
  if (outcomes.empty()) return result;
  std::lock_guard<std::mutex> lock(mutex_);
  if (failpoint::Enabled("unguarded_commit")) {
    CommitUnguardedForTests(fire_id, outcomes);
    return result;
  }
  CatchUpLocked();
  const std::int64_t session = registry_.SessionId();
  std::vector<TaskOutcome> to_send;
  for (const TaskOutcome& outcome : outcomes) {
    int item = outcome.claim.item;
    if (outcome.claim.session_id != session) {
      if (unresolved_.count(item) && CommittedAfterUnknownOutcome(fire_id, outcome)) {
        unresolved_.erase(item);  // the commit that was unknown had landed before the change
        continue;
      }
      // Never resent on a new session: ZooKeeper's delete does not check the lease's owner, and
      // the version may have been reached again by another claimer's writes.
      spdlog::error(
          "job={} fire={} shard={} commit refused: its claim was made on session {:x}, the "
          "session is now {:x} (fenced)",
          job_name_, fire_id, item, outcome.claim.session_id, session);
      result.fenced.push_back(item);
      states_.erase(item);
      unresolved_.erase(item);
      continue;
    }
    // The guard is the version of the claim's last checkpoint, which a lost reply may have hidden.
    TaskOutcome sending = outcome;
    if (!ResolveCheckpointLocked(&sending.claim)) {
      spdlog::error("job={} fire={} shard={} commit outcome unknown: the registry did not answer",
                    job_name_, fire_id, item);
      result.unknown.push_back(item);
      continue;
    }
    if (unresolved_.count(item) && ResolveUnknownLocked(fire_id, sending)) {
      spdlog::info("job={} fire={} shard={} the commit whose outcome was unknown had landed",
                   job_name_, fire_id, item);
      unresolved_checkpoints_.erase(item);
      continue;
    }
    to_send.push_back(sending);
  }
  if (to_send.empty()) return result;
  const std::vector<TaskOutcome>& outcomes_to_send = to_send;
  Code batch = CommitBatch(fire_id, outcomes_to_send);
  if (batch == Code::kOk) return result;
  // The batch may have landed with its reply lost: then each task is already committed, and a
  // second try would be refused by the guards it moved on.
  const bool batch_unknown = batch == Code::kConnectionLoss || batch == Code::kSessionExpired;
  // Otherwise one lost claim failed the whole multi: commit the tasks one by one to keep the
  // others.
  for (const TaskOutcome& outcome : outcomes_to_send) {
    int item = outcome.claim.item;
    if (batch_unknown && CommittedAfterUnknownOutcome(fire_id, outcome)) {
      states_.erase(item);
      continue;
    }
    Code code = CommitBatch(fire_id, {outcome});
    if (code == Code::kOk) continue;
    states_.erase(item);
    if (code == Code::kConnectionLoss || code == Code::kSessionExpired) {
      if (CommittedAfterUnknownOutcome(fire_id, outcome)) continue;
      if (code == Code::kConnectionLoss) {
        spdlog::error("job={} fire={} shard={} commit outcome unknown: the registry did not answer",
                      job_name_, fire_id, item);
        result.unknown.push_back(item);
        unresolved_.insert(item);  // the runner commits it again once the registry answers
        continue;
      }
    }
    spdlog::error("job={} fire={} shard={} commit refused ({}): the claim was lost (fenced)",
                  job_name_, fire_id, item, registry::CodeName(code));
    result.fenced.push_back(item);
  }
  return result;
}

Code ShardLedger::CommitBatch(const std::string& fire_id,
                              const std::vector<TaskOutcome>& outcomes) {
  std::vector<Op> ops;
  FireOrder order = OrderOf(fire_id);
  for (const TaskOutcome& outcome : outcomes) {
    int item = outcome.claim.item;
    // The claim wrote the state this commit replaces, and the cache holds what it wrote: carry
    // its watermarks forward.
    auto claimed = states_.find(item);
    if (claimed == states_.end()) {
      // Not cached (a Forget, an adoption, a failed read cleared it): the claim's own state is
      // read again, so the watermarks it carries are never dropped. Another version fails the
      // guard anyway.
      std::optional<ShardState> state = ReadState(item);
      if (state && state->version == outcome.claim.state_version) {
        claimed = states_.emplace(item, std::move(*state)).first;
      }
    }
    Json previous = claimed == states_.end() ? Json::object() : ParseObject(claimed->second.data);
    Json state = {{"committed_fire", fire_id},
                  {"committed_token", outcome.claim.fencing_token},
                  {"committed_by", instance_id_},
                  {"success", outcome.success}};
    for (const char* watermark : {kScheduledWatermark, kTriggerWatermark}) {
      if (previous.contains(watermark)) state[watermark] = IntField(previous, watermark);
    }
    if (order.watermark != nullptr) {
      state[order.watermark] = std::max(IntField(previous, order.watermark), order.position);
    }
    ops.push_back(
        Op::SetData(ShardPath(item) + "/state", state.dump(), outcome.claim.state_version));
    ops.push_back(Op::Delete(ShardPath(item) + "/lease"));
  }
  std::vector<registry::OpResult> results;
  Code code = registry_.Multi(ops, &results);
  if (code != Code::kOk) return code;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const registry::Stat& stat = results[2 * i].stat;
    states_[outcomes[i].claim.item] =
        ShardState{ops[2 * i].data, stat.version, stat.mzxid, stat.ctime_ms};
    unresolved_checkpoints_.erase(outcomes[i].claim.item);
  }
  return Code::kOk;
}

void ShardLedger::CommitUnguardedForTests(const std::string& fire_id,
                                          const std::vector<TaskOutcome>& outcomes) {
  for (const TaskOutcome& outcome : outcomes) {
    Json state = {{"committed_fire", fire_id},
                  {"committed_token", outcome.claim.fencing_token},
                  {"committed_by", instance_id_},
                  {"success", outcome.success}};
    std::string path = ShardPath(outcome.claim.item) + "/state";
    Code code = ReadWithRetry(
        [&] { return registry_.Set(path, state.dump(), registry::kAnyVersion, nullptr); });
    spdlog::warn("job={} fire={} shard={} committed WITHOUT its guard (failpoint): {}", job_name_,
                 fire_id, outcome.claim.item, registry::CodeName(code));
    states_.erase(outcome.claim.item);
  }
}

bool ShardLedger::CommittedAfterUnknownOutcome(const std::string& fire_id,
                                               const TaskOutcome& outcome) {
  std::string data;
  std::string path = ShardPath(outcome.claim.item) + "/state";
  if (ReadWithRetry([&] { return registry_.Get(path, &data, nullptr, nullptr); }) != Code::kOk) {
    return false;
  }
  Json state = ParseObject(data);
  return StringField(state, "committed_fire") == fire_id &&
         IntField(state, "committed_token") == outcome.claim.fencing_token;
}

bool ShardLedger::ReleaseOwnStaleLease(int item) {
  std::string data;
  registry::Stat stat;
  std::string path = ShardPath(item) + "/lease";
  std::optional<ShardState> state = ReadState(item);
  if (!state || registry_.Get(path, &data, &stat, nullptr) != Code::kOk) return false;
  if (stat.ephemeral_owner != registry_.SessionId()) {
    spdlog::warn("job={} shard={} is held by another runner ({}); not claimed", job_name_, item,
                 data);
    return false;
  }
  // Guarded by the state as read with the lease: a delete alone does not check the lease's owner,
  // and between the read and the delete this session may expire and another runner claim the
  // shard (its claim moves the state on, so this multi then fails instead of deleting its lease).
  std::vector<registry::OpResult> results;
  Code code = registry_.Multi(
      {Op::Check(ShardPath(item) + "/state", state->version), Op::Delete(path, stat.version)},
      &results);
  spdlog::warn("job={} shard={} releasing this instance's stale lease {}: {}", job_name_, item,
               data, registry::CodeName(code));
  return code == Code::kOk || code == Code::kNoNode;
}

std::map<int, std::int64_t> ShardLedger::ScheduledWatermarks(const std::vector<int>& items,
                                                             bool fresh) {
  // A shard that never committed a scheduled fire owes the fires since its state node was
  // created: its creation time stands in.
  return Watermarks(items, fresh, kScheduledWatermark, /*from_creation=*/true);
}

std::map<int, std::int64_t> ShardLedger::TriggerWatermarks(const std::vector<int>& items,
                                                           bool fresh) {
  return Watermarks(items, fresh, kTriggerWatermark, /*from_creation=*/false);
}

std::map<int, std::int64_t> ShardLedger::Watermarks(const std::vector<int>& items, bool fresh,
                                                    const char* watermark, bool from_creation) {
  std::map<int, std::int64_t> watermarks;
  std::lock_guard<std::mutex> lock(mutex_);
  CatchUpLocked();
  for (int item : items) {
    if (fresh) states_.erase(item);  // another instance may have run it since
    auto cached = states_.find(item);
    if (cached == states_.end()) {
      std::optional<ShardState> state = ReadState(item);
      if (!state) continue;
      cached = states_.emplace(item, std::move(*state)).first;
    }
    Json state = ParseObject(cached->second.data);
    if (state.contains(watermark)) {
      watermarks[item] = IntField(state, watermark);
    } else if (from_creation && cached->second.ctime_ms > 0) {
      watermarks[item] = cached->second.ctime_ms;
    }
  }
  return watermarks;
}

std::map<std::string, std::vector<int>> ShardLedger::FindOrphans(const std::vector<int>& items) {
  std::map<std::string, std::vector<int>> orphans;
  for (int item : items) {
    std::string data;
    if (registry_.Get(ShardPath(item) + "/state", &data, nullptr, nullptr) != Code::kOk) continue;
    Json state = ParseObject(data);
    std::string claimed = StringField(state, "claimed_fire");
    if (claimed.empty() || claimed == StringField(state, "committed_fire")) continue;
    if (registry_.Exists(ShardPath(item) + "/lease", nullptr, nullptr) != Code::kNoNode) continue;
    orphans[claimed].push_back(item);
  }
  return orphans;
}

}  // namespace shardjob::coordination
