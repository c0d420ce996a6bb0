// Plugin load: PluginRegistry::LoadDirectory on the build's whole plugin directory
// (SHARDJOB_PLUGIN_DIR, every plugin the build makes: see CMakeLists.txt), what an instance does at
// start for a config whose `plugins.dirs` points there.
//
// What the figures mean, given the dynamic loader's caching:
//   - first_in_process: the process's first load. Each library and the dependencies it brings
//     (libcurl, OpenSSL, libpq, SQLite, ...) are mapped, relocated (BIND_NOW) and initialised for
//     the first time; the files themselves are in the page cache (they were just built). One
//     sample per process: run the program several times for a spread.
//   - fresh_registry: a new PluginRegistry per iteration, destroyed (untimed) after it. Destroying
//     it closes every plugin, so each iteration dlopens every plugin again; but dependencies that
//     are NODELETE (OpenSSL) or still referenced by the benchmark itself (libshardjob_spi, libstdc++)
//     stay mapped, so this is a repeated load, a lower bound of the first one.
// dlopen'ing a library that is already open only bumps a reference count, which is why neither
// figure reuses one registry: a second LoadDirectory on it would not open anything.

#include <chrono>
#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include <benchmark/benchmark.h>

#include "plugin/plugin_registry.h"

namespace {

using shardjob::plugin::PluginRegistry;

const std::filesystem::path kPluginDir = SHARDJOB_PLUGIN_DIR;

// The registry's outcome, as counters: a directory with refused libraries (a stale build) would
// otherwise post a figure for less work than it claims.
void CountOutcome(benchmark::State& state, const PluginRegistry& registry) {
  std::set<std::string> files;
  for (const auto& type : registry.Types()) files.insert(type.file);
  state.counters["libraries"] = static_cast<double>(files.size());
  state.counters["types"] = static_cast<double>(registry.Types().size());
  state.counters["refused"] = static_cast<double>(registry.Refused().size());
}

void BM_PluginDirectoryLoad_FirstInProcess(benchmark::State& state) {
  static bool already_ran = false;
  if (already_ran) {
    state.SkipWithError("only the process's first load is a first load: run the program again");
    return;
  }
  already_ran = true;
  std::optional<PluginRegistry> registry;
  // LoadDirectory's dlopen calls are side effects the compiler cannot drop: no DoNotOptimize.
  for (auto _ : state) {
    registry.emplace();
    registry->LoadDirectory(kPluginDir);
  }
  CountOutcome(state, *registry);
}
// Registered before fresh_registry, in this file, so that it runs first when both are selected.
BENCHMARK(BM_PluginDirectoryLoad_FirstInProcess)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_PluginDirectoryLoad_FreshRegistry(benchmark::State& state) {
  std::optional<PluginRegistry> registry;
  for (auto _ : state) {
    // The previous iteration's registry is closed untimed: closing the libraries is not part of a
    // load (nor of an instance's start). The last one is kept for the counters.
    state.PauseTiming();
    registry.reset();
    state.ResumeTiming();
    registry.emplace();
    registry->LoadDirectory(kPluginDir);
  }
  if (registry) CountOutcome(state, *registry);
}
BENCHMARK(BM_PluginDirectoryLoad_FreshRegistry)->Unit(benchmark::kMillisecond);

}  // namespace
