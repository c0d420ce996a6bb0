#pragma once

// This instance's claims and commits on one job's shards (DESIGN §5), under
// <job>/shards/<item>/{state,lease}:
//
//   claim  = one multi for all the fire's items: per item, a SetData of its state guarded by the
//            version last seen ("fire F claimed, nonce N") and the Create of its ephemeral lease.
//            The fencing token is the transaction's zxid: the state's new mzxid, which is also the
//            lease's czxid, larger than every earlier claim's token on the shard.
//   commit = one multi: per item, a SetData of its state guarded by the version the claim
//            produced ("F committed by token T") and the Delete of its lease. Before anyone
//            re-claims, the missing lease refuses a fenced runner; after, the version does.
//
// The versions this instance's own writes produced are cached, so the steady state costs two
// requests per fire and no reads; a stale cache costs one failed guard and a re-read.

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "registry/registry.h"

namespace shardjob::coordination {

struct Claim {
  int item = 0;
  std::int64_t fencing_token = 0;
  std::int32_t state_version = 0;  // the version the commit is guarded by
  std::int64_t session_id = 0;     // the session that made it: the only one it is committed on
  std::string nonce;               // this claim's, as written to the state and the lease
  // The checkpoint an earlier runner of the same fire saved on the shard (a failover resumes).
  std::optional<std::string> checkpoint;
};

enum class CheckpointResult {
  kSaved,
  kFenced,   // the claim is lost: someone else may run the task now
  kUnknown,  // the registry did not answer: the record may or may not be stored
};

struct TaskOutcome {
  Claim claim;
  bool success = false;
};

struct CommitResult {
  std::vector<int> fenced;   // refused: the claim was lost, someone else may run the task
  std::vector<int> unknown;  // the registry did not answer and a re-read could not tell
};

class ShardLedger {
 public:
  ShardLedger(registry::Registry& registry, std::string job_path, std::string job_name,
              std::string instance_id);
  ShardLedger(const ShardLedger&) = delete;
  ShardLedger& operator=(const ShardLedger&) = delete;

  // Creates the state nodes of items [0, total) that do not exist yet.
  registry::Code CreateStates(int total);

  // Claims `items` for a fire. Items already committed for it, or leased by another runner, are
  // left out (and logged). A lease this session holds is a leftover of a commit that never
  // landed (an instance never claims a shard it still runs): it is released, not skipped.
  //
  // A fire at or below the highest committed fire of its family (scheduled instants; triggers)
  // is never claimed again. With `failover`, an item is claimed only while its state still shows
  // this fire claimed and unfinished: a queued failover that the shard has moved past is dropped.
  //
  // `holders`, when given, learns for items left out who has them: the instance that committed
  // the fire on the shard, or that holds its claim for this fire ("" when unknown).
  std::vector<Claim> ClaimFire(const std::string& fire_id, std::vector<int> items,
                               bool failover = false,
                               std::map<int, std::string>* holders = nullptr);
  // A claim made on another session than the current one is refused without a request. An
  // outcome whose earlier commit was unknown may be committed again: it counts as committed if
  // that earlier commit landed, and is sent again (same session, same guard) if not.
  CommitResult Commit(const std::string& fire_id, const std::vector<TaskOutcome>& outcomes);

  // Claims whose runner is gone: the state says "F claimed", F is not committed and no lease
  // exists. Returns fire -> items, read afresh from the registry.
  std::map<std::string, std::vector<int>> FindOrphans(const std::vector<int>& items);

  // Stores `record` as the checkpoint of `claim`'s task: a SetData of the shard's state guarded
  // by the claim's version, which moves `claim->state_version` on (the commit is guarded by the
  // new one, so a runner whose claim is lost can neither save nor commit). Refused without a
  // request when the claim was made on another session.
  CheckpointResult SaveCheckpoint(const std::string& fire_id, Claim* claim,
                                  const std::string& record);

  // Gives claims up without committing: the tasks did not run (cancelled before they started, or
  // stopped by their cancellation flag), so they must run again — failed over, or at the next
  // fire. Each lease is deleted only if nobody re-claimed the shard since.
  void Release(const std::vector<Claim>& claims);

  // item -> its "done_scheduled" watermark (see ClaimFire): from the cache, reading the items
  // not cached (all of them when `fresh`). A shard that never committed a scheduled fire owes
  // the fires since its state node was created: its creation time stands in.
  std::map<int, std::int64_t> ScheduledWatermarks(const std::vector<int>& items, bool fresh);
  // item -> its "done_trigger" watermark: the sequence of the highest trigger committed on it.
  // Items that never committed a trigger are absent.
  std::map<int, std::int64_t> TriggerWatermarks(const std::vector<int>& items, bool fresh);

  // Forgets the cached versions: after a session change they prove nothing. Never blocks (it is
  // called on the event loop while a claim may hold the ledger across retries).
  void Forget();

 private:
  struct ShardState {
    std::string data;  // JSON
    std::int32_t version = 0;
    std::int64_t mzxid = 0;
    std::int64_t ctime_ms = 0;  // the registry's clock; 0 when unknown
  };

  std::string ShardPath(int item) const;
  // REQUIRES: mutex_ held. Applies a pending Forget().
  void CatchUpLocked();
  // REQUIRES: mutex_ held. For an outcome whose earlier commit was unknown: true when that
  // commit landed; otherwise caches the state again if it still carries the claim.
  bool ResolveUnknownLocked(const std::string& fire_id, const TaskOutcome& outcome);
  // REQUIRES: mutex_ held. Applies to `claim` (a copy held by its task, its commit or its
  // release) a checkpoint save of its shard that may have landed unseen: when the state shows it,
  // the claim's guard moves on to its version. False when the state cannot be read.
  bool ResolveCheckpointLocked(Claim* claim);
  std::optional<ShardState> ReadState(int item);
  std::map<int, std::int64_t> Watermarks(const std::vector<int>& items, bool fresh,
                                         const char* watermark, bool from_creation);
  registry::Code CommitBatch(const std::string& fire_id, const std::vector<TaskOutcome>& outcomes);
  bool ReleaseOwnStaleLease(int item);
  // After a claim whose outcome is unknown: the items whose lease carries our nonce and whose
  // state was written by the same transaction are ours.
  std::vector<Claim> AdoptAfterUnknownOutcome(const std::string& fire_id,
                                              const std::vector<int>& items,
                                              const std::vector<std::string>& nonces);
  // The `unguarded_commit` failpoint: a commit as a broken build would send it (no version
  // guard, no lease delete, on whatever session is current), for the fault tests' checker.
  void CommitUnguardedForTests(const std::string& fire_id,
                               const std::vector<TaskOutcome>& outcomes);
  // After a commit whose outcome is unknown: true when the state shows this very commit.
  bool CommittedAfterUnknownOutcome(const std::string& fire_id, const TaskOutcome& outcome);

  registry::Registry& registry_;
  const std::string job_path_;
  const std::string job_name_;
  const std::string instance_id_;

  std::atomic<std::uint64_t> forget_epoch_{0};
  std::mutex mutex_;  // held across a claim's or commit's round trips
  std::uint64_t seen_forget_epoch_ = 0;
  std::map<int, ShardState> states_;
  std::set<int> unresolved_;  // items whose last commit's outcome is unknown
  // A checkpoint save whose landing was not seen (its reply was lost, and the read after it
  // failed or may have lagged): while it may have landed, every use of its claim (a save, the
  // commit, the release) checks whether the state is what it wrote, and then guards with its
  // version. Kept until the claim is committed, released or superseded.
  struct PendingCheckpoint {
    std::string nonce;  // of the claim that saved it
    std::int32_t version = 0;
    std::string data;
    std::string record;
  };
  std::map<int, PendingCheckpoint> unresolved_checkpoints_;
  std::uint64_t claim_counter_ = 0;
};

}  // namespace shardjob::coordination
