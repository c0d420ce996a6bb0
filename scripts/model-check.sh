#!/usr/bin/env bash
# Quick model checks of the shard claim/commit protocol (docs/model/shardjob.pml, SPIN).
#
# Every check builds pan from the model with its own -D switches, in a temporary directory, and
# compares pan's verdict with the expected one:
#   pass               exhaustive search, no error (no depth or memory limit hit)
#   fail:ASSERTION     pan finds an error, it is that named assertion, and it wrote a trail
#   cycle              (liveness) pan finds an acceptance cycle
# One line per check: name, expected, got, states stored, seconds (build + search).
# Exit status 1 if any check's outcome differs from its expectation, 2 if a tool is missing.
#
# Needs spin (Debian package `spin`, 6.5) and gcc. About 85 s on 2 idle cores, < 2 GB of memory.
# Environment: MODEL_CHECK_JOBS=N parallel checks (default: nproc, at most 4);
#              MODEL_CHECK_KEEP=1 keeps the build directory (trails, pan output) and prints it.
# docs/model/README.md says what each check shows; docs/model/run-one.sh replays a trail.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
model="$root/docs/model/shardjob.pml"
for tool in spin gcc; do
  command -v "$tool" >/dev/null || { echo "model-check: $tool not found (apt-get install -y $tool)" >&2; exit 2; }
done
[ -r "$model" ] || { echo "model-check: $model not found" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/shardjob-model.XXXXXX")
if [ "${MODEL_CHECK_KEEP:-0}" = 1 ]; then
  trap 'echo "model-check: build directory kept: $work"' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi

jobs=${MODEL_CHECK_JOBS:-$(nproc 2>/dev/null || echo 2)}
[ "$jobs" -gt 4 ] && jobs=4
[ "$jobs" -lt 1 ] && jobs=1

# name | expected | -D switches | mode. Longest first, so that parallel runs end together.
# Model defaults: NP=2 NS=2 NF=2 MAXCRASH=1 MAXEXP=1 MAXCL=1 MAXREL=1 ASSIGN=1 FAILOVER=1,
# PROP_LIVE=2 (G3a/G4 in both senses: claim session alive, and lease there), PROP_ENTRY=1,
# PROP_STALE=1. No BROKEN_* or FIX_* switch: the code as built.
# "fail:A/B" accepts a violation of A or of B (the same property seen from two sides).
G34="G3a_one_live_runner/G4_no_overlapping_fires"
X2="-DNF=1 -DMAXEXP=2 -DMAXCL=0 -DMAXCRASH=0 -DMAXREL=0"   # two expiries, nothing else
# two lost replies (a commit given up) and an expiry: leaves this process's own leases behind
ST="-DNF=1 -DMAXCL=2 -DMAXEXP=1 -DMAXCRASH=0 -DMAXREL=0"
checks=(
  # --- the protocol as built: G1-G4 (G3a/G4 in the session sense too), ENTRY and STALE hold ---
  "G1_liveness             | pass | -DNS=1 -DLIVENESS=1 -DMAXREL=0 | liveness"
  "asbuilt_recreate        | pass | -DNS=1 -DRECREATE=1 -DCKPT=1 -DMAXCRASH=0 -DMAXREL=0 | safety"
  "asbuilt_checkpoint      | pass | -DNF=1 -DCKPT=1 -DMAXCRASH=0 -DMAXREL=0 | safety"
  "asbuilt_multishard      | pass | -DNF=1 -DMAXREL=0 | safety"
  "asbuilt_overlap         | pass | -DNS=1 | safety"
  "asbuilt_stale_guard     | pass | $ST | safety"
  "asbuilt_2expiries       | pass | $X2 | safety"
  "asbuilt_entry_report    | pass | -DNS=1 -DNF=1 -DPROP_REPORT=2 | safety"
  # --- a proposed fix, not in the code ---
  "fix_report              | pass | -DNS=1 -DPROP_REPORT=1 -DFIX_REPORT=1 | safety"
  # --- hazards of the code as built (README, "Findings") ---
  "known_report_fenced     | fail:REPORT_fenced_is_true | -DNS=1 -DPROP_REPORT=1 | safety"
  "known_report_entry      | fail:REPORT_fenced_is_true | -DNS=1 -DPROP_REPORT=2 | safety"
  # --- deliberately broken variants: each must be caught ---
  "broken_claim_session    | fail:ENTRY_refuses_only_lost_claims | -DNF=1 -DMAXREL=0 -DBROKEN_CLAIM_SESSION=1 | safety"
  "broken_stale_delete     | fail:STALE_delete_hits_no_held_claim | $ST -DBROKEN_STALE_DELETE=1 | safety"
  "broken_stale_del_runs   | fail:$G34 | $ST -DBROKEN_STALE_DELETE=1 -DPROP_STALE=0 | safety"
  "broken_entry_no_resolve | fail:REPORT_fenced_is_true | -DNS=1 -DNF=1 -DPROP_REPORT=2 -DBROKEN_ENTRY_NO_RESOLVE=1 | safety"
  "broken_resend_new_sess  | fail:G3c_commit_from_lease_holder | -DNS=1 -DBROKEN_RESEND_ON_NEW_SESSION=1 | safety"
  "broken_no_lease_delete  | fail:G3c_commit_from_lease_holder | -DNS=1 -DBROKEN_NO_LEASE_DELETE=1 | safety"
  "broken_ckpt_no_lease    | fail:G3c_checkpoint_from_lease_holder | -DNS=1 -DCKPT=1 -DBROKEN_CKPT_NO_LEASE_CHECK=1 | safety"
  "broken_recreate_reset   | fail:G3c_commit_from_lease_holder/G3c_checkpoint_from_lease_holder | -DNS=1 -DRECREATE=1 -DCKPT=1 -DBROKEN_RECREATE_RESETS_STATE=1 -DMAXCRASH=0 | safety"
  "broken_overlap          | fail:$G34 | -DNS=1 -DBROKEN_OVERLAP=1 -DPROP_STALE=0 -DFAILOVER=0 -DMAXCRASH=0 -DMAXEXP=0 -DMAXCL=0 | safety"
)

# expected EXPECT GOT: whether GOT is what EXPECT allows
expected() {
  local want=$1 got=$2 alt
  [ "$want" = "$got" ] && return 0
  case "$want" in
    fail:*/*)
      for alt in $(echo "${want#fail:}" | tr '/' ' '); do
        [ "$got" = "fail:$alt" ] && return 0
      done ;;
  esac
  return 1
}

field() { echo "$1" | cut -d'|' -f"$2" | sed -e 's/^ *//' -e 's/ *$//'; }

# run_check INDEX: builds and runs one check; writes its result line to $work/INDEX.result
run_check() {
  local i=$1 line=${checks[$1]}
  local name expect defs mode dir start opt pan_flags out rc errors states verdict got
  name=$(field "$line" 1); expect=$(field "$line" 2); defs=$(field "$line" 3); mode=$(field "$line" 4)
  dir="$work/$name"
  mkdir -p "$dir"
  cp "$model" "$dir/shardjob.pml"
  start=$(date +%s.%N)
  # Checks expected to pass search everything: optimise pan. The others stop at the first error.
  # -DNOREDUCE: partial-order reduction prunes nothing in this model (same state counts), and
  # with it pan's breadth-first search missed errors; it is off everywhere to keep one semantics.
  if [ "$expect" = pass ]; then opt=-O2; else opt=-O0; fi
  (
    cd "$dir" || exit 1
    # shellcheck disable=SC2086
    spin $defs -a shardjob.pml >spin.out 2>&1 || exit 1
    if [ "$mode" = liveness ]; then
      gcc $opt -w -DMEMLIM=4000 -DNFAIR=3 -DCOLLAPSE -DNOREDUCE -o pan pan.c >gcc.out 2>&1 || exit 1
      pan_flags="-a -f -m200000 -w24 -N g1"
    else
      gcc $opt -w -DMEMLIM=4000 -DNOCLAIM -DSAFETY -DCOLLAPSE -DNOREDUCE -o pan pan.c >gcc.out 2>&1 || exit 1
      pan_flags="-m200000 -w24"
    fi
    # shellcheck disable=SC2086
    timeout 300 ./pan $pan_flags >pan.out 2>&1
    echo $? >pan.rc
  )
  rc=$?
  out="$dir/pan.out"
  errors=$(sed -n 's/.*errors: *\([0-9][0-9]*\).*/\1/p' "$out" 2>/dev/null | head -1)
  states=$(awk '/states, stored/ {print $1; exit}' "$out" 2>/dev/null)
  if [ "$rc" != 0 ] || [ -z "$errors" ]; then
    got="build-or-run-error"
  elif [ "$errors" = 0 ]; then
    if grep -qE "Search not completed|max search depth too small|reached -DMEMLIM" "$out"; then
      got="incomplete"
    else
      got="pass"
    fi
  else
    verdict=$(grep -m1 -oE "assertion violated [A-Za-z0-9_]+|acceptance cycle" "$out")
    case "$verdict" in
      "assertion violated "*) got="fail:${verdict#assertion violated }" ;;
      "acceptance cycle") got="cycle" ;;
      *) got="fail:$(grep -m1 '^pan:' "$out" | cut -c1-40)" ;;
    esac
    [ -f "$dir/shardjob.pml.trail" ] || got="$got(no trail)"
  fi
  local secs
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  printf "%s|%s|%s|%s|%s\n" "$name" "$expect" "$got" "${states:-?}" "$secs" >"$work/$i.result"
}

t0=$(date +%s.%N)
running=0
for i in "${!checks[@]}"; do
  run_check "$i" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

status=0
rows="check|expected|got|states|seconds|"
for i in "${!checks[@]}"; do
  IFS='|' read -r name expect got states secs <"$work/$i.result"
  mark=""
  if ! expected "$expect" "$got"; then mark="<-- MISMATCH"; status=1; fi
  rows+=$'\n'"$name|$expect|$got|$states|$secs|$mark"
done
# one line per check, columns as wide as their widest entry
echo "$rows" | awk -F'|' '
  { for (c = 1; c <= NF; c++) { cell[NR, c] = $c; if (length($c) > w[c]) w[c] = length($c) } n = NR }
  END { for (r = 1; r <= n; r++) {
          line = sprintf("%-*s  %-*s  %-*s  %*s  %*s  %s", w[1], cell[r, 1], w[2], cell[r, 2], w[3], cell[r, 3],
                         w[4], cell[r, 4], w[5], cell[r, 5], cell[r, 6])
          sub(/ +$/, "", line)
          print line } }'
total=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
if [ "$status" = 0 ]; then
  printf "model-check: all %d checks as expected in %.0f s (%d parallel)\n" "${#checks[@]}" "$total" "$jobs"
else
  printf "model-check: MISMATCH (see above) after %.0f s; rerun with MODEL_CHECK_KEEP=1 to keep pan's output\n" "$total"
fi
exit "$status"
