// Config parse: ParseConfig on a YAML text of 1, 100 and 1,000 jobs (the whole of LoadConfigFile
// but the file read): YAML parsing, environment substitution, every check, each cron expression
// parsed and each time zone looked up. Paid at start and on each config reload, and per job when
// jobs are created through the API.

#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>

#include "config/config.h"

namespace {

using shardjob::config::ConfigError;
using shardjob::config::ParseConfig;

// The jobs cycle through the three shapes of examples/quickstart.yaml (a cron Classed job with
// item parameters, a fixed-rate SCRIPT job with props, a cron DATAFLOW job with props), with
// unique names and a few cron expressions and zones, so that the text is what a real file of that
// many jobs looks like rather than one job repeated.
std::string ConfigWithJobs(int jobs) {
  static const char* const kCrons[] = {"0/2 * * * * ?", "0 0/5 9-17 ? * MON-FRI",
                                       "0 15 10 L * ?", "0 0 3 * * ?"};
  static const char* const kZones[] = {"UTC", "Asia/Shanghai", "America/New_York",
                                       "Europe/Berlin"};
  std::string text =
      "registry:\n"
      "  type: embedded\n"
      "plugins:\n"
      "  dirs: [\"/opt/shardjob/plugins\"]\n"
      "http:\n"
      // A ${NAME:-default} as the examples use them; the name is one nobody sets, so the text
      // parsed is the same on every machine.
      "  listen: ${SHARDJOB_MICRO_BENCH_UNSET_HTTP:-127.0.0.1:9090}\n"
      "tracing:\n"
      "  type: SQLITE\n"
      "  props: {path: /var/lib/shardjob/trace.db}\n"
      "shutdown_grace: 10s\n"
      "jobs:\n";
  for (int i = 0; i < jobs; ++i) {
    const std::string n = std::to_string(i);
    switch (i % 3) {
      case 0:
        text += "  - name: order-sync-" + n + "\n"
                "    class: EXAMPLE_ORDER_SYNC\n"
                "    cron: \"" + kCrons[i % 4] + "\"\n"
                "    time_zone: " + kZones[(i / 3) % 4] + "\n"
                "    sharding_total_count: 4\n"
                "    sharding_item_parameters: \"0=Beijing,1=Shanghai,2=Guangzhou,3=Shenzhen\"\n"
                "    job_parameter: full-sync\n"
                "    description: Copies each region's orders; one region per shard.\n";
        break;
      case 1:
        text += "  - name: report-script-" + n + "\n"
                "    type: SCRIPT\n"
                "    fixed_rate: 3s\n"
                "    sharding_total_count: 4\n"
                "    sharding_item_parameters: {0: north, 1: south, 2: east, 3: west}\n"
                "    executor_thread_pool: 2\n"
                "    props:\n"
                "      script.command.line: /bin/sh /opt/jobs/report.sh --verbose\n"
                "      script.timeout.seconds: \"20\"\n";
        break;
      default:
        text += "  - name: order-archive-" + n + "\n"
                "    class: EXAMPLE_ORDER_ARCHIVE\n"
                "    cron: \"" + kCrons[i % 4] + "\"\n"
                "    time_zone: UTC\n"
                "    sharding_total_count: 16\n"
                "    failover: true\n"
                "    sharding_strategy: ROUND_ROBIN\n"
                "    props:\n"
                "      streaming.process: \"true\"\n"
                "      example.batch.size: \"10\"\n";
        break;
    }
  }
  return text;
}

void BM_ConfigParse(benchmark::State& state) {
  const int jobs = static_cast<int>(state.range(0));
  const std::string text = ConfigWithJobs(jobs);
  const std::string path = "/etc/shardjob/micro-bench.yaml";
  // Once untimed: a config the loader rejects would time the error path. This also loads the
  // time zones into cctz's process-wide cache, as the first parse of a real process does.
  try {
    if (static_cast<int>(ParseConfig(text, path).jobs.size()) != jobs) {
      state.SkipWithError("the parsed config has the wrong number of jobs");
      return;
    }
  } catch (const ConfigError& e) {
    state.SkipWithError(e.what());
    return;
  }
  for (auto _ : state) {
    shardjob::config::Config config = ParseConfig(text, path);
    benchmark::DoNotOptimize(config);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(text.size()));
  state.counters["per_job"] = benchmark::Counter(
      jobs, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ConfigParse)->ArgName("jobs")->Arg(1)->Arg(100)->Arg(1000)->Unit(
    benchmark::kMicrosecond);

}  // namespace
