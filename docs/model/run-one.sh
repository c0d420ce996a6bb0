#!/usr/bin/env bash
# Runs one check of shardjob.pml and, if pan finds an error, prints the counterexample as
# protocol events (the model's "@@" lines) and the assertion that failed.
#
#   docs/model/run-one.sh "-DNS=1 -DPROP_REPORT=1"           # safety, depth-first
#   docs/model/run-one.sh "-DNS=1 -DPROP_REPORT=1" bfs       # safety, breadth-first: shortest trace
#   docs/model/run-one.sh "-DNS=1 -DLIVENESS=1" liveness     # G1 under weak fairness
#
# Builds in a temporary directory (never in the source tree) and removes it afterwards, unless
# KEEP=1 (then it prints where it is). The switches are listed at the top of shardjob.pml;
# README.md next to this file has the checks of scripts/model-check.sh. Needs spin and gcc.
set -uo pipefail

defs=${1:-}
mode=${2:-safety}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/shardjob-model-one.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
  trap 'echo "run-one: kept $work"' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi
cp "$here/shardjob.pml" "$work/"
cd "$work" || exit 2

# shellcheck disable=SC2086
spin $defs -a shardjob.pml >spin.out 2>&1 || { cat spin.out; exit 2; }
case "$mode" in
  safety)   cflags="-DNOCLAIM -DSAFETY -DCOLLAPSE -DNOREDUCE"; pflags="-m200000 -w24" ;;
  # BFS only without partial-order reduction: with it, pan's BFS missed errors of this model
  bfs)      cflags="-DNOCLAIM -DSAFETY -DBFS -DNOREDUCE"; pflags="-m200000 -w26" ;;
  liveness) cflags="-DNFAIR=3 -DCOLLAPSE -DNOREDUCE"; pflags="-a -f -m200000 -w24 -N g1" ;;
  *) echo "run-one: mode is safety, bfs or liveness" >&2; exit 2 ;;
esac
# shellcheck disable=SC2086
gcc -O2 -w -DMEMLIM=8000 $cflags -o pan pan.c || exit 2
# shellcheck disable=SC2086
./pan $pflags >pan.out 2>&1
grep -E "^pan:[0-9]|errors:|states, stored|elapsed time|Search not completed|max search depth" pan.out
if [ -f shardjob.pml.trail ]; then
  echo "--- counterexample (thread tN = instance thread N; sN = ZooKeeper session N) ---"
  # shellcheck disable=SC2086
  spin -t $defs shardjob.pml 2>&1 | grep -E "@@|assertion violated|START OF CYCLE" | sed -e 's/^ *//'
fi
