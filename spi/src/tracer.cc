#include "shardjob/spi/tracer.h"

namespace shardjob::spi {

const char* ExecutionSourceName(ExecutionSource source) {
  switch (source) {
    case ExecutionSource::kNormalTrigger:
      return "NORMAL_TRIGGER";
    case ExecutionSource::kMisfire:
      return "MISFIRE";
    case ExecutionSource::kFailover:
      return "FAILOVER";
    case ExecutionSource::kManualTrigger:
      return "MANUAL_TRIGGER";
  }
  return "UNKNOWN";
}

const char* TaskStateName(TaskState state) {
  switch (state) {
    case TaskState::kStaging:
      return "TASK_STAGING";
    case TaskState::kRunning:
      return "TASK_RUNNING";
    case TaskState::kFinished:
      return "TASK_FINISHED";
    case TaskState::kError:
      return "TASK_ERROR";
    case TaskState::kDropped:
      return "TASK_DROPPED";
  }
  return "TASK_UNKNOWN";
}

}  // namespace shardjob::spi
