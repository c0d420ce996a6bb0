#!/usr/bin/env bash
# The migration demo (plugins/examples/table_copy/README.md): installs and builds as
# scripts/demo.sh does, creates a source table of 20000 rows, starts a local ZooKeeper (on a free
# loopback port, in a temp dir) and two `shardjob run` instances of examples/migration.yaml,
# triggers the copy, kills one instance with kill -9 in the middle of its key ranges, and checks
# that the survivor resumed them from their checkpoints and that the target equals the source.
# Exit code 0 when the copy is exact. Ctrl-C stops everything it started.
#
# SHARDJOB_BUILD_DIR=DIR uses an existing build (its bin/shardjob and plugins/) without
# installing or building anything.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

if [ -n "${SHARDJOB_BUILD_DIR:-}" ]; then
  build=$(cd "$SHARDJOB_BUILD_DIR" && pwd)
else
  scripts/install-deps.sh
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHARDJOB_BUILD_TESTS=OFF \
    -DSHARDJOB_BUILD_BENCH=OFF > /dev/null
  cmake --build build
  build=$root/build
fi

work=$(mktemp -d /tmp/shardjob-migration-demo-XXXXXX)
pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
  # `wait` returns the JVM's 143 after SIGTERM: under `set -e` that would skip the rm below.
  if [ -n "${zk_pid:-}" ]; then
    kill -TERM "$zk_pid" 2> /dev/null || true
    wait "$zk_pid" 2> /dev/null || true
  fi
  if [ "${keep:-0}" = 1 ]; then echo "== logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM
fail() {
  echo "== FAILED: $*" >&2
  keep=1
  exit 1
}
# Waits up to $1 seconds for the command that follows to succeed.
wait_for() {
  local seconds=$1
  shift
  for _ in $(seq $((seconds * 5))); do
    "$@" && return 0
    sleep 0.2
  done
  return 1
}

export MIGRATION_SOURCE=$work/orders.db MIGRATION_TARGET=$work/orders-copy.db
rows=${MIGRATION_ROWS:-20000}
examples/scripts/make-orders-db.sh "$MIGRATION_SOURCE" "$rows"

# shellcheck source=scripts/local-zookeeper.sh
. scripts/local-zookeeper.sh
start_local_zookeeper "$work" || fail "ZooKeeper did not start; see $work/zookeeper.log"
echo "== ZooKeeper on 127.0.0.1:$port (pid $zk_pid)"

export SHARDJOB_ZK=127.0.0.1:$port SHARDJOB_SESSION_TIMEOUT=3s SHARDJOB_HTTP=127.0.0.1:0
export SHARDJOB_PLUGIN_DIR=$build/plugins SHARDJOB_NAMESPACE=migration-$$
shardjob=$build/bin/shardjob
config=examples/migration.yaml
job=orders-migration
"$shardjob" validate -c "$config"

declare -A pid_of
start_instance() {
  "$shardjob" run -c "$config" > "$work/$1.log" 2>&1 &
  pids+=($!)
  pid_of[$1]=$!
  echo "== started instance $1 (pid $!, log $work/$1.log)"
}
started() { grep -q "started 1 job" "$work/$1.log"; }
start_instance a
start_instance b
wait_for 30 started a || fail "instance a did not start; see $work/a.log"
wait_for 30 started b || fail "instance b did not start; see $work/b.log"
sleep 2 # both instances join the job before the fire is cut into ranges

q() { sqlite3 -cmd ".timeout 5000" "$@"; }
progress() {
  q "$MIGRATION_TARGET" "SELECT '   [' || shard_start || ', ' || shard_end || '): last key ' ||
    last_key || ', token ' || fencing_token FROM shardjob_copy_progress ORDER BY shard_start" \
    2> /dev/null || true
}
echo "== trigger the copy: $rows rows, 4 key ranges"
"$shardjob" trigger -c "$config" "$job"

# b is killed once one of its ranges has committed two batches: its checkpoint is saved.
b_midway() {
  local line start end last
  while read -r line; do
    start=${line%%,*}
    end=${line##*, }
    last=$(q "$MIGRATION_TARGET" "SELECT last_key FROM shardjob_copy_progress
      WHERE shard_start = $start AND shard_end = $end" 2> /dev/null || true)
    [ -n "$last" ] && [ "$last" -ge $((start + 999)) ] && [ "$last" -lt $((end - 1)) ] && return 0
  done < <(grep -o 'copying shard \[[-0-9]*, [-0-9]*' "$work/b.log" | sed 's/.*\[//')
  return 1
}
wait_for 60 b_midway || fail "instance b never got midway through a range; see $work/*.log"
echo "== copying; the target's progress table:"
progress
echo "== kill -9 instance b (pid ${pid_of[b]}) in the middle of its ranges"
{
  kill -KILL "${pid_of[b]}"
  wait "${pid_of[b]}" || true
} 2> /dev/null # no "Killed" from the shell

done_copying() {
  [ "$(q "$MIGRATION_TARGET" "SELECT count(*) FROM shardjob_copy_progress
    WHERE last_key = shard_end - 1" 2> /dev/null)" = 4 ]
}
echo "== its session expires in 3 s; then a takes b's ranges over"
wait_for 90 done_copying || fail "the copy did not finish; see $work/a.log"
grep -q 'resuming shard' "$work/a.log" || wait_for 10 grep -q 'resuming shard' "$work/a.log" ||
  fail "a did not resume from a checkpoint; see $work/a.log"
echo "== a resumed b's ranges after their checkpoints, and copied only the rest:"
grep 'resuming shard' "$work/a.log" | sed 's/.*\] /   /'
while read -r range; do
  # The task logs what it copied just after its last batch.
  wait_for 10 grep -qF "shard $range: copied" "$work/a.log" || fail "a did not finish $range"
  grep -F "shard $range: copied" "$work/a.log" | sed 's/.*\] /   /'
done < <(grep -o 'resuming shard \[[-0-9]*, [-0-9]*)' "$work/a.log" | sed 's/resuming shard //')
echo "== the target's progress table:"
progress

checksum="SELECT count(*) || ' rows, ids ' || total(id) || ', amounts ' || total(amount) ||
  ', text ' || total(length(customer) + length(created_at)) || ', notes ' ||
  total(coalesce(length(note), -1) * id) FROM orders"
source_sum=$(q "$MIGRATION_SOURCE" "$checksum")
target_sum=$(q "$MIGRATION_TARGET" "$checksum")
differences=$(q "$MIGRATION_TARGET" "ATTACH '$MIGRATION_SOURCE' AS src;
  SELECT (SELECT count(*) FROM (SELECT * FROM src.orders EXCEPT SELECT * FROM main.orders)) +
         (SELECT count(*) FROM (SELECT * FROM main.orders EXCEPT SELECT * FROM src.orders))")
echo "   source: $source_sum"
echo "   target: $target_sum"
if [ "$source_sum" != "$target_sum" ] || [ "$differences" != 0 ]; then
  fail "the target differs from the source ($differences rows)"
fi
echo "== OK: the target equals the source"
