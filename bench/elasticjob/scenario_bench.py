#!/usr/bin/env python3
"""ElasticJob's measured scenario, run on shardjob (shared/reference/elasticjob-measured.md).

One job of 4 shards on a cron of every second, failover on, a job body of about 1 ms, against a
real ZooKeeper started here (standalone, loopback, tickTime 500, untuned data dir, as there):

  1. one instance: start-up, RSS, threads, CPU, lateness, ZooKeeper packets per trigger;
  2. three instances started 2.5 s apart: the same, per instance;
     and, as each joins, how long until the leader has given it shards (scale-out resharding);
  3. kill -9 of the instance holding 2 shards, 500 ms into a second (between runs), then every
     (second, shard) cell from 8 s before to 33 s after the kill: empty, run once, run twice;
  4. the same with a 300 ms job body, killed 150 ms into a second while its shards run.

Lateness is a task's start minus its scheduled second, as there. Every process started here is
stopped by its own pid; the temp dir is removed unless --keep.

  python3 bench/elasticjob/scenario_bench.py [--build build] [--session-timeout 3]
                                             [--claim-ahead MS]
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

# The fault harness's helpers: this bench runs its FAULT_RECORDER job too.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "fault"))
import harness  # noqa: E402  (the path above first)

ZK_CLASSPATH = harness.ZK_CLASSPATH
JOB = "ej"
SHARDS = 4


def free_port():
    return harness.free_ports(1)[0]


def four_letter_word(port, word):
    return harness.four_letter_word(port, word, timeout=2)


def wait_for(what, predicate, timeout, interval=0.05):
    """harness.wait_for, raising when `predicate` never held."""
    value = harness.wait_for(predicate, timeout, interval)
    if not value:
        raise RuntimeError("timed out after %d s waiting for %s" % (timeout, what))
    return value


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def proc_status(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as file:
        for line in file:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as file:
        parts = file.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.dir = tempfile.mkdtemp(prefix="shardjob-ej-scenario-")
        self.processes = []
        self.zk_port = free_port()

    # ---- processes

    def spawn(self, argv, log, env=None):
        # Killed with the bench, whatever kills it (the fault harness's parent-death signal).
        with open(log, "ab") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True, env=env,
                                    preexec_fn=harness._die_with_harness)
        self.processes.append(proc)
        return proc

    def stop(self, proc, sig=signal.SIGTERM):
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self):
        for proc in reversed(self.processes):
            self.stop(proc)
        if not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def start_zookeeper(self):
        data = os.path.join(self.dir, "zk")
        os.makedirs(data)
        config = os.path.join(self.dir, "zoo.cfg")
        with open(config, "w") as file:
            file.write("tickTime=500\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"
                       "admin.enableServer=false\n4lw.commands.whitelist=ruok,mntr\n"
                       % (data, self.zk_port))
        self.spawn(["java", "-Xmx256m", "-cp", ZK_CLASSPATH,
                    "org.apache.zookeeper.server.ZooKeeperServerMain", config],
                   os.path.join(self.dir, "zookeeper.log"))
        wait_for("ZooKeeper", lambda: four_letter_word(self.zk_port, "ruok") == "imok", 60, 0.2)

    def packets_received(self):
        for line in four_letter_word(self.zk_port, "mntr").splitlines():
            if line.startswith("zk_packets_received"):
                return int(line.split()[1])
        raise RuntimeError("mntr gave no zk_packets_received")

    # ---- the cluster of one scenario

    def write_config(self, name, work_ms):
        records = os.path.join(self.dir, name, "records")
        os.makedirs(records, exist_ok=True)
        config = os.path.join(self.dir, name, "shardjob.yaml")
        with open(config, "w") as file:
            file.write("""registry:
  type: zookeeper
  zookeeper:
    servers: "127.0.0.1:%d"
    namespace: %s
    session_timeout: %ds
plugins:
  dirs: ["%s/plugins", "%s/fault-plugins"]
  rescan_interval: 0s
log_level: warn
http: {listen: "${SHARDJOB_HTTP}"}
shutdown_grace: 3s
jobs:
  - name: %s
    class: FAULT_RECORDER
    cron: "0/1 * * * * ?"
    time_zone: UTC
    sharding_total_count: %d
    failover: true
    overwrite: true
    overlap: buffer_all
    misfire_policy: run_all
    misfire_window: 60s
    claim_ahead: %dms
    props: {record.dir: "%s", work.min_ms: "%d", work.max_ms: "%d"}
""" % (self.zk_port, name, self.args.session_timeout, self.build, self.build, JOB, SHARDS,
       self.args.claim_ahead, records, work_ms, work_ms))
        return config, records

    def spawn_instance(self, config, log):
        address = "127.0.0.1:%d" % free_port()
        proc = self.spawn([os.path.join(self.build, "bin", "shardjob"), "run", "-c", config], log,
                          env=dict(os.environ, SHARDJOB_HTTP=address))
        return proc, address

    @staticmethod
    def api(address, path):
        try:
            with urllib.request.urlopen("http://%s%s" % (address, path), timeout=2) as reply:
                return json.loads(reply.read())
        except OSError:
            return None

    def joined(self, first, pid):
        """Times from now until the instance `pid` is registered, and until it holds shards."""
        began = time.monotonic()
        instance_id = wait_for("pid %d to register" % pid, lambda: next(
            (i["id"] for i in self.api(first, "/api/instances") or [] if i["pid"] == pid and
             JOB in i["jobs"]), None), 30, 0.005)
        registered = time.monotonic()
        wait_for("pid %d to be given shards" % pid, lambda: any(
            s["owner"] == instance_id for s in self.api(first, "/api/jobs/%s/shards" % JOB) or []),
            30, 0.005)
        return (registered - began) * 1000, (time.monotonic() - registered) * 1000

    def start_instances(self, name, count, work_ms, stagger_s):
        config, records = self.write_config(name, work_ms)
        instances = []
        for i in range(count):
            launched = time.time()
            proc, address = self.spawn_instance(config, os.path.join(self.dir, name, "i%d.log" % i))
            instance = {"proc": proc, "launched_ms": launched * 1000, "http": address}
            if i > 0:
                instance["joined_ms"] = self.joined(instances[0]["http"], proc.pid)
            instances.append(instance)
            if i + 1 < count:
                # The reference's stagger, not a synchronisation.
                time.sleep(max(0.0, stagger_s - (time.time() - launched)))
        return instances, records

    @staticmethod
    def read_events(records):
        events = []
        for name in os.listdir(records):
            with open(os.path.join(records, name)) as file:
                events += [json.loads(line) for line in file]
        return events

    @classmethod
    def read_starts(cls, records):
        return [event for event in cls.read_events(records) if event["ev"] == "start"]

    def steady(self, name, instances, records, seconds):
        """Figures over `seconds` of steady running, once every instance ran a shard."""
        pids = [i["proc"].pid for i in instances]
        wait_for("every instance to run a shard", lambda: {
            s["pid"] for s in self.read_starts(records)} >= set(pids), 60, 0.2)
        first_run = {}
        for start in sorted(self.read_starts(records), key=lambda s: s["wall_ms"]):
            first_run.setdefault(start["pid"], start["wall_ms"])
        time.sleep(2)  # warm-up, as the reference measured after a warm-up
        packets_before = self.packets_received()
        cpu_before = {pid: cpu_seconds(pid) for pid in pids}
        began_ms = time.time() * 1000
        time.sleep(seconds)  # the measurement window itself
        ended_ms = time.time() * 1000
        cpu_after = {pid: cpu_seconds(pid) for pid in pids}
        packets = self.packets_received() - packets_before - 1  # less this mntr's own packet
        window = [s for s in self.read_starts(records)
                  if began_ms <= int(s["fire"]) < ended_ms - 1000]
        lateness = [s["wall_ms"] - int(s["fire"]) for s in window]
        triggers = len({(s["fire"], s["pid"]) for s in window})
        print("\n== %s: %d instance(s), %d s window" % (name, len(instances), seconds))
        for instance in instances:
            if "joined_ms" in instance:
                print("  pid %d joined: launch -> registered %.0f ms, registered -> given shards "
                      "by the leader %.0f ms" % ((instance["proc"].pid,) + instance["joined_ms"]))
        for instance in instances:
            pid = instance["proc"].pid
            status = proc_status(pid)
            print("  pid %d: RSS %s, peak %s, %s threads, CPU %.2f %% of a core, "
                  "launch -> first run %d ms"
                  % (pid, status["VmRSS"], status["VmHWM"], status["Threads"],
                     100 * (cpu_after[pid] - cpu_before[pid]) / (seconds),
                     first_run[pid] - instance["launched_ms"]))
        print("  lateness over %d executions: p50 %d ms, p90 %d ms, p99 %d ms, max %d ms"
              % (len(lateness), percentile(lateness, 0.5), percentile(lateness, 0.9),
                 percentile(lateness, 0.99), max(lateness)))
        print("  ZooKeeper packets received: %.1f per instance-trigger (%d over %d triggers)"
              % (packets / max(1, triggers), packets, triggers))

    def kill_scenario(self, name, work_ms, offset_ms):
        instances, records = self.start_instances(name, 3, work_ms, 2.5)
        pids = [i["proc"].pid for i in instances]
        wait_for("every instance to run a shard", lambda: {
            s["pid"] for s in self.read_starts(records)} >= set(pids), 60, 0.2)
        # The cells counted begin 8 s before the kill: the job must have fired since then.
        wait_for("8 s of fires before the kill", lambda: time.time() * 1000 - min(
            int(start["fire"]) for start in self.read_starts(records)) >= 9000, 30, 0.2)
        # Who holds what, from the leader's assignment once it covers the 4 shards.
        first = instances[0]["http"]
        shards = wait_for("the 4 shards assigned", lambda: (lambda s: s if s and all(
            shard["owner"] for shard in s) else None)(self.api(first, "/api/jobs/%s/shards" % JOB)),
                          30)
        pid_of = {i["id"]: i["pid"] for i in self.api(first, "/api/instances") or []}
        held = {}
        for shard in shards:
            held.setdefault(pid_of[shard["owner"]], set()).add(shard["item"])
        victim = max(held, key=lambda pid: len(held[pid]))
        # Into the second as the reference did: between runs, or while they run.
        wait_ms = (offset_ms - time.time() * 1000 % 1000) % 1000
        time.sleep(wait_ms / 1000)
        killed_ms = time.time() * 1000
        os.kill(victim, signal.SIGKILL)
        time.sleep(34)  # the reference's window after the kill
        killed_second = int(killed_ms // 1000) * 1000
        # Per (second, shard): its runs that completed, and every start.
        completed, started = {}, {}
        for event in self.read_events(records):
            second = int(event["fire"])
            if not killed_second - 8000 <= second <= killed_second + 33000:
                continue
            cell = (second, event["shard"])
            if event["ev"] == "start":
                started.setdefault(cell, []).append(event)
            elif event["ev"] == "end" and event["status"] == "ok":
                completed.setdefault(cell, []).append(event)
        seconds = range(killed_second - 8000, killed_second + 33001, 1000)
        cells = [(s, i) for s in seconds for i in range(SHARDS)]
        empty = [cell for cell in cells if cell not in completed]
        twice = [cell for cell in cells if len(completed.get(cell, [])) > 1]
        # A run the kill cut short, started again on a survivor: a failover, not a second run.
        reruns = [cell for cell in cells if len(started.get(cell, [])) > 1]
        late = [run for runs in started.values() for run in runs
                if run["wall_ms"] - int(run["fire"]) > 1000]
        victim_shards = sorted(held[victim])
        resumed = [r for runs in started.values() for r in runs
                   if r["shard"] in victim_shards and r["pid"] != victim
                   and r["wall_ms"] > killed_ms]
        first_resumed = min(r["wall_ms"] for r in resumed) - killed_ms if resumed else None
        print("\n== %s: kill -9 of pid %d (shards %s) %d ms into a second, job body %d ms, "
              "session timeout %d s"
              % (name, victim, victim_shards, killed_ms % 1000, work_ms,
                 self.args.session_timeout))
        print("  its shards ran on a survivor %s after the kill"
              % ("%.2f s" % (first_resumed / 1000) if first_resumed is not None else "never"))
        print("  cells (second, shard) from -8 s to +33 s: %d; never completed %d; completed "
              "twice %d; started again after the kill cut a run short %d; started over 1 s late "
              "(missed fires caught up) %d"
              % (len(cells), len(empty), len(twice), len(reruns), len(late)))
        for second, shard in (twice + empty)[:8]:
            runs = started.get((second, shard), [])
            print("    second %+d shard %d: %d completed; starts: %s"
                  % ((second - killed_second) // 1000, shard,
                     len(completed.get((second, shard), [])),
                     ", ".join("pid %d at +%d ms" % (r["pid"], r["wall_ms"] - second)
                               for r in runs) or "none"))
        for instance in instances:
            self.stop(instance["proc"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--session-timeout", type=int, default=3)
    parser.add_argument("--window", type=int, default=30, help="steady-state window, seconds")
    parser.add_argument("--claim-ahead", type=int, default=0, metavar="MS",
                        help="the job's claim_ahead (default 0: claimed at the instant)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    recorder = os.path.join(os.path.abspath(args.build), "fault-plugins")
    if not os.path.isdir(recorder):
        sys.exit("%s does not exist: build with tests (the FAULT_RECORDER job)" % recorder)
    bench = Bench(args)
    try:
        bench.start_zookeeper()
        instances, records = bench.start_instances("one", 1, 1, 0)
        bench.steady("one", instances, records, args.window)
        for instance in instances:
            bench.stop(instance["proc"])
        instances, records = bench.start_instances("three", 3, 1, 2.5)
        bench.steady("three", instances, records, args.window)
        for instance in instances:
            bench.stop(instance["proc"])
        bench.kill_scenario("kill-between-runs", 1, 500)
        bench.kill_scenario("kill-while-running", 300, 150)
    finally:
        bench.stop_all()
        if args.keep:
            print("kept", bench.dir)


if __name__ == "__main__":
    sys.exit(main())
