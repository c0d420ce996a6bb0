#!/usr/bin/env bash
# The cluster demo: installs and builds as scripts/demo.sh does, starts a local ZooKeeper (on a
# free loopback port, in a temp dir) and three `shardjob run` instances of examples/cluster.yaml,
# and shows the shards moving on scale-out and when an instance is killed. Ctrl-C stops
# everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHARDJOB_BUILD_TESTS=OFF \
  -DSHARDJOB_BUILD_BENCH=OFF > /dev/null
cmake --build build

work=$(mktemp -d /tmp/shardjob-cluster-demo-XXXXXX)
pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "== stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
  # `wait` returns the JVM's 143 after SIGTERM: under `set -e` that would skip the rm below.
  if [ -n "${zk_pid:-}" ]; then
    kill -TERM "$zk_pid" 2> /dev/null || true
    wait "$zk_pid" 2> /dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# shellcheck source=scripts/local-zookeeper.sh
. scripts/local-zookeeper.sh
start_local_zookeeper "$work" || exit 1
echo "== ZooKeeper on 127.0.0.1:$port (pid $zk_pid, log $work/zookeeper.log)"

export SHARDJOB_ZK=127.0.0.1:$port SHARDJOB_SESSION_TIMEOUT=3s
export SHARDJOB_PLUGIN_DIR=$root/build/plugins SHARDJOB_NAMESPACE=demo-$$
export SHARDJOB_TRACE_DB=$work/trace.db   # the three write one history, which the console shows
config=examples/cluster.yaml
start_instance() {
  # Each instance serves /metrics, /healthz, /api and the console on a port the kernel picks.
  SHARDJOB_HTTP=127.0.0.1:0 build/bin/shardjob run -c "$config" > "$work/$1.log" 2>&1 &
  pids+=($!)
  echo "== started instance $1 (pid $!, log $work/$1.log)"
}
endpoints() {
  for name in "$@"; do
    address=$(grep -o 'http://[0-9.:]*' "$work/$name.log" | head -1 || true)
    echo "   $name: ${address:+$address/metrics, console $address/}${address:-(not logged yet; see $work/$name.log)}"
  done
}
status() {
  echo "---- shardjob status ($1)"
  build/bin/shardjob status -c "$config" | grep -E 'leader|instance|assigned|shard' || true
}

start_instance a
sleep 5
status "one instance runs every shard"
start_instance b
start_instance c
sleep 6
status "three instances: the leader resharded"
echo "== their metrics and web console:"
endpoints a b c
echo "== kill -9 instance b (pid ${pids[1]}); its session expires in 3 s, then its shards move"
kill -KILL "${pids[1]}"
sleep 6
status "two survivors share the shards"
echo "== shardjob ctl: the jobs and instances, as an operator sees them"
build/bin/shardjob ctl -c "$config" jobs || true
build/bin/shardjob ctl -c "$config" instances || true
echo "== the instances keep running (logs in $work); Ctrl-C stops everything"
tail -f "$work/a.log" "$work/c.log"
