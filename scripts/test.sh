#!/usr/bin/env bash
# Installs the dependencies, builds everything with AddressSanitizer and UBSan, and runs every
# test (the fault-injection runs of tests/fault and the console's browser tests among them);
# checks the protocol model; then rebuilds the concurrency-heavy tests with ThreadSanitizer and
# runs them. CI runs this.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --browser

jobs=$(nproc)
echo "== build with AddressSanitizer + UBSan (build-asan/)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSHARDJOB_SANITIZE=ON \
  -DSHARDJOB_BROWSER_TESTS=ON
cmake --build build-asan -j "$jobs"
echo "== run every test"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 300

echo "== check the protocol model (docs/model): every property holds, a broken variant fails"
scripts/model-check.sh

echo "== build the concurrency tests with ThreadSanitizer (build-tsan/)"
tsan_targets=(registry_test zookeeper_registry_test coordination_test execution_test schedule_test
  instance_test http_server_test metrics_and_health_test tracing_instance_test alerts_test
  shard_plans_test plugin_rescan_test runtime_plugins_test api_fuzz_test trace_history_test)
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSHARDJOB_TSAN=ON -DSHARDJOB_BUILD_BENCH=OFF
cmake --build build-tsan -j "$jobs" --target "${tsan_targets[@]}"
echo "== run them under ThreadSanitizer"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build-tsan --output-on-failure -j "$jobs" --timeout 300 \
    -R "^(RegistryTest|Registries/|ZookeeperRegistryTest|CoordinationTest|WorkerPoolTest|TaskLaneTest|StartGateTest|TraceDispatcherTest|TimerQueueTest|InstanceTest|JobRuntimeTest|ClockWatchTest|RouterTest|HttpServerTest|SlowRequestsTest|MetricsTest|PostgresqlTracingTest|TracingInstanceTest|AlertSenderTest|ShardingModesTest|RescanTest|RescanRaceTest|RuntimePluginsTest|ApiFuzzTest|Backends/TraceHistoryTest.QueriesFromManyThreads)"
