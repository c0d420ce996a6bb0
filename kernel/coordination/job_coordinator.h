#pragma once

// One job's part in the registry (DESIGN §4), under /<namespace>/jobs/<job>:
//
//   config                  persistent  the job's config (JSON); the YAML only seeds it
//   instances/<id>          ephemeral   this instance runs the job
//   leader/candidate-<seq>  ephemeral   election: the lowest sequence leads; each candidate
//                                       watches only its predecessor (no herd)
//   assignment              persistent  instance -> items, written by the leader in one write
//   disabled                persistent  {"shards": [...], "instances": [...]} left out of the
//                                       assignment (written by operators)
//   shards/<item>/state     persistent  claims and commits, see ShardLedger
//   shards/<item>/lease     ephemeral
//   triggers/trigger-<seq>  persistent  one-off fires requested through the registry
//   once/<fire>             persistent  cluster-once listeners: committed shards of the fire
//   next-instance           persistent  who runs the next fire of a SINGLE_SHARDING_BALANCE job
//                                       with one shard
//
// The coordinator reacts to registry events on the process's EventLoop. A lost connection
// stops claims at once; once the session timeout passes without contact, or the session
// expires, running tasks are told their claims are lost; when the registry hands out a new
// session, the instance registers again and rejoins — it never shuts the job down for good.

#include <atomic>
#include <chrono>
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
#include "coordination/shard_ledger.h"
#include "coordination/shard_plans.h"
#include "registry/registry.h"
#include "shardjob/spi/sharding_strategy.h"

namespace shardjob::coordination {

// The registry refused or failed a step that the job cannot start without.
class CoordinationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What the coordinator tells the rest of the instance. Called on the event loop; must not block.
class JobEvents {
 public:
  virtual ~JobEvents();
  // The registry no longer vouches for this instance's claims: cancel running tasks.
  virtual void OnClaimsLost() = 0;
  // Shards whose runner is gone left fire `fire_id` unfinished: run them for that fire.
  virtual void OnOrphanedShards(const std::string& fire_id, const std::vector<int>& items) = 0;
  // A one-off fire was requested through the registry.
  virtual void OnTrigger(const std::string& fire_id) = 0;
  // The job's config in the registry changed.
  virtual void OnConfigChanged(const config::JobConfig& job) = 0;
  // This instance took shards on: at start, from a new assignment, or after the registry was
  // out of reach. Their fires that nobody ran may be due (the misfire policy decides).
  virtual void OnItemsGained(const std::vector<int>& items);
  // Shards this instance held were assigned to another one.
  virtual void OnItemsLost(const std::vector<int>& items);
  // The job's config node is gone: the job was deleted (an operator, the API, `shardjob ctl`).
  // The instance stops the job and leaves; the coordinator does nothing more on its own.
  virtual void OnConfigDeleted();
};

struct CoordinatorOptions {
  // After this long without contact the session is presumed lost (ZooKeeper's own timeout).
  std::chrono::milliseconds session_timeout{15000};
  // The job's config was in the registry before Start (SeedConfig wrote or read it, or the job
  // was found there): a config missing from then on means the job was deleted, even one deleted
  // before this coordinator first read it.
  bool config_in_registry = false;
};

class JobCoordinator : public std::enable_shared_from_this<JobCoordinator> {
 public:
  // `events` must outlive the coordinator's Stop().
  JobCoordinator(registry::Registry& registry, EventLoop& loop, std::string root,
                 const config::JobConfig& job, std::shared_ptr<spi::ShardingStrategy> strategy,
                 std::string instance_id, JobEvents* events = nullptr,
                 CoordinatorOptions options = {});
  JobCoordinator(const JobCoordinator&) = delete;
  JobCoordinator& operator=(const JobCoordinator&) = delete;

  // The config a job runs with: the registry's, unless there is none yet or the file says
  // `overwrite: true` — then the file's, written to the registry. Throws CoordinationError.
  static config::JobConfig SeedConfig(registry::Registry& registry, const std::string& root,
                                      const config::JobConfig& local);

  // Checks the clock (max_time_diff_seconds), registers this instance, joins the election,
  // reads the assignment and starts watching. Throws CoordinationError.
  void Start();
  // Deregisters at once, so the leader moves this instance's items without waiting for a session
  // to expire. No step runs once it returns.
  void Stop();

  // Claims this instance's items (or `items`) for a fire. A `failover` claim takes an item only
  // while its state still shows this fire unfinished. Empty while the registry is unreachable.
  // `holders`: see ShardLedger::ClaimFire.
  std::vector<Claim> ClaimFire(const std::string& fire_id,
                               const std::optional<std::vector<int>>& items = std::nullopt,
                               bool failover = false,
                               std::map<int, std::string>* holders = nullptr);
  CommitResult Commit(const std::string& fire_id, const std::vector<TaskOutcome>& outcomes);
  // What each item of a fire covers, for a job with a shard source (see ShardPlans::Get).
  bool ShardsOf(spi::ShardSource& source, const std::string& fire_id, int shard_count,
                std::vector<spi::ShardSpec>* shards, std::string* error);
  // Stores a running task's checkpoint (see ShardLedger::SaveCheckpoint).
  CheckpointResult SaveCheckpoint(const std::string& fire_id, Claim* claim,
                                  const std::string& record);
  // Gives up claims whose tasks did not run to the end (see ShardLedger::Release).
  void Release(const std::vector<Claim>& claims);
  // item -> the highest scheduled fire committed on it (epoch ms), for items that have one.
  // From what this instance last read or wrote (no request in the steady state), or `fresh`.
  std::map<int, std::int64_t> ScheduledWatermarks(const std::vector<int>& items, bool fresh);
  // item -> the sequence of the highest trigger committed on it, for items that have one.
  std::map<int, std::int64_t> TriggerWatermarks(const std::vector<int>& items, bool fresh);

  // Cluster-once listeners (`<job>/once/<fire>`, holding how many shards of the fire are
  // committed). BeginFireOnce is true for the one instance that reaches the fire first;
  // EndFireOnce, called after this instance committed `committed` shards of it, is true for the
  // one instance whose commit completes the fire. Each costs one or two requests, only for jobs
  // that have such listeners.
  bool BeginFireOnce(const std::string& fire_id);
  bool EndFireOnce(const std::string& fire_id, int committed);

  // Takes a new config (shard count, strategy, failover...) after OnConfigChanged was handled.
  void UpdateConfig(const config::JobConfig& job, std::shared_ptr<spi::ShardingStrategy> strategy);

  // This host's wall clock minus the registry's (one write, whose stamp is the registry's time),
  // or nullopt with `error` set when the registry cannot be written.
  std::optional<std::chrono::milliseconds> RegistryClockSkew(std::string* error = nullptr);

  bool IsLeader() const;
  // The job's config node was found gone (the job was deleted).
  bool ConfigWasDeleted() const;
  bool IsConnected() const;
  std::vector<int> LocalItems() const;
  std::map<std::string, std::vector<int>> Assignment() const;

 private:
  std::string JobPath() const { return root_ + "/jobs/" + job_name_; }

  // The steps. Each runs on the event loop (or in Start) under steps_mutex_ and re-arms its own
  // watch.
  void Register();
  // This session's existing candidate node, or "" when it has none.
  std::string OwnCandidate(std::int64_t session);
  void Elect();
  void RefreshInstances();
  void RefreshAssignment();
  void RefreshDisabled();
  // True when the job's config node is gone: then, once, tells the events and stops every
  // further step (the job's folder is being removed).
  bool ConfigDeleted();
  void RefreshTriggers();
  void RefreshConfig();
  void Reshard();
  void RetryReshard();
  // REQUIRES: mutex_ held.
  bool AssignmentIsValidLocked(const std::vector<std::string>& instances,
                               const std::vector<int>& disabled_shards, int total) const;
  void Reconcile();
  // SINGLE_SHARDING_BALANCE with one shard: the shard moves to the next instance after each fire.
  bool RotatesSingleShardLocked() const;
  void RefreshNextInstance();
  void PassSingleShardOn();
  void RecoverOrphans();
  // Tells JobEvents which local items are new and which moved away since it last told them
  // (everything is new again after an outage).
  void ReportItemChanges();
  void OnSessionState(registry::SessionState state, std::int64_t session_id);
  void CheckDisconnected(std::uint64_t disconnect_epoch);
  void CheckClock();
  // What instances/<id> holds: the pid, whether this instance is disabled, its label.
  static std::string RegistrationData(const config::JobConfig& job);

  void EnsurePathQuietly(const std::string& path);
  void PruneOnceNodes();

  registry::Watcher PostToLoop(void (JobCoordinator::*step)());
  // A task that runs `step` on the loop under steps_mutex_, unless the coordinator is gone or
  // stopped by then.
  std::function<void()> StepTask(void (JobCoordinator::*step)());
  void PostStep(void (JobCoordinator::*step)(), std::chrono::milliseconds delay);
  config::JobConfig Job() const;

  registry::Registry& registry_;
  EventLoop& loop_;
  const std::string root_;
  const std::string job_name_;
  const std::string instance_id_;
  JobEvents* const events_;
  const CoordinatorOptions options_;
  ShardLedger ledger_;
  ShardPlans plans_;

  // Held by every step and by Stop: one coordinator's steps never overlap, so an older read
  // never overwrites a newer one, and none runs once Stop returns.
  std::mutex steps_mutex_;
  mutable std::mutex mutex_;  // the fields below
  config::JobConfig job_;
  std::shared_ptr<spi::ShardingStrategy> strategy_;
  bool stopped_ = false;
  bool started_ = false;
  bool connected_ = true;
  bool leader_ = false;
  std::int64_t registered_session_ = 0;
  std::uint64_t disconnect_epoch_ = 0;  // counts disconnections, to match delayed checks
  std::string candidate_path_;
  std::vector<std::string> live_instances_;  // enabled ones, as last read
  bool config_seen_ = false;                 // GUARDED_BY(mutex_)
  bool config_deleted_ = false;              // GUARDED_BY(mutex_)
  std::vector<int> disabled_shards_;
  std::vector<std::string> disabled_instances_;
  std::map<std::string, std::vector<int>> assignment_;
  std::vector<int> reported_items_;  // local items JobEvents was told of (OnItemsGained)
  // After an outage every local item is reported gained again (its fires may have been missed),
  // while items that moved away during it are still reported lost.
  bool report_all_gained_ = false;
  std::string assignment_json_;
  bool assignment_malformed_ = false;  // the stored one is not ours: assignment_ is the last good
  std::string planned_inputs_;
  bool reshard_retry_pending_ = false;  // what the last plan this leader computed depended on
  std::string next_instance_;           // who runs a rotating single shard next
  bool triggers_seen_ = false;          // the triggers present at registration were listed
  long long last_trigger_ = -1;         // the highest trigger sequence handled
};

}  // namespace shardjob::coordination
