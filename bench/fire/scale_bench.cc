// What one instance costs with many jobs, idle and firing: start-up time, RSS/PSS/private memory,
// CPU and threads, and (firing) how late the fires start. Embedded registry, in this process.
//
//   build/bin/scale_bench idle JOBS [seconds=10] [plugins=min|full]
//   build/bin/scale_bench fire JOBS [seconds=20] [plugins=min|full] [cron="* * * * * ?"]
//                         [claim_ahead_ms=0]
//
// Every job is one shard of SCALE_LATENESS_JOB (SIMPLE executor, AVG_ALLOCATION, LOG handler: the
// defaults). `idle`: the cron is "0 0 0 1 1 ?" (1 January), so nothing fires while measuring.
// `fire`: every job on the same 1 s cron, so all JOBS fire at the same instant every second.
// plugins=min loads a directory of links to just those four plugins; plugins=full loads the whole
// build/plugins directory (libcurl, libpq and the rest with it) plus the job's.
//
// Start-up = Instance::Start() called until every job has its shard assigned here. Then 2 s to
// settle, then the window of `seconds`: CPU = (utime + stime) over the window / wall time (100% =
// one core); memory and threads at the end of the window (threads: also the most seen, sampled
// every 100 ms). Lateness = start of Execute() - the fire's instant, for fires in the window.

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "shardjob/shardjob.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A "Key:   123 kB" line of a /proc/self file, in kB; -1 when absent.
long ProcKb(const char* file, const std::string& key) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  }
  return -1;
}

// utime + stime of this process, in seconds.
double CpuSeconds() {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));  // after "pid (comm) "
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stoull(field);
    if (i == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double Mib(long kb) { return kb / 1024.0; }

long long EpochMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s idle|fire JOBS [seconds] [min|full] [cron] [claim_ahead_ms]\n",
                 argv[0]);
    return 2;
  }
  std::string mode = argv[1];
  if (mode != "idle" && mode != "fire") {
    std::fprintf(stderr, "mode must be idle or fire\n");
    return 2;
  }
  bool firing = mode == "fire";
  int jobs = std::stoi(argv[2]);
  int seconds = argc > 3 ? std::stoi(argv[3]) : (firing ? 20 : 10);
  std::string plugins = argc > 4 ? argv[4] : "min";
  std::string cron = argc > 5 ? argv[5] : (firing ? "* * * * * ?" : "0 0 0 1 1 ?");
  int claim_ahead_ms = argc > 6 ? std::stoi(argv[6]) : 0;

  shardjob::testing::TempDir temp;  // removed on every way out
  const fs::path& dir = temp.path();
  std::string record = (dir / "lateness.txt").string();
  std::string plugin_dirs;
  if (plugins == "full") {
    plugin_dirs = SHARDJOB_PLUGIN_DIR;
  } else {
    fs::path own = dir / "plugins";
    fs::create_directory(own);
    for (const char* plugin :
         {SCALE_PLUGIN_SIMPLE, SCALE_PLUGIN_AVERAGE, SCALE_PLUGIN_LOG_HANDLER}) {
      fs::create_symlink(plugin, own / fs::path(plugin).filename());
    }
    plugin_dirs = own.string();
  }
  {
    fs::path own = dir / "job-plugin";
    fs::create_directory(own);
    fs::create_symlink(SCALE_PLUGIN_JOB, own / fs::path(SCALE_PLUGIN_JOB).filename());
    plugin_dirs += ", " + own.string();
  }
  std::string config = (dir / "scale.yaml").string();
  {
    std::ofstream out(config);
    out << "registry: {type: embedded}\nlog_level: error\nplugins:\n  dirs: [" << plugin_dirs
        << "]\njobs:\n";
    for (int i = 0; i < jobs; ++i) {
      out << "  - name: job-" << i << "\n    class: SCALE_LATENESS_JOB\n    cron: \"" << cron
          << "\"\n    sharding_total_count: 1\n";
      if (claim_ahead_ms > 0) out << "    claim_ahead: " << claim_ahead_ms << "ms\n";
      if (firing) out << "    props: {record.file: " << record << "}\n";
    }
  }

  long rss_before = ProcKb("/proc/self/status", "VmRSS");
  auto start = Clock::now();
  auto instance = shardjob::Instance::Start(config);
  auto started = Clock::now();
  std::vector<std::string> names = instance->JobNames();
  std::size_t ready = 0;
  const bool all_ready = shardjob::testing::WaitUntil(
      [&] {
        while (ready < names.size() && !instance->Stats(names[ready]).local_items.empty()) ++ready;
        return ready == names.size();
      },
      std::chrono::minutes(2));
  if (!all_ready) {
    std::fprintf(stderr, "only %zu of %zu jobs got their shard within 2 minutes\n", ready,
                 names.size());
    return 1;
  }
  auto scheduled = Clock::now();
  auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::this_thread::sleep_for(std::chrono::seconds(2));

  long long window_from = EpochMs();
  double cpu_before = CpuSeconds();
  auto wall_before = Clock::now();
  long max_threads = 0;
  auto until = wall_before + std::chrono::seconds(seconds);
  while (Clock::now() < until) {
    // Idle: sleep through the window, so the benchmark adds no CPU of its own.
    if (!firing) {
      std::this_thread::sleep_until(until);
      break;
    }
    max_threads = std::max(max_threads, ProcKb("/proc/self/status", "Threads"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  double cpu = CpuSeconds() - cpu_before;
  double wall = std::chrono::duration<double>(Clock::now() - wall_before).count();
  long long window_to = EpochMs();
  long rss = ProcKb("/proc/self/status", "VmRSS"), hwm = ProcKb("/proc/self/status", "VmHWM");
  long anon = ProcKb("/proc/self/status", "RssAnon"), file = ProcKb("/proc/self/status", "RssFile");
  long threads = ProcKb("/proc/self/status", "Threads");
  long pss = ProcKb("/proc/self/smaps_rollup", "Pss");
  long priv = ProcKb("/proc/self/smaps_rollup", "Private_Clean") +
              ProcKb("/proc/self/smaps_rollup", "Private_Dirty");
  std::uint64_t missed = 0;
  if (firing) {
    for (const auto& name : names) missed += instance->Stats(name).missed_fires;
  }
  auto stop_begin = Clock::now();
  instance->Stop();
  instance.reset();
  double stop_ms = ms(Clock::now() - stop_begin);

  std::printf("mode=%s jobs=%d plugins=%s cron=\"%s\" claim_ahead=%dms window=%.1fs\n",
              mode.c_str(), jobs, plugins.c_str(), cron.c_str(), claim_ahead_ms, wall);
  std::printf("start-up: Start() %.0f ms, all jobs scheduled %.0f ms; stop %.0f ms\n",
              ms(started - start), ms(scheduled - start), stop_ms);
  std::printf(
      "memory MiB: VmRSS %.1f (anon %.1f, file %.1f) peak %.1f  PSS %.1f  private %.1f"
      "  (before Start: RSS %.1f)\n",
      Mib(rss), Mib(anon), Mib(file), Mib(hwm), Mib(pss), Mib(priv), Mib(rss_before));
  std::printf("cpu: %.2f%% of one core (%.2f s in %.1f s)  threads: %ld", 100.0 * cpu / wall, cpu,
              wall, threads);
  if (firing) std::printf(" (max seen %ld)", max_threads);
  std::printf("\n");

  if (firing) {
    std::vector<long long> lateness;
    std::ifstream in(record);
    long long fire_ms = 0, late_us = 0, fires_outside = 0;
    while (in >> fire_ms >> late_us) {
      if (fire_ms >= window_from && fire_ms < window_to) {
        lateness.push_back(late_us);
      } else {
        ++fires_outside;
      }
    }
    if (lateness.empty()) {
      std::fprintf(stderr, "no fire of the window was recorded in %s: nothing to measure\n",
                   record.c_str());
      return 1;
    }
    std::sort(lateness.begin(), lateness.end());
    auto percentile = [&](double p) {
      return lateness[std::min(
                 lateness.size() - 1,
                 static_cast<std::size_t>(p * static_cast<double>(lateness.size())))] /
             1000.0;
    };
    std::printf("tasks in window: %zu (expected about %lld); missed_fires (watchdog): %llu\n",
                lateness.size(), static_cast<long long>(jobs) * ((window_to - window_from) / 1000),
                static_cast<unsigned long long>(missed));
    std::printf("lateness ms: min=%.3f p10=%.3f p50=%.3f p90=%.3f p99=%.3f p99.9=%.3f max=%.3f\n",
                percentile(0.0), percentile(0.10), percentile(0.50), percentile(0.90),
                percentile(0.99), percentile(0.999), percentile(1.0));
  }
  return 0;
}
