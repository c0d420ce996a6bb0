#pragma once

// One job's part in the registry (layout in DESIGN §4, under /<namespace>/jobs/<job>):
//
//   instances/<id>          ephemeral   this instance runs the job
//   leader/candidate-<seq>  ephemeral   election: the lowest sequence leads; each candidate
//                                       watches only its predecessor
//   assignment              persistent  item -> instance map, written by the leader in one write
//   shards/<item>/state     persistent  last committed fire and token; its version guards claims
//   shards/<item>/lease     ephemeral   who runs the item now, for which fire
//
// A fire costs this instance two registry requests whatever its shard count: one multi that
// claims all of its items (guarded state write + lease create per item; the fencing token is the
// transaction id that created the lease) and one multi that commits them (guarded state write +
// lease delete per item). A runner whose lease or state version changed under it cannot commit.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.h"
#include "coordination/event_loop.h"
#include "registry/registry.h"
#include "shardjob/spi/sharding_strategy.h"

namespace shardjob::coordination {

// The registry refused or failed a step that the job cannot go on without.
class CoordinationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Claim {
  int item = 0;
  std::int64_t fencing_token = 0;
  std::int32_t state_version = 0;  // the version the commit is guarded by
};

struct TaskOutcome {
  Claim claim;
  bool success = false;
};

class JobCoordinator : public std::enable_shared_from_this<JobCoordinator> {
 public:
  JobCoordinator(registry::Registry& registry, EventLoop& events, std::string root,
                 const config::JobConfig& job, std::shared_ptr<spi::ShardingStrategy> strategy,
                 std::string instance_id);
  JobCoordinator(const JobCoordinator&) = delete;
  JobCoordinator& operator=(const JobCoordinator&) = delete;

  // Registers this instance, joins the election and reads the assignment. Throws
  // CoordinationError.
  void Start();
  // Deregisters at once, so the leader moves this instance's items without waiting for a session
  // to expire.
  void Stop();

  // Claims this instance's items for a fire. Items already committed for this fire, or leased by
  // another runner, are left out (and logged).
  std::vector<Claim> ClaimFire(const std::string& fire_id);
  // Commits the fire's tasks. Returns the items whose commit was refused because the claim was
  // lost (fenced).
  std::vector<int> Commit(const std::string& fire_id, const std::vector<TaskOutcome>& outcomes);

  bool IsLeader() const;
  std::vector<int> LocalItems() const;
  // The whole assignment as last read: instance id -> items.
  std::map<std::string, std::vector<int>> Assignment() const;

 private:
  struct ShardState {
    std::string data;  // JSON
    std::int32_t version = 0;
  };

  std::string JobPath() const { return root_ + "/jobs/" + job_.name; }
  std::string ShardPath(int item) const;

  // Each runs on the event loop (or in Start) and re-arms its own watch.
  void Elect();
  void RefreshInstances();
  void RefreshAssignment();
  void Reshard();

  registry::Watcher PostToLoop(void (JobCoordinator::*step)());
  std::optional<ShardState> ReadState(int item);
  // One multi committing every outcome; updates the cached versions when it succeeds.
  registry::Code CommitBatch(const std::string& fire_id, const std::vector<TaskOutcome>& outcomes);
  // True when the lease on `item` was this session's own leftover and is now gone.
  bool ReleaseOwnStaleLease(int item);

  registry::Registry& registry_;
  EventLoop& events_;
  const std::string root_;
  const config::JobConfig job_;
  const std::shared_ptr<spi::ShardingStrategy> strategy_;
  const std::string instance_id_;

  // Held by every step (Elect, RefreshInstances, RefreshAssignment and the Reshard they call),
  // whether Start or the event loop runs it, and by Stop: one coordinator's steps never overlap,
  // so a slower, older read can never overwrite a newer one, and none runs once Stop returns.
  std::mutex steps_mutex_;
  mutable std::mutex mutex_;
  bool stopped_ = false;
  bool leader_ = false;
  std::string candidate_path_;
  std::vector<std::string> live_instances_;  // enabled ones, as last read
  std::map<std::string, std::vector<int>> assignment_;
  std::string assignment_json_;

  std::mutex claims_mutex_;                 // held across a claim's or commit's registry round trip
  std::map<int, ShardState> shard_states_;  // the versions this instance's own writes produced
  std::atomic<std::uint64_t> claim_counter_{0};
};

}  // namespace shardjob::coordination
