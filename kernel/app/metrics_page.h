#pragma once

// The Prometheus text of /metrics, built at scrape time from the counters the kernel keeps
// anyway: a scrape costs no work on the scheduling path. Names follow Prometheus' conventions
// (the shardjob_ prefix, base units, _total for counters); see docs/metrics.md.

#include <cstdint>
#include <string>
#include <vector>

#include "execution/job_runtime.h"
#include "execution/trace_dispatcher.h"
#include "registry/registry.h"

namespace shardjob::app {

struct JobMetrics {
  std::string name;
  execution::JobCounters counters;
  execution::JobTimings timings;
  std::vector<int> local_items;
  bool leader = false;
};

struct InstanceMetrics {
  std::string instance_id;
  std::string version;
  registry::SessionState session_state = registry::SessionState::kConnecting;
  std::uint64_t registry_requests = 0;
  std::uint64_t session_expirations = 0;
  std::size_t plugin_types_loaded = 0;
  std::size_t plugin_load_failures = 0;
  bool tracing = false;
  execution::TraceCounters traces;
  std::vector<JobMetrics> jobs;
};

std::string RenderMetricsPage(const InstanceMetrics& metrics);

}  // namespace shardjob::app
