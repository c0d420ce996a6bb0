#include "app/metrics_page.h"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <limits>
#include <utility>

namespace shardjob::app {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

// One family at a time: Add* appends a sample with its labels.
class FamilyBuilder {
 public:
  FamilyBuilder(std::vector<MetricFamily>* families, std::string name, std::string help,
                MetricType type)
      : families_(families) {
    families_->push_back(MetricFamily{std::move(name), std::move(help), type, {}});
  }

  void AddValue(Labels labels, double value) {
    ClientMetric metric;
    metric.label = std::move(labels);
    if (family().type == MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
    family().metric.push_back(std::move(metric));
  }

  void AddHistogram(Labels labels, const metrics::HistogramSnapshot& snapshot) {
    ClientMetric metric;
    metric.label = std::move(labels);
    metric.histogram.sample_count = snapshot.count;
    metric.histogram.sample_sum = snapshot.sum;
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < snapshot.counts.size(); ++i) {
      cumulative += snapshot.counts[i];
      ClientMetric::Bucket bucket;
      bucket.cumulative_count = cumulative;
      bucket.upper_bound = i < snapshot.upper_bounds.size()
                               ? snapshot.upper_bounds[i]
                               : std::numeric_limits<double>::infinity();
      metric.histogram.bucket.push_back(bucket);
    }
    family().metric.push_back(std::move(metric));
  }

 private:
  MetricFamily& family() { return families_->back(); }
  std::vector<MetricFamily>* families_;
};

constexpr registry::SessionState kSessionStates[] = {
    registry::SessionState::kConnecting, registry::SessionState::kConnected,
    registry::SessionState::kExpired, registry::SessionState::kClosed};

// A per-job counter read from JobCounters.
struct JobCounterMetric {
  const char* name;
  const char* help;
  std::uint64_t execution::JobCounters::*field;
};

constexpr JobCounterMetric kJobCounters[] = {
    {"shardjob_overlaps_total", "Tasks that arrived while the shard's previous fire still ran.",
     &execution::JobCounters::overlaps},
    {"shardjob_tasks_buffered_total", "Tasks that waited for their shard to be free (overlap).",
     &execution::JobCounters::buffered_tasks},
    {"shardjob_misfired_tasks_total",
     "Tasks found not run in time (owner gone, registry down, clock stepped), then run, "
     "coalesced or skipped per misfire_policy.",
     &execution::JobCounters::missed_tasks},
    {"shardjob_missed_fires_total",
     "Scheduled fires that had not started within watchdog_tolerance of their instant.",
     &execution::JobCounters::missed_fires},
    {"shardjob_clock_refused_fires_total",
     "Scheduled fires refused while the wall clock stood stepped.",
     &execution::JobCounters::clock_refused_fires},
    {"shardjob_task_retries_total", "Task attempts run again after a failure (max_retries).",
     &execution::JobCounters::task_retries},
    {"shardjob_task_timeouts_total", "Task attempts stopped for running past their timeout.",
     &execution::JobCounters::tasks_timed_out},
    {"shardjob_commits_fenced_total",
     "Task results the registry refused: the claim had been lost (the shard runs elsewhere).",
     &execution::JobCounters::commits_fenced},
    {"shardjob_commits_unknown_total",
     "Task results whose commit got no answer from the registry (sent again or failed over).",
     &execution::JobCounters::commits_unknown},
    {"shardjob_items_processed_total",
     "Items tasks reported processing (DATAFLOW jobs: the items of every fetched batch).",
     &execution::JobCounters::items_processed},
    {"shardjob_claims_lost_total",
     "Times running tasks were cancelled because the registry session was lost.",
     &execution::JobCounters::claims_lost},
    {"shardjob_checkpoints_saved_total", "Checkpoints tasks saved.",
     &execution::JobCounters::checkpoints_saved},
    {"shardjob_checkpoint_failures_total",
     "Checkpoint saves refused (claim lost, record too large) or not answered by the registry.",
     &execution::JobCounters::checkpoint_failures},
    {"shardjob_tasks_resumed_total",
     "Task attempts that started from a checkpoint saved earlier for the same fire and shard.",
     &execution::JobCounters::tasks_resumed},
    {"shardjob_grid_pages_not_needed_total",
     "Grid pages committed without running: the shard source said their item needed fewer.",
     &execution::JobCounters::pages_not_needed},
    {"shardjob_tasks_stolen_total",
     "Dynamic sharding: tasks this instance took from another instance's list.",
     &execution::JobCounters::tasks_stolen},
};

Labels JobLabel(const JobMetrics& job) { return {{"job", job.name}}; }

void AddJobFamilies(const InstanceMetrics& instance, std::vector<MetricFamily>* families) {
  {
    FamilyBuilder fires(families, "shardjob_fires_total",
                        "Fires that ran at least one shard on this instance, by source.",
                        MetricType::Counter);
    constexpr spi::ExecutionSource kSources[] = {
        spi::ExecutionSource::kNormalTrigger, spi::ExecutionSource::kMisfire,
        spi::ExecutionSource::kFailover, spi::ExecutionSource::kManualTrigger};
    for (const JobMetrics& job : instance.jobs) {
      for (spi::ExecutionSource source : kSources) {
        fires.AddValue(
            {{"job", job.name}, {"source", spi::ExecutionSourceName(source)}},
            static_cast<double>(job.counters.fires_by_source[static_cast<std::size_t>(source)]));
      }
    }
  }
  {
    FamilyBuilder tasks(families, "shardjob_tasks_total",
                        "Tasks (fire x shard) by outcome: succeeded, failed, released (stopped "
                        "when the claim was lost, to run again), skipped or coalesced (dropped by "
                        "a policy).",
                        MetricType::Counter);
    for (const JobMetrics& job : instance.jobs) {
      const std::pair<const char*, std::uint64_t> outcomes[] = {
          {"succeeded", job.counters.tasks_succeeded}, {"failed", job.counters.tasks_failed},
          {"released", job.counters.tasks_released},   {"skipped", job.counters.skipped_tasks},
          {"coalesced", job.counters.coalesced_tasks},
      };
      for (const auto& [outcome, value] : outcomes) {
        tasks.AddValue({{"job", job.name}, {"outcome", outcome}}, static_cast<double>(value));
      }
    }
  }
  for (const JobCounterMetric& counter : kJobCounters) {
    FamilyBuilder family(families, counter.name, counter.help, MetricType::Counter);
    for (const JobMetrics& job : instance.jobs) {
      family.AddValue(JobLabel(job), static_cast<double>(job.counters.*counter.field));
    }
  }
  {
    FamilyBuilder duration(families, "shardjob_task_duration_seconds",
                           "How long a task attempt ran, by outcome.", MetricType::Histogram);
    for (const JobMetrics& job : instance.jobs) {
      duration.AddHistogram({{"job", job.name}, {"outcome", "succeeded"}},
                            job.timings.succeeded_duration);
      duration.AddHistogram({{"job", job.name}, {"outcome", "failed"}},
                            job.timings.failed_duration);
    }
  }
  {
    FamilyBuilder lateness(families, "shardjob_fire_lateness_seconds",
                           "From a scheduled fire's instant to its task's start on this instance.",
                           MetricType::Histogram);
    for (const JobMetrics& job : instance.jobs) {
      lateness.AddHistogram(JobLabel(job), job.timings.lateness);
    }
  }
  {
    FamilyBuilder success(families, "shardjob_shard_last_success_timestamp_seconds",
                          "When a shard last succeeded on this instance (Unix time).",
                          MetricType::Gauge);
    for (const JobMetrics& job : instance.jobs) {
      for (const auto& [item, ms] : job.timings.last_success_ms) {
        success.AddValue({{"job", job.name}, {"shard", std::to_string(item)}},
                         static_cast<double>(ms) / 1000.0);
      }
    }
  }
  {
    FamilyBuilder assigned(families, "shardjob_shards_assigned",
                           "Shards of the job assigned to this instance now.", MetricType::Gauge);
    for (const JobMetrics& job : instance.jobs) {
      assigned.AddValue(JobLabel(job), static_cast<double>(job.local_items.size()));
    }
  }
  {
    FamilyBuilder leader(families, "shardjob_leader",
                         "1 when this instance is the job's leader (it assigns the shards).",
                         MetricType::Gauge);
    for (const JobMetrics& job : instance.jobs) leader.AddValue(JobLabel(job), job.leader ? 1 : 0);
  }
}

void AddInstanceFamilies(const InstanceMetrics& instance, std::vector<MetricFamily>* families) {
  FamilyBuilder(families, "shardjob_build_info", "The running build; the value is always 1.",
                MetricType::Gauge)
      .AddValue({{"version", instance.version}, {"instance_id", instance.instance_id}}, 1);
  {
    FamilyBuilder state(families, "shardjob_registry_session_state",
                        "1 for the registry session's current state, 0 for the others.",
                        MetricType::Gauge);
    for (registry::SessionState each : kSessionStates) {
      state.AddValue({{"state", registry::SessionStateName(each)}},
                     each == instance.session_state ? 1 : 0);
    }
  }
  FamilyBuilder(families, "shardjob_registry_requests_total",
                "Requests sent to the registry by this instance's session.", MetricType::Counter)
      .AddValue({}, static_cast<double>(instance.registry_requests));
  FamilyBuilder(families, "shardjob_registry_session_expirations_total",
                "Times the registry session expired (every claim of the instance was lost).",
                MetricType::Counter)
      .AddValue({}, static_cast<double>(instance.session_expirations));
  FamilyBuilder(families, "shardjob_plugin_types_loaded",
                "Plugin types (executors, strategies, handlers, tracers, ...) loaded.",
                MetricType::Gauge)
      .AddValue({}, static_cast<double>(instance.plugin_types_loaded));
  FamilyBuilder(families, "shardjob_plugin_load_failures_total",
                "Plugin libraries refused (wrong ABI, missing manifest, clashing type name).",
                MetricType::Counter)
      .AddValue({}, static_cast<double>(instance.plugin_load_failures));
  if (!instance.tracing) return;
  const execution::TraceCounters& traces = instance.traces;
  FamilyBuilder(families, "shardjob_trace_queue_depth",
                "Trace events buffered, waiting to be written.", MetricType::Gauge)
      .AddValue({}, static_cast<double>(traces.queue_depth));
  FamilyBuilder(families, "shardjob_trace_store_up",
                "1 while the trace store takes writes, 0 from a failed write to the next good one.",
                MetricType::Gauge)
      .AddValue({}, traces.store_available ? 1 : 0);
  FamilyBuilder(families, "shardjob_trace_events_written_total",
                "Trace events the store has taken.", MetricType::Counter)
      .AddValue({}, static_cast<double>(traces.written));
  FamilyBuilder dropped(families, "shardjob_trace_events_dropped_total",
                        "Trace events lost, by reason: overflow (the buffer was full, or the store "
                        "was still down at shutdown) or refused (the store rejected them).",
                        MetricType::Counter);
  dropped.AddValue({{"reason", "overflow"}}, static_cast<double>(traces.dropped));
  dropped.AddValue({{"reason", "refused"}}, static_cast<double>(traces.rejected));
  FamilyBuilder(families, "shardjob_trace_write_retries_total",
                "Trace writes tried again because the store was unavailable.", MetricType::Counter)
      .AddValue({}, static_cast<double>(traces.retries));
}

}  // namespace

std::string RenderMetricsPage(const InstanceMetrics& metrics) {
  std::vector<MetricFamily> families;
  AddInstanceFamilies(metrics, &families);
  AddJobFamilies(metrics, &families);
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace shardjob::app
