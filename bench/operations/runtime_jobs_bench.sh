#!/usr/bin/env bash
# Jobs created and deleted at run time, through the HTTP API, on a cluster of two `shardjob run`
# processes and a real ZooKeeper (Debian's package) that this script starts on loopback and stops.
# Prints: how long POST /api/jobs takes to answer; how long until the new job is registered on
# both processes with a valid assignment (status OK, 2 instances); how long from DELETE until the
# job's nodes are gone; the cost of GET /api/jobs and GET /api/jobs/{job}.
#
#   bench/operations/runtime_jobs_bench.sh [BUILD_DIR] [ROUNDS]     (defaults: build 20)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
rounds=${2:-20}
source scripts/local-zookeeper.sh
work=$(mktemp -d /tmp/shardjob-ops-bench-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
start_local_zookeeper "$work"
pids+=("$zk_pid")
for id in a b; do
  cat > "$work/$id.yaml" << YAML
instance_id: $id
registry:
  type: zookeeper
  zookeeper: {servers: "127.0.0.1:$port", namespace: ops-bench, session_timeout: 3s}
plugins:
  dirs: [$PWD/$build/plugins, $PWD/$build/test-fixtures/app-plugins]
http: {listen: "127.0.0.1:0"}
YAML
  "$build/bin/shardjob" run -c "$work/$id.yaml" > "$work/$id.log" 2>&1 &
  pids+=($!)
done
endpoint=""
for _ in $(seq 150); do
  endpoint=$(grep -o 'http://[0-9.:]*' "$work/a.log" | head -1 || true)
  [ -n "$endpoint" ] && grep -q "instance=b started" "$work/b.log" && break
  sleep 0.2
done
[ -n "$endpoint" ] || { echo "instance a did not start; see $work/a.log" >&2; exit 1; }
python3 - "$endpoint" "$rounds" "$work" << 'PY'
import json, sys, time, urllib.error, urllib.request

base, rounds, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, method=method, data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None

def until(condition, limit_s=30):
    deadline = time.time() + limit_s
    while not condition():
        if time.time() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.002)

def median_max(values):
    values = sorted(values)
    return "median %.1f ms, max %.1f ms" % (values[len(values) // 2], values[-1])

answer, running, deleted = [], [], []
for i in range(rounds):
    name = "bench-%d" % i
    started = time.time()
    status, _ = call("POST", "/api/jobs", {"name": name, "class": "RECORDING_JOB",
                                           "sharding_total_count": 4,
                                           "props": {"record.file": "%s/%s.txt" % (work, name)}})
    assert status == 201, status
    answer.append((time.time() - started) * 1000)
    until(lambda: (lambda job: job is not None and job["instances"] == 2
                   and job["status"] == "OK")(call("GET", "/api/jobs/" + name)[1]))
    running.append((time.time() - started) * 1000)
    started = time.time()
    call("DELETE", "/api/jobs/" + name)
    until(lambda: call("GET", "/api/jobs/" + name)[0] == 404)
    deleted.append((time.time() - started) * 1000)
print("rounds                                  %d" % rounds)
print("POST /api/jobs answered                 " + median_max(answer))
print("created -> on both instances (OK, 2)    " + median_max(running))
print("DELETE -> every node gone               " + median_max(deleted))
status, _ = call("POST", "/api/jobs", {"name": "listed", "class": "RECORDING_JOB",
                                       "sharding_total_count": 4,
                                       "props": {"record.file": work + "/listed.txt"}})
assert status == 201, status
for path in ("/api/jobs", "/api/jobs/listed"):
    started = time.time()
    for _ in range(200):
        call("GET", path)
    print("GET %-35s %.2f ms each" % (path, (time.time() - started) * 1000 / 200))
PY
