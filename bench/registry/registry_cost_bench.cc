// Prints what a fire costs in ZooKeeper requests, for jobs of 1, 16 and 256 shards (or the counts
// given) on one instance against a real ZooKeeper server the benchmark starts itself (as the
// tests do): the instance's own requests (each one round trip; a multi of many operations is
// one), and the server's packets received (`mntr`), per fire; and how late the shards started
// (scheduled instant to Execute(), claim round trip included).
//
//   build/bin/registry_cost_bench [seconds-per-case=4] [shard counts...=1 16 256]
//
// Each case runs twice: claiming at the instant, and with `claim_ahead: 20ms` (the claim's round
// trip made before the instant, the task started at it).
//
// The job fires every second, as ElasticJob's measured job does: at 256 shards a faster rate
// keeps one instance busy past the next fire, and a shard that waits for its previous fire is
// then claimed and committed on its own (two round trips for it alone).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "shardjob/shardjob.h"
#include "support/test_support.h"
#include "support/zookeeper_server.h"

namespace {

long long PacketsReceived(const shardjob::testing::ZookeeperServer& server) {
  std::istringstream mntr(server.FourLetterWord("mntr"));
  for (std::string line; std::getline(mntr, line);) {
    const std::string key = "zk_packets_received\t";
    if (line.rfind(key, 0) == 0) return std::stoll(line.substr(key.size()));
  }
  return -1;
}

std::uint64_t Fires(const shardjob::Instance& instance) { return instance.Stats("cost").fires; }

std::vector<long long> ReadLateness(const std::string& path) {
  std::vector<long long> micros;
  std::ifstream in(path);
  for (long long value; in >> value;) micros.push_back(value);
  return micros;
}

// p50, p99 and max of the lateness the LATENESS_JOB recorded after the first `skip` tasks (the
// warm-up), in milliseconds.
std::string LatenessSummary(const std::string& path, std::size_t skip) {
  std::vector<long long> micros = ReadLateness(path);
  micros.erase(micros.begin(), micros.begin() + std::min(skip, micros.size()));
  if (micros.empty()) return "-";
  std::sort(micros.begin(), micros.end());
  auto at = [&](double p) {
    return micros[std::min(micros.size() - 1, static_cast<std::size_t>(p * micros.size()))] /
           1000.0;
  };
  char text[64];
  std::snprintf(text, sizeof(text), "%.2f / %.2f / %.2f", at(0.5), at(0.99), at(1.0));
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = argc > 1 ? std::stoi(argv[1]) : 4;
  std::vector<int> shard_counts;
  for (int i = 2; i < argc; ++i) shard_counts.push_back(std::stoi(argv[i]));
  if (shard_counts.empty()) shard_counts = {1, 16, 256};
  shardjob::testing::ZookeeperServer server;
  shardjob::testing::TempDir dir;
  std::printf("%-7s %-12s %-6s %-18s %-20s %s\n", "shards", "claim_ahead", "fires",
              "round trips/fire", "server packets/fire", "lateness ms p50 / p99 / max");
  for (int shards : shard_counts) {
    for (int ahead_ms : {0, 20}) {
      const std::string name = std::to_string(shards) + "-" + std::to_string(ahead_ms);
      std::string config = dir.File("cost-" + name + ".yaml");
      std::string lateness = dir.File("late-" + name);
      shardjob::testing::WriteFile(
          config, "registry:\n  type: zookeeper\n  zookeeper: {servers: " +
                      server.connect_string() + ", namespace: cost-" + name +
                      "}\nlog_level: error\n"
                      "plugins: {dirs: [" SHARDJOB_PLUGIN_DIR ", " SHARDJOB_BENCH_PLUGIN_DIR
                      "]}\n"
                      "jobs:\n"
                      "  - name: cost\n    class: LATENESS_JOB\n    fixed_rate: 1s\n"
                      "    sharding_total_count: " +
                      std::to_string(shards) + "\n    claim_ahead: " + std::to_string(ahead_ms) +
                      "ms\n    props: {record.file: " + lateness + "}\n");
      auto instance = shardjob::Instance::Start(config);
      // Warm up: the first fires read the shard states the instance has not written yet.
      if (!shardjob::testing::WaitUntil([&] { return Fires(*instance) >= 3; })) {
        std::fprintf(stderr, "%d shards, claim_ahead %d ms: fewer than 3 fires in 10 s\n", shards,
                     ahead_ms);
        return 1;
      }
      std::uint64_t fires_before = Fires(*instance);
      std::size_t warm_up_tasks = ReadLateness(lateness).size();
      std::uint64_t requests_before = instance->RegistryRequests();
      long long packets_before = PacketsReceived(server);
      std::this_thread::sleep_for(std::chrono::seconds(seconds));
      std::uint64_t fires = Fires(*instance) - fires_before;
      std::uint64_t requests = instance->RegistryRequests() - requests_before;
      long long packets = PacketsReceived(server) - packets_before - 1;  // less this mntr
      instance->Stop();
      std::printf("%-7d %-12s %-6llu %-18.2f %-20.2f %s\n", shards,
                  (std::to_string(ahead_ms) + " ms").c_str(),
                  static_cast<unsigned long long>(fires),
                  fires ? static_cast<double>(requests) / fires : 0.0,
                  fires ? static_cast<double>(packets) / fires : 0.0,
                  LatenessSummary(lateness, warm_up_tasks).c_str());
    }
  }
  return 0;
}
