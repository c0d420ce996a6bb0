#pragma once

#include <cstdint>
#include <string>

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
};

// Receives every event of every job of the process. Called from one kernel thread at a time, off
// the scheduling path, so a slow tracer delays only other trace events.
class Tracer {
 public:
  virtual ~Tracer();
  virtual void OnExecution(const ExecutionEvent& event) noexcept = 0;
  virtual void OnStatus(const StatusEvent& event) noexcept = 0;
};

}  // namespace shardjob::spi
