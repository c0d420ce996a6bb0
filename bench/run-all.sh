#!/usr/bin/env bash
# Every figure of issue 10 from one command: installs what is needed, builds a Release tree
# (build-bench/), and runs the benchmarks one after another, each printing its own figures:
#   1. in-process micro benchmarks (cron, sharding strategies, config parse, plugin load);
#   2. ZooKeeper round trips and lateness per fire at 1, 16 and 256 shards, with and without
#      claim_ahead (a real ZooKeeper the benchmark starts);
#   3. ElasticJob's measured scenario side by side: lateness, ZooKeeper packets, RSS and CPU with
#      1 and 3 instances, resharding after scale-out, kill -9 between runs and while running
#      (failover time against the session timeout, cells never run or run twice);
#   4. many jobs on one instance: idle RSS, CPU and threads with 100, 1,000 and 10,000 jobs, and
#      lateness with 10,000 jobs due at the same second;
#   5. dynamic sharding of skewed shards (tasks per second, stealing).
# Figures and what they mean: docs/benchmarks.md. Takes about 15 minutes on 2 cores; --quick runs
# each part shorter and smaller (a smoke run: its figures are not the documented ones).
#
#   bench/run-all.sh [--quick] [build dir, default build-bench]     (as root, like README's
#                                                                   two commands: it installs)
set -euo pipefail
cd "$(dirname "$0")/.."

quick=false
if [[ "${1:-}" == "--quick" ]]; then
  quick=true
  shift
fi
build=${1:-build-bench}

scripts/install-deps.sh
# The tests' targets too: the scenario's job is the fault harness's recorder.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHARDJOB_BUILD_BENCH=ON \
  -DSHARDJOB_BUILD_TESTS=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target micro_bench registry_cost_bench scale_bench \
  skew_bench shardjob shardjob_fault_recorder

section() { printf '\n==== %s\n' "$*"; }

if $quick; then
  micro_time=0.05 registry_seconds=3 window=8 idle_seconds=3 fire_seconds=5 many=1000
  idle_jobs=(100 1000)
else
  micro_time=0.5 registry_seconds=10 window=30 idle_seconds=10 fire_seconds=30 many=10000
  idle_jobs=(100 1000 10000)
fi

section "1. micro benchmarks ($build/bin/micro_bench)"
"$build/bin/micro_bench" --benchmark_min_time="$micro_time"

section "2. ZooKeeper cost and lateness per fire ($build/bin/registry_cost_bench $registry_seconds)"
"$build/bin/registry_cost_bench" "$registry_seconds"

section "3. ElasticJob's scenario on shardjob (bench/elasticjob/scenario_bench.py)"
python3 bench/elasticjob/scenario_bench.py --build "$build" --window "$window"
section "3b. the same with claim_ahead: 20ms"
python3 bench/elasticjob/scenario_bench.py --build "$build" --window "$window" --claim-ahead 20

section "4. many jobs on one instance ($build/bin/scale_bench)"
for jobs in "${idle_jobs[@]}"; do
  "$build/bin/scale_bench" idle "$jobs" "$idle_seconds" min
done
"$build/bin/scale_bench" idle 100 "$idle_seconds" full
"$build/bin/scale_bench" fire "$many" "$fire_seconds" min "* * * * * ?" 400
"$build/bin/scale_bench" fire "$many" "$fire_seconds" min "* * * * * ?" 0

section "5. dynamic sharding of skewed shards ($build/bin/skew_bench)"
"$build/bin/skew_bench"
