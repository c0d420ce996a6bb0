// Prints how late fires start, what one instance costs in memory and threads, and how many
// registry requests a fire costs, for an instance running many jobs on the embedded registry.
//
//   build/bin/fire_bench [jobs=50] [seconds=10] [shards=4]
//
// Each job fires every 100 ms (fixed_rate, aligned to the epoch, so all jobs fire together: the
// worst case for the timer thread). Lateness = start of Execute() - scheduled instant.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "shardjob/shardjob.h"

namespace {

std::string StatusField(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field + ":", 0) == 0) return line.substr(field.size() + 1);
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  int jobs = argc > 1 ? std::stoi(argv[1]) : 50;
  int seconds = argc > 2 ? std::stoi(argv[2]) : 10;
  int shards = argc > 3 ? std::stoi(argv[3]) : 4;
  char dir_template[] = "/tmp/shardjob-bench-XXXXXX";
  std::string dir = mkdtemp(dir_template);
  std::string record = dir + "/lateness.txt";
  std::string config = dir + "/bench.yaml";
  {
    std::ofstream out(config);
    out << "registry: {type: embedded}\nlog_level: error\nplugins:\n  dirs: [" SHARDJOB_PLUGIN_DIR
           ", " SHARDJOB_BENCH_PLUGIN_DIR "]\njobs:\n";
    for (int i = 0; i < jobs; ++i) {
      out << "  - name: job-" << i << "\n    class: LATENESS_JOB\n    fixed_rate: 100ms\n"
          << "    sharding_total_count: " << shards << "\n    props: {record.file: " << record
          << "}\n";
    }
  }
  auto instance = shardjob::Instance::Start(config);
  std::uint64_t requests_before = instance->RegistryRequests();
  std::uint64_t fires_before = 0;
  for (const auto& name : instance->JobNames()) fires_before += instance->Stats(name).fires;
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  std::uint64_t fires = 0;
  for (const auto& name : instance->JobNames()) fires += instance->Stats(name).fires;
  std::uint64_t requests = instance->RegistryRequests() - requests_before;
  std::string rss = StatusField("VmRSS"), hwm = StatusField("VmHWM"),
              threads = StatusField("Threads");
  instance->Stop();

  std::vector<long long> lateness;
  std::ifstream in(record);
  for (long long value; in >> value;) lateness.push_back(value);
  std::sort(lateness.begin(), lateness.end());
  auto percentile = [&](double p) {
    if (lateness.empty()) return 0.0;
    return lateness[std::min(lateness.size() - 1, static_cast<std::size_t>(p * lateness.size()))] /
           1000.0;
  };
  std::printf("jobs=%d shards/job=%d seconds=%d tasks=%zu\n", jobs, shards, seconds,
              lateness.size());
  std::printf("lateness ms: p50=%.3f p90=%.3f p99=%.3f max=%.3f\n", percentile(0.50),
              percentile(0.90), percentile(0.99), percentile(1.0));
  std::printf("registry requests per fire (all shards of the fire): %.2f\n",
              fires > fires_before ? static_cast<double>(requests) / (fires - fires_before) : 0.0);
  std::printf("rss:%s  peak:%s  threads:%s\n", rss.c_str(), hwm.c_str(), threads.c_str());
  std::remove(record.c_str());
  std::remove(config.c_str());
  rmdir(dir.c_str());
  return 0;
}
