#pragma once

// Trace events as the kernel sends them (kernel/execution/job_runtime.cc), for the tracer tests.

#include <cstdint>
#include <string>

#include "shardjob/spi/tracer.h"

namespace shardjob::testing {

// 2024-03-01 12:00:00.250 UTC.
inline constexpr std::int64_t kStartMs = 1709294400250;

// A task's start: complete_time_ms 0.
inline spi::ExecutionEvent TaskStart(const std::string& id, int item = 0,
                                     const std::string& fire = "1709294400000") {
  spi::ExecutionEvent event;
  event.id = id;
  event.hostname = "host-1";
  event.ip = "10.0.0.1";
  event.job_name = "orders";
  event.fire_id = fire;
  event.instance_id = "host-1@42@0000beef";
  event.task_id = "orders@-@" + fire + "@-@" + std::to_string(item) + "@-@" + event.instance_id;
  event.source = spi::ExecutionSource::kNormalTrigger;
  event.sharding_item = item;
  event.start_time_ms = kStartMs;
  event.fencing_token = 7;
  return event;
}

// The same task's completion: the start with complete_time_ms, success and failure_cause set.
inline spi::ExecutionEvent TaskEnd(spi::ExecutionEvent start, bool success,
                                   const std::string& failure_cause = "") {
  start.complete_time_ms = start.start_time_ms + 1500;
  start.success = success;
  start.failure_cause = failure_cause;
  return start;
}

inline spi::StatusEvent FireStatus(const std::string& id, spi::TaskState state,
                                   const std::string& fire = "1709294400000") {
  spi::StatusEvent event;
  event.id = id;
  event.job_name = "orders";
  event.fire_id = fire;
  event.slave_id = "host-1@42@0000beef";
  event.task_id = "orders@-@" + fire + "@-@" + event.slave_id;
  event.sharding_items = "[0, 1]";
  event.state = state;
  event.message =
      state == spi::TaskState::kStaging ? "Job 'orders' execute begin, shards [0, 1]" : "";
  event.creation_time_ms = kStartMs;
  return event;
}

}  // namespace shardjob::testing
