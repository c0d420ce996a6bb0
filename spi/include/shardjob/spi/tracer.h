#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "shardjob/spi/status.h"

namespace shardjob::spi {

// The event records of ElasticJob's tracing (JOB_EXECUTION_LOG, JOB_STATUS_TRACE_LOG), with the
// fields shardjob adds at the end.

enum class ExecutionSource { kNormalTrigger, kMisfire, kFailover, kManualTrigger };
const char* ExecutionSourceName(ExecutionSource source);  // "NORMAL_TRIGGER", ...

// One per task. Sent once when the task starts (complete_time_ms == 0) and once, with the same
// id, when it ends.
struct ExecutionEvent {
  std::string id;
  std::string hostname;
  std::string ip;
  std::string task_id;
  std::string job_name;
  ExecutionSource source = ExecutionSource::kNormalTrigger;
  int sharding_item = 0;
  std::int64_t start_time_ms = 0;
  std::int64_t complete_time_ms = 0;
  bool success = false;
  std::string failure_cause;
  std::string fire_id;
  std::string instance_id;
  std::int64_t fencing_token = 0;
  std::uint64_t items_processed = 0;  // what the task reported (dataflow jobs: items fetched)
};

// kDropped: the fire was not run on some shards, as a policy says (overlap skip or buffer_one,
// a misfire skipped or coalesced); the message says which and why.
enum class TaskState { kStaging, kRunning, kFinished, kError, kDropped };
const char* TaskStateName(TaskState state);  // "TASK_STAGING", ...

// One per state change of a fire on one instance.
struct StatusEvent {
  std::string id;
  std::string job_name;
  std::string original_task_id;
  std::string task_id;
  std::string slave_id;  // the instance id
  std::string execution_type = "READY";
  std::string sharding_items;  // "[0, 1]", as ElasticJob writes it
  TaskState state = TaskState::kStaging;
  std::string message;
  std::int64_t creation_time_ms = 0;
  std::string fire_id;
};

using TraceEvent = std::variant<ExecutionEvent, StatusEvent>;

// Stores the trace events of every job of the process. The kernel calls Write from one thread of
// its own, off the scheduling path, with the events in the order they happened; it buffers what
// the tracer has not yet taken, up to a bound, and counts what it drops beyond it.
//
// Write stores the whole batch, or reports why not:
// - OK: every event is stored.
// - Unavailable: the store cannot be reached (connection refused or lost, database shut down).
//   The kernel keeps the batch and calls Write again with it, first, after a backoff. A retry may
//   follow a write whose commit did reach the store, so writing an event twice must store it once
//   (an event's id is its key; a completion updates its start's row).
// - any other code: the store refused these events (a value it cannot hold). The kernel writes
//   a refused batch again one event at a time, and drops, counts and logs the events refused
//   alone.
class Tracer {
 public:
  virtual ~Tracer();
  virtual Status Write(const std::vector<TraceEvent>& events) noexcept = 0;
};

}  // namespace shardjob::spi
