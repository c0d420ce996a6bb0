#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "shardjob/spi/cancellation.h"
#include "shardjob/spi/checkpoint.h"

namespace shardjob::spi {

// Where a task says how much it did. The kernel adds it to the job's metrics
// (shardjob_items_processed_total) and to the task's execution trace.
class TaskProgress {
 public:
  void AddItemsProcessed(std::uint64_t count) {
    items_processed_.fetch_add(count, std::memory_order_relaxed);
  }
  std::uint64_t items_processed() const { return items_processed_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> items_processed_{0};
};

// Everything a task (one shard of one fire of one job) is told about itself.
struct ShardingContext {
  std::string job_name;
  // The fire this task belongs to: the scheduled instant in epoch milliseconds, or a trigger's id.
  std::string fire_id;
  // "<job>@-@<fire>@-@<shard>@-@<instance>": unique per task attempt, for logs and traces.
  std::string task_id;
  std::string instance_id;
  // The job's items (ElasticJob's shards) and the one this task works on.
  int sharding_total_count = 0;
  int sharding_item = 0;
  // The item's parameter from `sharding_item_parameters`; absent when the item has none.
  std::optional<std::string> sharding_parameter;
  // The unit that is claimed, committed, traced and counted: the task's index among the fire's
  // shards. Equal to sharding_item (and shard_count to sharding_total_count) unless the job cuts
  // each item into pages (grid sharding): then shard = item * page_count + page.
  int shard = 0;
  int shard_count = 0;
  int page = 0;
  int page_count = 1;
  // Logical sharding: what the job's shard source generated for this item of this fire. Empty
  // for a job without a shard source.
  std::string shard_label;
  std::map<std::string, std::string> shard_params;
  std::string job_parameter;
  // Strictly larger than the token of every earlier claim on this shard. Jobs with side effects
  // outside shardjob pass it to their store so that a late, fenced-off writer can be refused.
  std::int64_t fencing_token = 0;
  // Never null while the task runs; owned by the kernel.
  const Cancellation* cancellation = nullptr;
  // Raised when the shard has been assigned to another instance while this task runs. A task
  // that loops (a streaming dataflow job) should end after its current round, so that the new
  // owner can take the shard over at its next fire. Owned by the kernel; may be null.
  const Cancellation* reassigned = nullptr;
  // Owned by the kernel; may be null.
  TaskProgress* progress = nullptr;
  // Where the task saves and loads its progress record. Owned by the kernel; may be null (a
  // context built outside a kernel, or a task whose runner cannot save: see docs/sharding.md).
  Checkpoint* checkpoint = nullptr;

  bool IsCancelled() const { return cancellation != nullptr && cancellation->IsCancelled(); }
  bool IsReassigned() const { return reassigned != nullptr && reassigned->IsCancelled(); }
  void AddItemsProcessed(std::uint64_t count) const {
    if (progress != nullptr) progress->AddItemsProcessed(count);
  }
  std::optional<std::string> LoadCheckpoint() const {
    return checkpoint != nullptr ? checkpoint->Load() : std::nullopt;
  }
  Status SaveCheckpoint(const std::string& record) const {
    return checkpoint != nullptr ? checkpoint->Save(record)
                                 : Status::Unavailable("this task has no checkpoint store");
  }
};

// The context as one JSON object, ElasticJob's field names first (jobName, taskId,
// shardingTotalCount, jobParameter, shardingItem, shardingParameter), then fireId, instanceId,
// fencingToken, shard, shardCount, page, pageCount, and when present shardLabel, shardParams
// (an object) and checkpoint (the record loaded for the task). shardingParameter is omitted when
// absent, as ElasticJob's Gson does.
std::string ToJson(const ShardingContext& context);

}  // namespace shardjob::spi
