// Prints what a fire costs in ZooKeeper requests, for jobs of 1, 4 and 64 shards on one
// instance against a real ZooKeeper server the benchmark starts itself (as the tests do):
// the instance's own request count, and the server's packets received (`mntr`), per fire.
//
//   build/bin/registry_cost_bench [seconds-per-case=4]

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

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

}  // namespace

int main(int argc, char** argv) {
  int seconds = argc > 1 ? std::stoi(argv[1]) : 4;
  shardjob::testing::ZookeeperServer server;
  shardjob::testing::TempDir dir;
  std::printf("%-7s %-6s %-22s %-22s\n", "shards", "fires", "instance requests/fire",
              "server packets/fire");
  for (int shards : {1, 4, 64}) {
    std::string config = dir.File("cost-" + std::to_string(shards) + ".yaml");
    shardjob::testing::WriteFile(
        config, "registry:\n  type: zookeeper\n  zookeeper: {servers: " + server.connect_string() +
                    ", namespace: cost-" + std::to_string(shards) +
                    "}\nlog_level: error\nplugins: {dirs: [" SHARDJOB_PLUGIN_DIR
                    "]}\njobs:\n"
                    "  - name: cost\n    class: EXAMPLE_ORDER_SYNC\n    fixed_rate: 100ms\n"
                    "    sharding_total_count: " +
                    std::to_string(shards) + "\n");
    auto instance = shardjob::Instance::Start(config);
    // Warm up: the first fires read the shard states the instance has not written yet.
    shardjob::testing::WaitUntil([&] { return Fires(*instance) >= 3; });
    std::uint64_t fires_before = Fires(*instance);
    std::uint64_t requests_before = instance->RegistryRequests();
    long long packets_before = PacketsReceived(server);
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    std::uint64_t fires = Fires(*instance) - fires_before;
    std::uint64_t requests = instance->RegistryRequests() - requests_before;
    long long packets = PacketsReceived(server) - packets_before - 1;  // less this mntr
    instance->Stop();
    std::printf("%-7d %-6llu %-22.2f %-22.2f\n", shards, static_cast<unsigned long long>(fires),
                fires ? static_cast<double>(requests) / fires : 0.0,
                fires ? static_cast<double>(packets) / fires : 0.0);
  }
  return 0;
}
