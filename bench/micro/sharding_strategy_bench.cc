// Sharding strategies: one ShardingStrategy::Shard call, through the plugin as the kernel builds
// it (PluginRegistry::Create), for 10,000 items over 100 instances, plus a smaller and a larger
// case so that the per-item figure shows whether a strategy scales linearly.
//
// The leader calls Shard when the job's instances or shard count change (JobCoordinator::Reshard),
// not on every fire; the figure bounds what a membership change costs before the plan is written.

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "plugin/plugin_registry.h"
#include "shardjob/spi/logger.h"
#include "shardjob/spi/plugin.h"
#include "shardjob/spi/properties.h"
#include "shardjob/spi/sharding_strategy.h"

namespace {

namespace spi = shardjob::spi;
using shardjob::plugin::PluginRegistry;

class NullLogger final : public spi::Logger {
 public:
  void Log(spi::LogLevel /*level*/, std::string_view /*message*/) override {}
};

// Instance ids as GenerateInstanceId makes them ("<host>@<pid>@<8 hex digits>"): about 40
// characters, so longer than the small-string buffer and every copy of one allocates, as in
// production. Sorted in descending order, as the kernel hands them over.
std::vector<std::string> InstanceIds(int count) {
  std::vector<std::string> ids;
  ids.reserve(count);
  for (int i = 0; i < count; ++i) {
    char id[96];
    std::snprintf(id, sizeof(id), "worker-%04d.prod.example.com@%d@%08x", i, 4000 + i * 7,
                  0x9e3779b9u * static_cast<unsigned>(i + 1));
    ids.push_back(id);
  }
  std::sort(ids.rbegin(), ids.rend());
  return ids;
}

// True when every item 0..total-1 is in exactly one list and every owner is a requested instance:
// checked once before timing, so a broken strategy cannot post a fast figure.
bool PlanIsComplete(const spi::ShardingRequest& request, const spi::ShardingPlan& plan) {
  std::vector<int> times_seen(request.sharding_total_count, 0);
  for (const auto& [instance, items] : plan) {
    if (std::find(request.instances.begin(), request.instances.end(), instance) ==
        request.instances.end()) {
      return false;
    }
    for (int item : items) {
      if (item < 0 || item >= request.sharding_total_count) return false;
      ++times_seen[item];
    }
  }
  return std::all_of(times_seen.begin(), times_seen.end(), [](int n) { return n == 1; });
}

// state.range(0) items over state.range(1) instances.
void BM_ShardingStrategy(benchmark::State& state, const char* library, const char* type) {
  // A registry of its own holding only this strategy's library, dropped (and the library closed)
  // when the benchmark returns, so that the plugin-load benchmark's first load stays a first load.
  PluginRegistry registry;
  if (!registry.LoadLibrary(std::string(SHARDJOB_PLUGIN_DIR) + "/" + library)) {
    state.SkipWithError(("cannot load " + std::string(library) + ": " +
                         registry.Refused().back().reason).c_str());
    return;
  }
  spi::Properties props;
  NullLogger logger;
  const std::shared_ptr<spi::ShardingStrategy> strategy =
      registry.Create<spi::ShardingStrategy>(type, spi::PluginContext{props, logger, "order-sync"});

  spi::ShardingRequest request;
  request.job_name = "order-sync";
  request.sharding_total_count = static_cast<int>(state.range(0));
  request.instances = InstanceIds(static_cast<int>(state.range(1)));

  {
    spi::ShardingPlan plan;
    const spi::Status status = strategy->Shard(request, &plan);
    if (!status.ok() || !PlanIsComplete(request, plan)) {
      state.SkipWithError((std::string(type) + " did not give a complete plan: " +
                           status.ToString()).c_str());
      return;
    }
  }

  for (auto _ : state) {
    // A fresh plan per call, as Reshard makes one: its map nodes and item vectors are part of the
    // cost (and so is freeing them, at the end of each iteration).
    spi::ShardingPlan plan;
    spi::Status status = strategy->Shard(request, &plan);
    benchmark::DoNotOptimize(status);
    benchmark::DoNotOptimize(plan);
  }
  state.counters["per_item"] = benchmark::Counter(
      static_cast<double>(state.range(0)),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// {items, instances}: the headline case first, then a tenth and ten times of each.
void ShardingCases(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"items", "instances"});
  bench->Args({10000, 100});
  bench->Args({1000, 10});
  bench->Args({100000, 1000});
  bench->Unit(benchmark::kMicrosecond);
}

BENCHMARK_CAPTURE(BM_ShardingStrategy, AVG_ALLOCATION, "shardjob_sharding_strategy_average.so",
                  "AVG_ALLOCATION")
    ->Apply(ShardingCases);
BENCHMARK_CAPTURE(BM_ShardingStrategy, ODEVITY, "shardjob_sharding_strategy_odevity.so",
                  "ODEVITY")
    ->Apply(ShardingCases);
BENCHMARK_CAPTURE(BM_ShardingStrategy, ROUND_ROBIN, "shardjob_sharding_strategy_round_robin.so",
                  "ROUND_ROBIN")
    ->Apply(ShardingCases);
BENCHMARK_CAPTURE(BM_ShardingStrategy, SINGLE_SHARDING_BALANCE,
                  "shardjob_sharding_strategy_single_balance.so", "SINGLE_SHARDING_BALANCE")
    ->Apply(ShardingCases);

}  // namespace
