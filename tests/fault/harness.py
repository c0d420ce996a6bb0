"""The fault harness behind tests/fault/run (README.md here).

It starts a real ZooKeeper (one server, or a 3-server ensemble) and several `shardjob run`
processes on 127.0.0.1, all in a temp dir, runs the FAULT_RECORDER job every second on them,
injects faults on a schedule drawn from random.Random(seed), leaves the last part of the run
fault-free, stops everything by its own pid, and hands the run dir to checker.py.
"""

import argparse
import ctypes
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import checker

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

ZK_CLASSPATH = checker.ZK_CLASSPATH
FAKETIME_LIBRARIES = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                      "/usr/lib/faketime/libfaketime.so.1"]

JOB = "fault"
SHARDS = 4
SHARDS_AFTER_CHANGE = 6
SESSION_TIMEOUT_S = 2.0
SHUTDOWN_GRACE_S = 3
WORK_MS = (100, 700)
WARMUP_S = 3.0         # after every instance is up, before the G1 window opens
SETTLE_S = 18.0        # the fault-free end of the run
BROKEN_SETTLE_S = 10.0
MIN_ALIVE = 2          # scale-in never goes below this many instances

# The job keys that choose the overlap and misfire policies: the one place to change them. The
# harness uses the first set that `shardjob validate` accepts, and tells the checker which one it
# was: with misfire_policy run_all every cron instant must be committed on every shard (strict
# G1); the legacy set (misfire: true coalesces missed fires into one) only counts losses.
POLICY_KEY_SETS = [
    ("run_all", [("overlap", "buffer_all"), ("misfire_policy", "run_all"),
                 ("misfire_window", "60s"), ("timeout", "5s")]),
    ("legacy", [("misfire", "true")]),
]
# The job keys of each --sharding mode, added to whichever policy key set is used. Static mode
# writes none, so a kernel without `sharding_mode` still runs it (and can fall back to legacy).
SHARDING_KEYS = {
    "static": [],
    "dynamic": [("sharding_mode", "dynamic")],
}

# What each fault costs the schedule, roughly, beyond its hold time (seconds): a fault is only
# begun while it can end before the settling period.
FAULT_COST_S = {
    "kill9": 3.0, "sigstop": 3.0, "expire": 3.0, "zk_restart": 8.0, "zk_outage": 8.0,
    "leader_kill": 8.0, "member_restart": 8.0, "clock_step": 1.0, "scale_out": 1.0,
    "scale_in": 5.0, "config_change": 4.0,
}
SINGLE_FAULTS = ["kill9", "sigstop", "expire", "zk_restart", "zk_outage", "clock_step",
                 "scale_out", "scale_in", "config_change"]
ENSEMBLE_FAULTS = ["kill9", "sigstop", "expire", "leader_kill", "member_restart", "zk_outage",
                   "clock_step", "scale_out", "scale_in", "config_change"]


def find_faketime():
    """libfaketime.so.1 (Debian package libfaketime), or None."""
    for path in FAKETIME_LIBRARIES:
        if os.path.exists(path):
            return path
    try:
        listing = subprocess.run(["dpkg", "-L", "libfaketime"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, timeout=30).stdout.decode()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return next((line for line in listing.splitlines()
                 if line.endswith("/libfaketime.so.1") and os.path.exists(line)), None)


class HarnessError(Exception):
    """The harness could not set the run up (not a finding about shardjob)."""


def mono_ns():
    return time.monotonic_ns()  # CLOCK_MONOTONIC, as the recorder's mono_ns


_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_harness():
    # PR_SET_PDEATHSIG: a child is killed when the harness dies, even by SIGKILL (a ctest
    # timeout), so nothing outlives the run.
    _libc.prctl(1, signal.SIGKILL)


def free_ports(count):
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def four_letter_word(port, word, timeout=1.0):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(word.encode())
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return data.decode(errors="replace")
                data += chunk
    except OSError:
        return ""


def wait_for(predicate, timeout, interval=0.1):
    """Polls predicate() until it is true or `timeout` seconds pass. Returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def wait_exit(proc, timeout):
    """Waits up to `timeout` s for `proc` to exit (and reaps it). Returns whether it did."""
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


class ZkServer:
    def __init__(self, harness, sid, base_dir, client_port, config_lines, quorum):
        self.harness = harness
        # A member of an ensemble runs QuorumPeerMain; ZooKeeperServerMain is standalone only.
        self.main_class = ("org.apache.zookeeper.server.quorum.QuorumPeerMain" if quorum else
                           "org.apache.zookeeper.server.ZooKeeperServerMain")
        self.sid = sid
        self.dir = base_dir
        self.data_dir = os.path.join(base_dir, "data")
        self.client_port = client_port
        self.config = os.path.join(base_dir, "zoo.cfg")
        self.log = os.path.join(base_dir, "zookeeper.log")
        self.proc = None
        os.makedirs(self.data_dir, exist_ok=True)
        with open(self.config, "w") as file:
            file.write("\n".join(config_lines + ["dataDir=" + self.data_dir,
                                                 "clientPort=%d" % client_port]) + "\n")

    def start(self):
        with open(self.log, "ab") as log:
            log.write(b"---- harness: starting\n")
            self.proc = subprocess.Popen(
                [self.harness.java, "-Xmx128m", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
                 "-XX:+UseSerialGC", "-XX:-UsePerfData", "-Djava.awt.headless=true",
                 "-Dzookeeper.jmx.log4j.disable=true",
                 "-Dorg.slf4j.simpleLogger.showDateTime=true",
                 "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
                 "-cp", ZK_CLASSPATH, self.main_class, self.config],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_harness)
        self.harness.event("zk_start", server=self.sid, pid=self.proc.pid)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def mode(self):
        if not self.running():
            return None
        match = re.search(r"Mode: (\w+)", four_letter_word(self.client_port, "srvr"))
        return match.group(1) if match else None

    def kill9(self):
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            wait_exit(self.proc, 10)
            self.harness.event("zk_kill9", server=self.sid, pid=self.proc.pid)

    def stop(self, timeout=15):
        if not self.running():
            return
        self.proc.send_signal(signal.SIGTERM)
        if not wait_exit(self.proc, timeout):
            self.proc.send_signal(signal.SIGKILL)
            wait_exit(self.proc, 10)
        self.harness.event("zk_stop", server=self.sid, pid=self.proc.pid)

    def tail(self, lines=30):
        try:
            with open(self.log, errors="replace") as file:
                return file.read().splitlines()[-lines:]
        except OSError:
            return []


class Zookeeper:
    """One server or a 3-server ensemble on 127.0.0.1, each with its own dataDir."""

    def __init__(self, harness, ensemble):
        self.harness = harness
        self.ensemble = ensemble
        count = 3 if ensemble else 1
        ports = free_ports(3 * count)
        common = [
            "tickTime=500",  # a 2 s session timeout is within [2, 20] ticks
            "initLimit=10",
            "syncLimit=5",
            "clientPortAddress=127.0.0.1",
            "minSessionTimeout=1000",
            "maxSessionTimeout=10000",
            "maxClientCnxns=0",
            "4lw.commands.whitelist=srvr,ruok,stat,mntr,cons",
            "admin.enableServer=false",
            "forceSync=no",      # the log survives kill -9 in the page cache; no fsync waits
            "preAllocSize=1024",
        ]
        if ensemble:
            common += ["server.%d=127.0.0.1:%d:%d" % (i + 1, ports[3 * i + 1], ports[3 * i + 2])
                       for i in range(count)]
        self.servers = []
        for i in range(count):
            base = os.path.join(harness.run_dir, "zk", str(i + 1))
            server = ZkServer(harness, i + 1, base, ports[3 * i], common, ensemble)
            if ensemble:
                with open(os.path.join(server.data_dir, "myid"), "w") as file:
                    file.write("%d\n" % (i + 1))
            self.servers.append(server)
        self.connect_string = ",".join("127.0.0.1:%d" % s.client_port for s in self.servers)

    def serving(self, server):
        mode = server.mode()
        return mode in ("leader", "follower") if self.ensemble else mode == "standalone"

    def wait_serving(self, servers=None, timeout=60):
        servers = servers or self.servers
        if not wait_for(lambda: all(self.serving(s) for s in servers), timeout, 0.2):
            details = []
            for s in servers:
                details += ["zk %d (mode %s):" % (s.sid, s.mode())] + s.tail(15)
            raise HarnessError("ZooKeeper did not serve within %d s:\n%s"
                               % (timeout, "\n".join(details)))

    def start_all(self):
        for server in self.servers:
            server.start()
        self.wait_serving()

    def leader(self):
        for server in self.servers:
            if server.mode() in ("leader", "standalone"):
                return server
        return None

    def stop_all(self):
        for server in self.servers:
            server.stop()


class Instance:
    def __init__(self, harness, index, shards):
        self.index = index
        self.name = "i%d" % index
        self.shards = shards
        self.config = harness.configs[shards]
        self.log = os.path.join(harness.run_dir, "logs", self.name + ".log")
        self.clock_file = os.path.join(harness.run_dir, "clock", self.name + ".faketime")
        self.session_file = os.path.join(harness.run_dir, "session", self.name + ".session")
        self.proc = None
        self.pid = None
        self.state = "new"      # running, stopped (SIGSTOP), gone
        self.expected_exit = False
        self.record_offset = 0  # how far the records file was read
        self.open_tasks = {}    # (fire, shard, token) -> start mono_ns


class Harness:
    def __init__(self, args):
        self.args = args
        self.seed = args.seed
        self.mode = "ensemble" if args.ensemble else "single"
        self.build = os.path.abspath(args.build)
        self.binary = os.path.join(self.build, "bin", "shardjob")
        self.expire_tool = os.path.join(self.build, "bin", "fault_expire_session")
        self.plugin_dirs = [os.path.join(self.build, "plugins"),
                            os.path.join(self.build, "fault-plugins")]
        self.java = shutil.which("java")
        self.faketime = find_faketime()
        self.run_dir = None
        self.zk = None
        self.instances = []
        self.problems = []
        self.faults = []
        self.events = None
        self.configs = {}
        self.next_index = 0
        self.current_shards = SHARDS
        self.config_change = None
        self.namespace = ""
        self.records_dir = ""
        self.policy, self.policy_keys = "unknown", []
        self.mono0 = mono_ns()
        self.wall0_ns = time.time_ns()
        self.g1_window = None
        self.settle = SETTLE_S

    # ---- bookkeeping -------------------------------------------------------------------------

    def elapsed(self):
        return (mono_ns() - self.mono0) / 1e9

    def say(self, text):
        print("[%7.2fs] %s" % (self.elapsed(), text), flush=True)

    def event(self, ev, **fields):
        record = {"ev": ev, "mono_ns": mono_ns(), "wall_ms": int(time.time() * 1000)}
        record.update(fields)
        if self.events:
            self.events.write(json.dumps(record) + "\n")
            self.events.flush()

    def problem(self, text, details=()):
        self.say("PROBLEM: " + text)
        self.problems.append({"text": text, "details": list(details)})

    def wall_ms_at(self, mono):
        return self.wall0_ns / 1e6 + (mono - self.mono0) / 1e6

    # ---- setup -------------------------------------------------------------------------------

    def check_prerequisites(self):
        missing = [p for p in [self.binary, self.expire_tool,
                               os.path.join(self.plugin_dirs[1], "shardjob_fault_recorder.so")]
                   if not os.path.exists(p)]
        if missing:
            raise HarnessError("not built: %s (build with cmake --build %s)"
                               % (", ".join(missing), self.build))
        if not self.java:
            raise HarnessError("no java on the PATH (scripts/install-deps.sh installs it)")
        if not os.path.exists(ZK_CLASSPATH.split(":")[0]):
            raise HarnessError("no %s (Debian package zookeeper)" % ZK_CLASSPATH.split(":")[0])
        if not self.faketime:
            self.say("note: no libfaketime; clock steps are left out")

    def write_config(self, path, shards, policy_keys):
        registry = self.zk.connect_string if self.zk else "127.0.0.1:1"
        lines = [
            "# Generated by tests/fault/run (seed %d)." % self.seed,
            "registry:",
            "  type: zookeeper",
            "  zookeeper:",
            '    servers: "%s"' % registry,
            "    namespace: %s" % self.namespace,
            "    session_timeout: %dms" % int(SESSION_TIMEOUT_S * 1000),
            "    connect_timeout: 15s",
            "plugins:",
            "  dirs: [%s]" % ", ".join('"%s"' % d for d in self.plugin_dirs),
            "shutdown_grace: %ds" % SHUTDOWN_GRACE_S,
            "log_level: info",
            "jobs:",
            "  - name: %s" % JOB,
            "    class: FAULT_RECORDER",
            '    cron: "* * * * * ?"',
            "    time_zone: UTC",
            "    sharding_total_count: %d" % shards,
            "    failover: true",
            "    overwrite: true",
            "    max_time_diff_seconds: 5",
        ]
        ahead = [("claim_ahead", "%dms" % self.args.claim_ahead)] if self.args.claim_ahead else []
        lines += ["    %s: %s" % (key, value)
                  for key, value in SHARDING_KEYS[self.args.sharding] + ahead + list(policy_keys)]
        lines += [
            "    props:",
            '      record.dir: "%s"' % self.records_dir,
            '      work.min_ms: "%d"' % WORK_MS[0],
            '      work.max_ms: "%d"' % WORK_MS[1],
            '      ignore_cancellation: "%s"' % ("true" if self.args.broken else "false"),
        ]
        with open(path, "w") as file:
            file.write("\n".join(lines) + "\n")

    def choose_policy(self):
        probe = os.path.join(self.run_dir, "probe.yaml")
        errors = []
        for name, keys in POLICY_KEY_SETS:
            self.write_config(probe, SHARDS, keys)
            result = subprocess.run([self.binary, "validate", "-c", probe], env=self.base_env(),
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            if result.returncode == 0:
                if name != POLICY_KEY_SETS[0][0]:
                    self.say("WARNING: this kernel does not take %s (%s); using the %s keys %s: G1 "
                             "losses are counted, not failed" % (POLICY_KEY_SETS[0][1], errors[0],
                                                                 name, keys))
                return name, keys
            errors.append("%s: %s" % (name, result.stdout.decode(errors="replace").strip()))
        raise HarnessError("shardjob validate refused every key set%s:\n%s" % (
            " (each with %s)" % SHARDING_KEYS[self.args.sharding]
            if SHARDING_KEYS[self.args.sharding] else "", "\n".join(errors)))

    def base_env(self):
        env = dict(os.environ)
        asan = env.get("ASAN_OPTIONS", "")
        env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
        lsan = env.get("LSAN_OPTIONS", "")
        env["LSAN_OPTIONS"] = (lsan + ":" if lsan else "") + \
            "suppressions=" + os.path.join(REPO, "tests", "sanitizer", "lsan.supp")
        return env

    def setup(self):
        self.run_dir = tempfile.mkdtemp(prefix="shardjob-fault-%d-" % self.seed)
        for sub in ("logs", "clock", "session", "records", "zk"):
            os.makedirs(os.path.join(self.run_dir, sub))
        self.records_dir = os.path.join(self.run_dir, "records")
        self.events = open(os.path.join(self.run_dir, "events.jsonl"), "w")
        # Unique per run; its state znode paths are kept away from 47 bytes, whose length byte
        # TxnLogToolkit would print as a '/'.
        self.namespace = "fault-%d-%d-%s" % (self.seed, os.getpid(), os.urandom(3).hex())
        if len("/%s/jobs/%s/shards/0/state" % (self.namespace, JOB)) == 47:
            self.namespace += "x"
        self.say("run dir %s (%s ZooKeeper, seed %d, %d instances, %s sharding%s)" % (
            self.run_dir, self.mode, self.seed, self.args.instances, self.args.sharding,
            ", broken" if self.args.broken else ""))
        self.policy, self.policy_keys = self.choose_policy()
        self.zk = Zookeeper(self, self.args.ensemble)
        self.zk.start_all()
        self.say("ZooKeeper serving at %s" % self.zk.connect_string)
        for shards in (SHARDS, SHARDS_AFTER_CHANGE):
            path = os.path.join(self.run_dir, "config-%d.yaml" % shards)
            self.write_config(path, shards, self.policy_keys)
            self.configs[shards] = path

    # ---- instances ---------------------------------------------------------------------------

    def alive(self):
        return [i for i in self.instances if i.state in ("running", "stopped")]

    def start_instance(self, shards=None):
        instance = Instance(self, self.next_index, shards or self.current_shards)
        self.next_index += 1
        env = self.base_env()
        env["SHARDJOB_SESSION_FILE"] = instance.session_file
        if self.args.broken:
            env["SHARDJOB_FAILPOINTS"] = "unguarded_commit"
        if self.faketime:
            self.write_clock(instance, "+0")
            preload = env.get("LD_PRELOAD", "")
            env["LD_PRELOAD"] = self.faketime + (":" + preload if preload else "")
            env["FAKETIME_TIMESTAMP_FILE"] = instance.clock_file
            env["FAKETIME_NO_CACHE"] = "1"
            env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
        with open(instance.log, "ab") as log:
            instance.proc = subprocess.Popen(
                [self.binary, "run", "-c", instance.config], env=env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_die_with_harness)
        instance.pid = instance.proc.pid
        instance.state = "running"
        self.instances.append(instance)
        self.event("instance_start", instance=instance.name, pid=instance.pid,
                   shards=instance.shards)
        self.say("started %s (pid %d, %d shards)" % (instance.name, instance.pid, instance.shards))
        return instance

    def write_clock(self, instance, offset):
        temporary = instance.clock_file + ".tmp"
        with open(temporary, "w") as file:
            file.write(offset + "\n")
        os.replace(temporary, instance.clock_file)  # whole, for every re-read of NO_CACHE

    def log_tail(self, instance, lines=25):
        try:
            with open(instance.log, errors="replace") as file:
                return file.read().splitlines()[-lines:]
        except OSError:
            return []

    def check_crashes(self):
        for instance in self.instances:
            if instance.state in ("running", "stopped") and instance.proc.poll() is not None:
                instance.state = "gone"
                if not instance.expected_exit:
                    self.problem("%s (pid %d) exited on its own with status %s"
                                 % (instance.name, instance.pid, instance.proc.returncode),
                                 self.log_tail(instance))

    def status(self):
        try:
            result = subprocess.run([self.binary, "status", "-c", self.configs[SHARDS]],
                                    env=self.base_env(), stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, timeout=20)
            return result.stdout.decode(errors="replace")
        except subprocess.TimeoutExpired:
            return ""

    def wait_registered(self, count, timeout):
        def registered():
            text = self.status()
            return len(re.findall(r"^\s+instance\s+\S+", text, re.M)) >= count and \
                re.search(r"^\s+leader\s+\S+", text, re.M)
        if not wait_for(registered, timeout, 0.5):
            self.check_crashes()
            raise HarnessError("%d instance(s) did not register within %d s; last status:\n%s"
                               % (count, timeout, self.status()))

    def read_records(self, instance):
        """Brings instance.open_tasks up to date from its records file."""
        path = os.path.join(self.records_dir, "%d.jsonl" % instance.pid)
        try:
            with open(path, "rb") as file:
                file.seek(instance.record_offset)
                data = file.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1
        instance.record_offset += end
        for line in data[:end].splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            key = (record.get("fire"), record.get("shard"), record.get("token"))
            if record.get("ev") == "start":
                instance.open_tasks[key] = record.get("mono_ns")
            elif record.get("ev") == "end":  # not "save": the task still runs
                instance.open_tasks.pop(key, None)

    def pick_victim(self, rng, candidates, busy_wait=2.5):
        """An instance among `candidates` with a task running now (start without end), polling
        up to `busy_wait` s for one; else any. Same seed, same choice when the same are busy."""
        candidates = sorted(candidates, key=lambda i: i.index)
        if not candidates:
            return None
        busy = wait_for(lambda: [i for i in candidates
                                 if (self.read_records(i) or True) and i.open_tasks],
                        busy_wait, 0.02)
        return rng.choice(busy or candidates)

    def stop_instance(self, instance, timeout=SHUTDOWN_GRACE_S + 15):
        """SIGTERM, and a bounded wait; SIGKILL (and a finding) if it does not stop."""
        if instance.state not in ("running", "stopped"):
            return
        instance.expected_exit = True
        if instance.state == "stopped":
            instance.proc.send_signal(signal.SIGCONT)
        instance.proc.send_signal(signal.SIGTERM)
        self.reap_after_term(instance, timeout, timeout)
        self.event("instance_stopped", instance=instance.name, pid=instance.pid,
                   status=instance.proc.returncode)

    def reap_after_term(self, instance, wait_s, allowed_s):
        """Waits up to wait_s for an instance sent SIGTERM to exit; a finding if it does not
        (then SIGKILL) or exits with a non-zero status."""
        if not wait_exit(instance.proc, wait_s):
            self.problem("%s (pid %d) did not stop within %d s of SIGTERM"
                         % (instance.name, instance.pid, allowed_s), self.log_tail(instance))
            instance.proc.send_signal(signal.SIGKILL)
            wait_exit(instance.proc, 10)
        elif instance.proc.returncode != 0:
            self.problem("%s (pid %d) exited with status %d after SIGTERM"
                         % (instance.name, instance.pid, instance.proc.returncode),
                         self.log_tail(instance))
        instance.state = "gone"

    # ---- the schedule ------------------------------------------------------------------------

    def make_schedule(self, rng):
        """The faults, in order, with every parameter drawn up front: the same seed gives the
        same schedule. Each entry also carries a seed of its own for the choices made when it
        runs (which instance), so a different choice there does not shift later entries."""
        if self.args.broken:
            kinds = ["sigstop"] * 2000
        else:
            kinds_all = ENSEMBLE_FAULTS if self.args.ensemble else SINGLE_FAULTS
            first = list(kinds_all)
            rng.shuffle(first)  # every kind once, in a seeded order; then at random
            others = [k for k in kinds_all if k != "config_change"]
            kinds = first + [rng.choice(others) for _ in range(2000)]
        schedule = []
        for kind in kinds:
            # Every entry draws the same numbers whatever its kind, so the draws of later entries
            # do not depend on earlier kinds. Stops and outages outlast the session timeout; the
            # broken mode's stops are long enough for the shard to be failed over and committed
            # elsewhere before the zombie wakes.
            holds = {
                "sigstop": rng.uniform(SESSION_TIMEOUT_S + 1.0, SESSION_TIMEOUT_S + 2.5),
                "zk_outage": rng.uniform(SESSION_TIMEOUT_S + 1.5, SESSION_TIMEOUT_S + 3.5),
                "leader_kill": rng.uniform(0.5, 2.0),
                "clock_step": rng.uniform(4.0, 7.0),
            }
            broken_hold = rng.uniform(4.5, 6.0)
            gap = rng.uniform(1.5, 3.0) if self.args.broken else rng.uniform(2.0, 4.0)
            schedule.append({
                "kind": kind,
                "gap_s": round(gap, 2),
                "hold_s": round(broken_hold if self.args.broken else holds.get(kind, 0.0), 2),
                "step_s": rng.choice([-1, 1]) * rng.randint(20, 45),
                "seed": rng.getrandbits(32),
            })
        return schedule

    def run_schedule(self, schedule, fault_end):
        cheapest = min(FAULT_COST_S.values()) + 1.5
        for number, entry in enumerate(schedule, 1):
            if self.elapsed() + cheapest > fault_end:
                break
            cost = entry["gap_s"] + entry["hold_s"] + FAULT_COST_S[entry["kind"]]
            if self.elapsed() + cost > fault_end:
                continue  # does not fit before the settling period: the next one may
            self.pause(entry["gap_s"])
            self.check_crashes()
            fault = self.inject(entry, random.Random(entry["seed"]))
            fault["number"] = number
            self.faults.append(fault)
            self.event("fault", **fault)

    def pause(self, seconds):
        """The schedule's own waiting, watching for crashed instances meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
            self.check_crashes()

    # ---- the faults --------------------------------------------------------------------------

    def inject(self, entry, rng):
        kind = entry["kind"]
        running = [i for i in self.instances if i.state == "running"]
        if kind == "expire" and not self.session_files_work():
            self.say("note: no session file from the instances (a build without failpoints); "
                     "a SIGSTOP instead of a session expiry")
            kind = "sigstop"
            entry = dict(entry, hold_s=SESSION_TIMEOUT_S + 1.5)
        if kind == "clock_step" and not self.faketime:
            kind = "scale_out"
        if kind == "scale_out" and len(self.alive()) >= self.args.instances + 2:
            kind = "scale_in"
        if kind == "scale_in" and len(self.alive()) <= MIN_ALIVE:
            kind = "scale_out"
        if kind == "config_change" and self.config_change:
            kind = "scale_out" if len(self.alive()) < self.args.instances + 2 else "scale_in"
        fault = {"kind": kind, "scheduled_kind": entry["kind"], "applied": True}
        method = getattr(self, "fault_" + kind)
        method(entry, rng, fault, running)
        return fault

    def session_files_work(self):
        return any(os.path.exists(i.session_file) for i in self.alive())

    def begin(self, fault, instance=None):
        fault["mono_start_ns"] = mono_ns()
        fault["wall_start_ms"] = int(self.wall_ms_at(fault["mono_start_ns"]))
        if instance is not None:
            fault["instance"] = instance.name
            fault["pid"] = instance.pid
            fault["running_tasks"] = [list(k) for k in instance.open_tasks]

    def end(self, fault):
        fault["mono_end_ns"] = mono_ns()

    def fault_kill9(self, entry, rng, fault, running):
        victim = self.pick_victim(rng, running)
        if victim is None:
            fault["applied"] = False
            return
        self.read_records(victim)
        self.begin(fault, victim)
        victim.expected_exit = True
        victim.proc.send_signal(signal.SIGKILL)
        wait_exit(victim.proc, 10)
        victim.state = "gone"
        self.end(fault)
        self.say("fault kill -9 %s (pid %d) running %s" % (victim.name, victim.pid,
                                                           self.tasks_text(fault)))
        replacement = self.start_instance()
        fault["replacement"] = replacement.name

    def fault_sigstop(self, entry, rng, fault, running):
        victim = self.pick_victim(rng, running)
        if victim is None:
            fault["applied"] = False
            return
        self.read_records(victim)
        self.begin(fault, victim)
        victim.proc.send_signal(signal.SIGSTOP)
        victim.state = "stopped"
        self.say("fault SIGSTOP %s (pid %d) for %.1f s, running %s"
                 % (victim.name, victim.pid, entry["hold_s"], self.tasks_text(fault)))
        time.sleep(entry["hold_s"])
        victim.proc.send_signal(signal.SIGCONT)
        victim.state = "running"
        self.end(fault)
        self.say("SIGCONT %s: the zombie wakes up" % victim.name)

    def fault_expire(self, entry, rng, fault, running):
        candidates = [i for i in running if os.path.exists(i.session_file)]
        victim = self.pick_victim(rng, candidates)
        if victim is None:
            fault["applied"] = False
            return
        self.read_records(victim)
        with open(victim.session_file) as f:
            old_session = f.read().split(" ")[0]
        self.begin(fault, victim)
        result = subprocess.run([self.expire_tool, self.zk.connect_string, victim.session_file],
                                env=self.base_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, timeout=30)
        self.end(fault)
        output = result.stdout.decode(errors="replace").strip()
        fault["tool"] = output
        # 4: the session in the file had expired already (the instance is between sessions):
        # nothing was done to it now.
        fault["applied"] = result.returncode == 0
        if fault["applied"]:
            # The instance may win its session back before the tool's close lands (it reconnects
            # as soon as the tool takes its connection over): then nothing expired. The session
            # expired only if the instance goes on with a new one.
            def new_session():
                try:
                    with open(victim.session_file) as f:
                        return f.read().split(" ")[0] != old_session
                except OSError:
                    return False
            deadline = time.monotonic() + 4 * SESSION_TIMEOUT_S
            while time.monotonic() < deadline and not new_session():
                time.sleep(0.05)
            if not new_session():
                fault["applied"] = False
                output += " (the instance kept its session: not expired)"
        self.say("fault session expiry of %s (pid %d) running %s: %s"
                 % (victim.name, victim.pid, self.tasks_text(fault), output))

    def fault_zk_restart(self, entry, rng, fault, running):
        server = self.zk.servers[0]
        self.begin(fault)
        fault["server"] = server.sid
        server.stop()
        server.start()
        self.zk.wait_serving([server])
        self.end(fault)
        self.say("fault ZooKeeper restart: down %.1f s"
                 % ((fault["mono_end_ns"] - fault["mono_start_ns"]) / 1e9))

    def fault_zk_outage(self, entry, rng, fault, running):
        self.begin(fault)
        for server in self.zk.servers:
            server.kill9()
        self.say("fault all of ZooKeeper kill -9, down for %.1f s" % entry["hold_s"])
        time.sleep(entry["hold_s"])
        for server in self.zk.servers:
            server.start()
        self.zk.wait_serving()
        self.end(fault)
        self.say("ZooKeeper back after %.1f s" % ((fault["mono_end_ns"] - fault["mono_start_ns"]) / 1e9))

    def fault_leader_kill(self, entry, rng, fault, running):
        leader = self.zk.leader()
        if leader is None:
            fault["applied"] = False
            return
        self.begin(fault)
        fault["server"] = leader.sid
        leader.kill9()
        self.say("fault ensemble leader zk %d kill -9, restart in %.1f s" % (leader.sid, entry["hold_s"]))
        time.sleep(entry["hold_s"])
        leader.start()
        self.zk.wait_serving()
        self.end(fault)
        new_leader = self.zk.leader()
        self.say("zk %d back; leader now zk %s" % (leader.sid, new_leader.sid if new_leader else "?"))

    def fault_member_restart(self, entry, rng, fault, running):
        leader = self.zk.leader()
        followers = [s for s in self.zk.servers if s is not leader]
        server = rng.choice(followers)
        self.begin(fault)
        fault["server"] = server.sid
        server.stop()
        server.start()
        self.zk.wait_serving()
        self.end(fault)
        self.say("fault follower zk %d restarted" % server.sid)

    def fault_clock_step(self, entry, rng, fault, running):
        if not running:
            fault["applied"] = False
            return
        victim = rng.choice(sorted(running, key=lambda i: i.index))
        self.begin(fault, victim)
        step = entry["step_s"]
        fault["step_s"] = step
        self.write_clock(victim, "%+ds" % step)
        self.say("fault clock of %s (pid %d) stepped %+d s for %.1f s"
                 % (victim.name, victim.pid, step, entry["hold_s"]))
        time.sleep(entry["hold_s"])
        self.write_clock(victim, "+0")
        self.end(fault)
        self.say("clock of %s back" % victim.name)

    def fault_scale_out(self, entry, rng, fault, running):
        self.begin(fault)
        instance = self.start_instance()
        fault["instance"] = instance.name
        fault["pid"] = instance.pid
        self.end(fault)

    def fault_scale_in(self, entry, rng, fault, running):
        victim = self.pick_victim(rng, running, busy_wait=1.0)
        if victim is None:
            fault["applied"] = False
            return
        self.begin(fault, victim)
        self.say("fault scale in: SIGTERM %s (pid %d) running %s"
                 % (victim.name, victim.pid, self.tasks_text(fault)))
        self.stop_instance(victim)
        self.end(fault)

    def fault_config_change(self, entry, rng, fault, running):
        self.begin(fault)
        self.current_shards = SHARDS_AFTER_CHANGE
        instance = self.start_instance(SHARDS_AFTER_CHANGE)
        fault["instance"] = instance.name
        fault["pid"] = instance.pid
        self.say("fault config change: %s seeds sharding_total_count %d (overwrite: true)"
                 % (instance.name, SHARDS_AFTER_CHANGE))
        # Effective once the registry shows the new shards; tasks of shard >= 4 are required
        # from the first instant a little after that.
        shown = []

        def shows_new_shards():
            shown[:] = [self.status()]
            return re.search(r"^\s+shard %d\b" % (SHARDS_AFTER_CHANGE - 1), shown[0], re.M)

        seen = wait_for(shows_new_shards, 30, 0.5)
        self.end(fault)
        fault["status"] = shown[0] if shown else ""
        if not seen:
            self.problem("the config change to %d shards did not show in `shardjob status` within "
                         "30 s" % SHARDS_AFTER_CHANGE)
        effective = self.wall_ms_at(mono_ns()) + 3000
        self.config_change = {"shards": SHARDS_AFTER_CHANGE,
                              "effective_ms": int((effective // 1000 + 1) * 1000) if seen else None}

    def tasks_text(self, fault):
        tasks = fault.get("running_tasks") or []
        return ", ".join("shard %s of fire %s" % (t[1], t[0]) for t in tasks) or "no task"

    # ---- the run -----------------------------------------------------------------------------

    def manifest(self):
        return {
            "seed": self.seed,
            "mode": self.mode,
            "sharding": self.args.sharding,
            "claim_ahead_ms": self.args.claim_ahead,
            "broken": self.args.broken,
            "duration": self.args.duration,
            "namespace": self.namespace,
            "job": JOB,
            "shards": SHARDS,
            "config_change": self.config_change,
            "policy": self.policy,
            "policy_keys": dict(self.policy_keys),
            "session_timeout_ms": int(SESSION_TIMEOUT_S * 1000),
            "clock": {"mono_ns": self.mono0, "wall_ns": self.wall0_ns},
            "g1_window_ms": self.g1_window,
            "records_dir": self.records_dir,
            "zookeeper": {"connect": self.zk.connect_string if self.zk else "",
                          "data_dirs": [s.data_dir for s in self.zk.servers] if self.zk else []},
            "instances": [{"name": i.name, "pid": i.pid, "shards": i.shards, "log": i.log,
                           "exit": i.proc.returncode if i.proc else None}
                          for i in self.instances],
            "faults": self.faults,
            "problems": self.problems,
        }

    def write_manifest(self):
        with open(os.path.join(self.run_dir, "run.json"), "w") as file:
            json.dump(self.manifest(), file, indent=1)

    def run(self):
        self.check_prerequisites()
        self.setup()
        rng = random.Random(self.seed)
        schedule = self.make_schedule(rng)
        for _ in range(self.args.instances):
            self.start_instance()
        self.wait_registered(self.args.instances, 90)
        self.say("%d instances registered; faults from +%.0f s to +%.0f s of the run, then %d s "
                 "to settle" % (self.args.instances, WARMUP_S, self.args.duration - self.settle,
                                self.settle))
        run_start = self.elapsed()
        fault_end = run_start + self.args.duration - self.settle
        self.pause(WARMUP_S)
        first = self.wall_ms_at(mono_ns())
        self.run_schedule(schedule, fault_end)
        self.pause(max(0.0, fault_end - self.elapsed()))
        last = self.wall_ms_at(mono_ns())
        self.g1_window = [int((first // 1000 + 1) * 1000), int(last // 1000 * 1000)]
        self.say("settling (%d faults done)" % len(self.faults))
        # At least the whole settling time, even when the last fault ran late.
        self.pause(max(self.settle, run_start + self.args.duration - self.elapsed()))
        self.check_crashes()

    def shutdown(self):
        """Stops every process the harness started, by its own pid: instances first (SIGTERM),
        then ZooKeeper."""
        for instance in self.instances:
            if instance.state == "stopped" and instance.proc.poll() is None:
                instance.proc.send_signal(signal.SIGCONT)
        alive = [i for i in self.instances if i.state in ("running", "stopped")]
        for instance in alive:
            instance.expected_exit = True
            if instance.proc.poll() is None:
                instance.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_GRACE_S + 15
        for instance in alive:
            self.reap_after_term(instance, max(0.1, deadline - time.monotonic()),
                                 SHUTDOWN_GRACE_S + 15)
        if self.zk:
            self.zk.stop_all()

    def kill_everything(self):
        """The last resort (an exception, Ctrl-C): SIGKILL whatever is left, by pid."""
        for instance in self.instances:
            if instance.proc and instance.proc.poll() is None:
                instance.proc.send_signal(signal.SIGKILL)
                wait_exit(instance.proc, 10)
        if self.zk:
            for server in self.zk.servers:
                server.kill9()

    def scan_logs(self):
        """Sanitizer reports in the instances' logs are findings too."""
        pattern = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|"
                             r"runtime error:|WARNING: ThreadSanitizer")
        for instance in self.instances:
            try:
                with open(instance.log, errors="replace") as file:
                    lines = file.read().splitlines()
            except OSError:
                continue
            for number, line in enumerate(lines):
                if pattern.search(line):
                    self.problem("%s (pid %d): sanitizer report in %s"
                                 % (instance.name, instance.pid, instance.log),
                                 lines[number:number + 30])
                    break


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="tests/fault/run",
        description="Runs shardjob instances against a real ZooKeeper under seeded faults and "
                    "checks G1-G4 (tests/fault/README.md).")
    parser.add_argument("--duration", type=int, default=75,
                        help="seconds from all instances up to their stop (default 75)")
    parser.add_argument("--seed", type=int, default=1, help="the fault schedule's seed")
    parser.add_argument("--ensemble", action="store_true",
                        help="a 3-server ZooKeeper ensemble instead of one server")
    parser.add_argument("--instances", type=int, default=3, help="instances at the start (3)")
    parser.add_argument("--build", default=os.path.join(REPO, "build"),
                        help="the build dir with bin/shardjob, plugins/, fault-plugins/")
    parser.add_argument("--broken", action="store_true",
                        help="commits unguarded (failpoint) and zombies that ignore cancellation: "
                             "the checker must find duplicates")
    parser.add_argument("--sharding", choices=sorted(SHARDING_KEYS), default="static",
                        help="the job's sharding_mode: static (shards stay on their assigned "
                             "instance) or dynamic (instances claim shards as they free up and "
                             "steal each other's); default static")
    parser.add_argument("--claim-ahead", type=int, default=0, metavar="MS",
                        help="the job's claim_ahead: its fires are claimed MS milliseconds before "
                             "their instant and started at it (default 0: claimed at the instant)")
    parser.add_argument("--keep", action="store_true", help="keep the run dir even on PASS")
    args = parser.parse_args(argv)
    if args.instances < 2:
        parser.error("--instances must be at least 2")
    return args


def main(argv):
    args = parse_args(argv)
    harness = Harness(args)
    harness.settle = BROKEN_SETTLE_S if args.broken else SETTLE_S
    if args.duration < harness.settle + WARMUP_S + 10:
        print("--duration must be at least %d s" % (harness.settle + WARMUP_S + 10), file=sys.stderr)
        return 2

    def interrupted(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupted)
    status = 2
    try:
        harness.run()
        harness.say("stopping the instances (SIGTERM), then ZooKeeper")
        harness.shutdown()
        harness.scan_logs()
        harness.write_manifest()
        harness.say("checking")
        ok = checker.Checker(harness.run_dir, harness.manifest(), harness.java).report()
        status = 0 if ok else 1
    except HarnessError as error:
        print("fault-run ERROR: %s" % error, file=sys.stderr)
    except KeyboardInterrupt as error:
        print("fault-run interrupted (%s)" % error, file=sys.stderr)
        status = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        harness.kill_everything()
        if harness.events:
            harness.events.close()
        if harness.run_dir:
            if status == 0 and not args.keep:
                shutil.rmtree(harness.run_dir, ignore_errors=True)
            else:
                try:
                    harness.write_manifest()
                except Exception:  # the manifest is a convenience here; the run dir stays
                    pass
                print("run dir kept: %s (re-check: tests/fault/checker.py %s)"
                      % (harness.run_dir, harness.run_dir), flush=True)
    return status
