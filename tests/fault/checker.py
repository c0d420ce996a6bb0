#!/usr/bin/env python3
"""The fault run's checker: G1-G4 (DESIGN.md §5) over every fire of a run.

    tests/fault/checker.py RUN_DIR        # a run kept with `tests/fault/run --keep` (or a failed one)

The ground truth of what was committed is ZooKeeper's own transaction log, not shardjob's logs:
each server's dataDir/version-2/log.* is dumped with ZooKeeper's TxnLogToolkit, the servers'
transactions are united by zxid, and every setData on /<ns>/jobs/<job>/shards/<i>/state is
replayed in zxid order. A *commit* is a setData whose (committed_fire, committed_token) pair
differs from the znode's previous value (a claim carries the previous committed_* fields forward
unchanged); a *claim* is one whose claim_nonce changed. The fencing token of a claim is the zxid
of the claim's transaction. What the tasks did is in the recorder's records (records/<pid>.jsonl,
see recorder_job.cc); what the harness did is in run.json.

Checked, over the run:
  G1  every cron instant in the checked window has a commit on every shard that existed then
      (strict when the job ran with misfire_policy run_all; otherwise counted, not failed)
      T12: no task of a fire started before its instant (a clock stepped forward must not run
      future fires)
  G2  no task (fire, shard) committed twice
  G3  per shard, commit tokens strictly increase in zxid order; every commit's token is a claim
      of that shard and fire, and the commit came on the session that made that claim; every
      commit has a run of that token that ended ok; no two committed runs of one shard overlap
      in monotonic time; every zombie run (started before a SIGSTOP or session expiry of its
      instance began, ended after the SIGCONT / after the session was closed) that ended ok was
      not committed (it was fenced)
  G4  (overlap buffer_all) no two committed runs of different fires of one shard overlap in
      time, and no instance runs two fires of one shard at once
  CKPT checkpoints (the recorder saves "step=<n>" after each 100 ms step): a run of a task
      (fire, shard) loads at least the highest n an earlier claim of the task saved with status
      ok, and at most the highest n any run that started before it tried to save (null when no
      run did); against the transaction log, every checkpoint write that took effect came on the
      session of the shard's current claim, for that claim's fire, before the task's commit,
      never going back, and what a run loaded is a value the state held from its claim on
  and the harness's own findings (a crashed instance, a sanitizer report, an instance that did
  not stop) from run.json.

Prints the violations, then exactly one summary line:
  fault-run seed=.. mode=.. sharding=.. duration=..s fires=.. tasks=.. faults=.. duplicates=..
  losses=.. fenced_commits=.. reruns=.. resumed=.. checkpoints=.. max_failover_latency_ms=..
  result=PASS|FAIL
and exits 1 on FAIL.
"""

import concurrent.futures
import glob
import json
import os
import re
import subprocess
import sys

ZK_CLASSPATH = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"
TOOLKIT = "org.apache.zookeeper.server.persistence.TxnLogToolkit"

# How many violations are printed in full; all of them go to <run dir>/violations.txt.
PRINT_LIMIT = 40
# A fire's task may start this long before its instant (the timer's own slack) without being
# "early".
EARLY_TOLERANCE_MS = 500


# ---------------------------------------------------------------------------------------------
# ZooKeeper's transaction log, through TxnLogToolkit.

HEADER = re.compile(rb"^[^\n]*? session 0x([0-9a-f]+) cxid 0x([0-9a-f]+) zxid 0x([0-9a-f]+) (\w+)",
                    re.M)
MULTI_FAILED = re.compile(rb"(?:^ |;)error:")


class Txn:
    __slots__ = ("zxid", "session", "kind", "body")

    def __init__(self, zxid, session, kind, body):
        self.zxid = zxid
        self.session = session
        self.kind = kind
        self.body = body


def dump_log(path, java="java"):
    """The text TxnLogToolkit prints for one log file (bytes: the data is binary)."""
    result = subprocess.run(
        [java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:-UsePerfData",
         "-cp", ZK_CLASSPATH, TOOLKIT, "-d", path],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if not result.stdout.startswith(b"ZooKeeper Transactional Log File"):
        raise RuntimeError("TxnLogToolkit could not read %s: %s" %
                           (path, result.stderr.decode(errors="replace")[-2000:]))
    return result.stdout


def parse_dump(text):
    """The transactions in a TxnLogToolkit dump. A transaction may span lines (ACLs print a
    newline, and binary lengths may be newline bytes): each runs to the next header."""
    txns = []
    headers = list(HEADER.finditer(text))
    for i, match in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
        body = text[match.end():end]
        txns.append(Txn(int(match.group(3), 16), int(match.group(1), 16),
                        match.group(4).decode(), body))
    return txns


def read_transactions(log_files, java="java"):
    """Every server's transactions, united by zxid. Returns (txns in zxid order, notes)."""
    notes = []
    by_zxid = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        dumps = list(pool.map(lambda path: (path, dump_log(path, java)), log_files))
    for path, text in dumps:
        for txn in parse_dump(text):
            seen = by_zxid.get(txn.zxid)
            if seen is None:
                by_zxid[txn.zxid] = txn
            elif seen.kind != txn.kind or seen.session != txn.session:
                notes.append("zxid 0x%x differs between logs (%s on session 0x%x vs %s on 0x%x, %s)"
                             % (txn.zxid, seen.kind, seen.session, txn.kind, txn.session, path))
    return [by_zxid[z] for z in sorted(by_zxid)], notes


def json_object_at(data, start):
    """The JSON object that starts at data[start] == '{', by brace matching (strings aware)."""
    depth = 0
    in_string = False
    escaped = False
    for i in range(start, len(data)):
        c = data[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:  # backslash
                escaped = True
            elif c == 0x22:
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c == 0x7B:
            depth += 1
        elif c == 0x7D:
            depth -= 1
            if depth == 0:
                try:
                    value = json.loads(data[start:i + 1].decode())
                except ValueError:
                    return None
                return value if isinstance(value, dict) else None
    return None


def data_after(body, position):
    """The JSON object data of a znode write whose path ends at `position`. The data follows the
    path: in a plain op after a ',', in a multi after a 4-byte length that the toolkit prints raw
    (it may itself be a '{' or a '"'), so the object starts at the first '{' followed by '"' or
    '}'."""
    match = re.compile(rb'\{["}]').search(body, position, position + 24)
    return json_object_at(body, match.start()) if match else None


def state_writes(txns, shard_prefix):
    """(zxid, session, shard, kind, data) for every create/setData of a shard's state znode that
    took effect, in zxid order. kind is 'create' or 'setData'."""
    prefix = re.escape(shard_prefix.encode())
    plain = re.compile(rb" " + prefix + rb"(\d+)/state,")
    in_multi = re.compile(rb"(setData|create|create2|createContainer|createTTL):[^/]{0,12}/?" +
                          prefix + rb"(\d+)/state(?![\w/-])")
    writes = []
    for txn in txns:
        if txn.kind in ("setData", "create", "create2"):
            match = plain.match(txn.body)
            if match:
                kind = "setData" if txn.kind == "setData" else "create"
                writes.append((txn.zxid, txn.session, int(match.group(1)), kind,
                               data_after(txn.body, match.end() - 1)))
        elif txn.kind == "multi":
            if MULTI_FAILED.search(txn.body):
                continue  # a failed multi changes nothing, whatever its other ops say
            for match in in_multi.finditer(txn.body):
                kind = "setData" if match.group(1) == b"setData" else "create"
                writes.append((txn.zxid, txn.session, int(match.group(2)), kind,
                               data_after(txn.body, match.end())))
    return writes


class Commit:
    __slots__ = ("zxid", "session", "shard", "fire", "token", "by", "success")

    def __init__(self, zxid, session, shard, fire, token, by, success):
        self.zxid, self.session, self.shard = zxid, session, shard
        self.fire, self.token, self.by, self.success = fire, token, by, success

    def describe(self):
        return "commit zxid=0x%x shard=%d fire=%s token=%d by=%s session=0x%x%s" % (
            self.zxid, self.shard, self.fire, self.token, self.by, self.session,
            "" if self.success else " (task failed)")


class Claim:
    __slots__ = ("zxid", "session", "shard", "fire", "by")

    def __init__(self, zxid, session, shard, fire, by):
        self.zxid, self.session, self.shard, self.fire, self.by = zxid, session, shard, fire, by


def replay(writes):
    """Commits and claims from the state writes. Returns (commits, claims, notes)."""
    commits, claims, notes = [], [], []
    previous = {}
    for zxid, session, shard, kind, data in writes:
        if data is None:
            notes.append("zxid 0x%x: could not read the data written to shard %d's state"
                         % (zxid, shard))
            continue
        before = previous.get(shard, {})
        previous[shard] = data
        if kind == "create":
            continue
        pair = (str(data.get("committed_fire", "")), data.get("committed_token"))
        if pair[0] and pair != (str(before.get("committed_fire", "")),
                                before.get("committed_token")):
            token = pair[1] if isinstance(pair[1], int) else -1
            commits.append(Commit(zxid, session, shard, pair[0], token,
                                  str(data.get("committed_by", "")), data.get("success", True)))
        nonce = data.get("claim_nonce")
        if nonce and nonce != before.get("claim_nonce"):
            claims.append(Claim(zxid, session, shard, str(data.get("claimed_fire", "")),
                                str(data.get("claimed_by", ""))))
    return commits, claims, notes


def checkpoint_of(data):
    """(fire, record) of the checkpoint a state znode's data carries, or None."""
    value = data.get("checkpoint") if isinstance(data, dict) else None
    if not isinstance(value, dict):
        return None
    return (str(value.get("fire", "")), value.get("record"))


class CheckpointWrite:
    """A state write that changed the checkpoint to a record (a save that took effect)."""
    __slots__ = ("zxid", "session", "shard", "fire", "record", "claim")

    def __init__(self, zxid, session, shard, fire, record, claim):
        self.zxid, self.session, self.shard = zxid, session, shard
        self.fire, self.record, self.claim = fire, record, claim  # claim: (zxid, session, fire)

    def describe(self):
        return "checkpoint zxid=0x%x shard=%d fire=%s record=%s session=0x%x" % (
            self.zxid, self.shard, self.fire, json.dumps(self.record), self.session)


def replay_checkpoints(writes):
    """The checkpoint field over the state writes. Returns (saves, at_claim, odd): the writes
    that set a new checkpoint other than a claim's or a commit's (CheckpointWrite, with the
    shard's claim at that point); at_claim[(shard, claim zxid)] = the (fire, record) the claim
    left in the state, or None; odd: (zxid, shard, text) of claims or commits that wrote a
    checkpoint of their own."""
    saves, at_claim, odd = [], {}, []
    previous, claim = {}, {}
    for zxid, session, shard, kind, data in writes:
        if data is None:
            continue
        before = previous.get(shard, {})
        previous[shard] = data
        checkpoint = checkpoint_of(data)
        changed = checkpoint != checkpoint_of(before)
        if kind == "create":
            if checkpoint is not None:
                odd.append((zxid, shard, "the state was created with checkpoint %s" % (checkpoint,)))
            continue
        pair = (str(data.get("committed_fire", "")), data.get("committed_token"))
        is_commit = pair[0] and pair != (str(before.get("committed_fire", "")),
                                         before.get("committed_token"))
        nonce = data.get("claim_nonce")
        if nonce and nonce != before.get("claim_nonce"):
            claim[shard] = (zxid, session, str(data.get("claimed_fire", "")))
            at_claim[(shard, zxid)] = checkpoint
            if changed and checkpoint is not None:
                odd.append((zxid, shard, "a claim wrote checkpoint %s over %s"
                            % (checkpoint, checkpoint_of(before))))
        elif is_commit:
            if checkpoint is not None:
                odd.append((zxid, shard, "a commit left checkpoint %s (a commit clears it)"
                            % (checkpoint,)))
        elif changed and checkpoint is not None:
            saves.append(CheckpointWrite(zxid, session, shard, checkpoint[0], checkpoint[1],
                                         claim.get(shard)))
    return saves, at_claim, odd


def step_of(record):
    """n of the recorder's "step=<n>" record; None for None; -1 for anything else."""
    if record is None:
        return None
    match = re.fullmatch(r"step=(\d{1,9})", record) if isinstance(record, str) else None
    return int(match.group(1)) if match else -1


# ---------------------------------------------------------------------------------------------
# The recorder's records.

class Run:
    """One execution of a task by one process: its start record and, unless the process died
    first, its end record."""
    __slots__ = ("pid", "instance", "fire", "shard", "token", "start_ns", "end_ns", "status",
                 "start_wall_ms", "committed", "ckpt", "saves")

    def __init__(self, start):
        self.pid = start["pid"]
        self.instance = start.get("instance", "")
        self.fire = str(start["fire"])
        self.shard = start["shard"]
        self.token = start["token"]
        self.start_ns = start["mono_ns"]
        self.start_wall_ms = start.get("wall_ms")
        self.end_ns = None
        self.status = None  # None: no end record (killed)
        self.committed = False
        self.ckpt = start.get("ckpt")  # the checkpoint it loaded (None: none)
        self.saves = []  # (mono_ns, status, record) of its checkpoint saves, in order

    def loaded_step(self):
        return step_of(self.ckpt)

    def attempted_step(self):
        """The highest step this run may have saved: its recorded saves of any status, or one
        more than its last when it has no end record (a save in flight when it was killed)."""
        steps = [step_of(record) for _, _, record in self.saves]
        highest = max(steps + [self.loaded_step() or 0])
        if self.status is None:
            highest += 1
        return highest if steps or self.status is None or self.ckpt is not None else None


def read_records(records_dir):
    """Every run in the records. Returns (runs, notes)."""
    runs, notes = [], []
    for path in sorted(glob.glob(os.path.join(records_dir, "*.jsonl"))):
        open_runs = {}
        with open(path, "rb") as file:
            for number, line in enumerate(file, 1):
                try:
                    record = json.loads(line)
                except ValueError:
                    notes.append("%s:%d: not a whole JSON line" % (path, number))
                    continue
                key = (record.get("fire"), record.get("shard"), record.get("token"))
                if record.get("ev") == "start":
                    run = Run(record)
                    runs.append(run)
                    open_runs.setdefault(key, []).append(run)
                elif record.get("ev") == "save":
                    waiting = open_runs.get(key)
                    if not waiting:
                        notes.append("%s:%d: a save without its start" % (path, number))
                        continue
                    waiting[-1].saves.append((record["mono_ns"], record.get("status", "?"),
                                              record.get("record")))
                elif record.get("ev") == "end":
                    waiting = open_runs.get(key)
                    if not waiting:
                        notes.append("%s:%d: an end without its start" % (path, number))
                        continue
                    run = waiting.pop(0)
                    run.end_ns = record["mono_ns"]
                    run.status = record.get("status", "?")
    return runs, notes


# ---------------------------------------------------------------------------------------------
# The checks.

class Violation:
    def __init__(self, rule, text, details=()):
        self.rule, self.text, self.details = rule, text, list(details)

    def lines(self):
        return ["VIOLATION %s: %s" % (self.rule, self.text)] + ["    " + d for d in self.details]


class Checker:
    def __init__(self, run_dir, manifest=None, java="java", txns=None):
        self.run_dir = run_dir
        self.given_txns = txns  # already parsed (the self-test): no logs are read
        if manifest is None:
            with open(os.path.join(run_dir, "run.json")) as file:
                manifest = json.load(file)
        self.m = manifest
        self.java = java
        self.violations = []
        self.notes = []
        self.mono0 = manifest["clock"]["mono_ns"]
        self.wall0_ms = manifest["clock"]["wall_ns"] / 1e6

    # Times in the printout: seconds since the harness started, on the monotonic clock.
    def t(self, mono_ns):
        return "+%.3fs" % ((mono_ns - self.mono0) / 1e9) if mono_ns is not None else "-"

    def real_wall_ms(self, mono_ns):
        return self.wall0_ms + (mono_ns - self.mono0) / 1e6

    def describe_run(self, run):
        status = run.status if run.status else "no end (killed)"
        saves = ""
        if run.ckpt is not None or run.saves:
            saves = " ckpt=%s saves=[%s]" % (json.dumps(run.ckpt), ", ".join(
                "%s %s at %s" % (record, save_status, self.t(mono))
                for mono, save_status, record in run.saves))
        return "run pid=%d instance=%s fire=%s shard=%d token=%d start=%s end=%s %s%s%s" % (
            run.pid, run.instance, run.fire, run.shard, run.token, self.t(run.start_ns),
            self.t(run.end_ns), status, " [committed]" if run.committed else "", saves)

    def task_details(self, fire, shard):
        details = [c.describe() for c in self.commits_by_task.get((fire, shard), [])]
        details += [self.describe_run(r) for r in self.runs_by_task.get((fire, shard), [])]
        return details or ["no commit and no run of this task"]

    def log_lines(self, fire, shard, limit=8):
        """What the instances' logs say about a task: lines naming the fire and the shard."""
        if not hasattr(self, "logs_by_fire"):
            self.logs_by_fire = {}
            pattern = re.compile(r"\b(1\d{12}|trigger-\d+)\b")
            for instance in self.m.get("instances", []):
                try:
                    with open(instance["log"], errors="replace") as file:
                        for line in file:
                            for fire_id in set(pattern.findall(line)):
                                self.logs_by_fire.setdefault(fire_id, []).append(
                                    "%s: %s" % (instance["name"], line.rstrip()[:220]))
                except OSError:
                    continue
        shard_pattern = re.compile(r"shard=%d\b|shards \[([0-9, ]*\b)?%d\b" % (shard, shard))
        lines = [line for line in self.logs_by_fire.get(fire, []) if shard_pattern.search(line)]
        return ["log " + line for line in sorted(lines, key=lambda l: l.split(" ", 3)[1:3])[:limit]]

    def add(self, rule, text, details=()):
        self.violations.append(Violation(rule, text, details))

    def load(self):
        m = self.m
        if self.given_txns is not None:
            txns = self.given_txns
        else:
            log_files = []
            for data_dir in m["zookeeper"]["data_dirs"]:
                log_files += sorted(glob.glob(os.path.join(data_dir, "version-2", "log.*")))
            if not log_files:
                raise RuntimeError("no ZooKeeper transaction logs under %s"
                                   % m["zookeeper"]["data_dirs"])
            txns, notes = read_transactions(log_files, self.java)
            self.notes += notes
        self.txn_count = len(txns)
        shard_prefix = "/%s/jobs/%s/shards/" % (m["namespace"], m["job"])
        writes = state_writes(txns, shard_prefix)
        self.commits, self.claims, notes = replay(writes)
        self.notes += notes
        self.checkpoint_writes, self.checkpoint_at_claim, self.checkpoint_odd = \
            replay_checkpoints(writes)
        self.runs, notes = read_records(m["records_dir"])
        self.notes += notes

        self.commits_by_task = {}
        for commit in self.commits:
            self.commits_by_task.setdefault((commit.fire, commit.shard), []).append(commit)
        self.claims_by_zxid = {(c.shard, c.zxid): c for c in self.claims}
        self.runs_by_task = {}
        for run in self.runs:
            self.runs_by_task.setdefault((run.fire, run.shard), []).append(run)
        committed_tokens = {(c.fire, c.shard, c.token) for c in self.commits}
        for run in self.runs:
            run.committed = (run.fire, run.shard, run.token) in committed_tokens

    # G1: every instant of the window committed on every shard that existed.
    def check_g1(self):
        m = self.m
        window = m["g1_window_ms"]
        self.losses = []
        self.checked_tasks = 0
        if not window:
            return
        first, last = window
        instant = first
        while instant <= last:
            shards = m["shards"]
            change = m.get("config_change")
            if change and change.get("effective_ms") is not None and instant >= change["effective_ms"]:
                shards = change["shards"]
            for shard in range(shards):
                self.checked_tasks += 1
                if (str(instant), shard) not in self.commits_by_task:
                    self.losses.append((str(instant), shard))
            instant += 1000
        strict = m["policy"] == "run_all"
        for fire, shard in self.losses:
            if strict:
                self.add("G1", "task fire=%s shard=%d was never committed" % (fire, shard),
                         self.task_details(fire, shard) + self.log_lines(fire, shard))
        if self.losses and not strict:
            self.notes.append(
                "%d task(s) of the window were never committed; not counted as a failure: the "
                "job ran with the legacy misfire keys (%s), not misfire_policy run_all"
                % (len(self.losses), m["policy_keys"]))
        # T12: no fire runs before its instant.
        for run in self.runs:
            if not run.fire.isdigit():
                continue
            started = self.real_wall_ms(run.start_ns)
            if started < int(run.fire) - EARLY_TOLERANCE_MS:
                self.add("G1/T12", "task fire=%s shard=%d started %.0f ms before its instant"
                         % (run.fire, run.shard, int(run.fire) - started),
                         [self.describe_run(run)] + self.task_details(run.fire, run.shard)[:4])

    # G2: no task committed twice, and (T5) none claimed again once committed.
    def check_g2(self):
        self.duplicates = 0
        for (fire, shard), commits in sorted(self.commits_by_task.items()):
            if len(commits) > 1:
                self.duplicates += 1
                self.add("G2", "task fire=%s shard=%d committed %d times" % (fire, shard, len(commits)),
                         self.task_details(fire, shard))
        # A claim's zxid is its token, so "claimed after the commit" is exact in ZooKeeper's order.
        for claim in self.claims:
            commits = self.commits_by_task.get((claim.fire, claim.shard), [])
            if commits and claim.zxid > commits[0].zxid:
                self.add("G2/T5", "task fire=%s shard=%d claimed again (zxid 0x%x by %s) after its "
                         "commit (zxid 0x%x): a completed task must not run again"
                         % (claim.fire, claim.shard, claim.zxid, claim.by, commits[0].zxid),
                         self.task_details(claim.fire, claim.shard))

    # G3: tokens, sessions, fencing, one runner at a time.
    def check_g3(self):
        last_token = {}
        ended_runs = {}
        for run in self.runs:
            if run.status:
                ended_runs.setdefault((run.fire, run.shard, run.token), set()).add(run.status)
        for commit in self.commits:
            previous = last_token.get(commit.shard)
            if previous is not None and commit.token <= previous.token:
                self.add("G3", "shard %d: commit token %d after token %d (tokens must increase)"
                         % (commit.shard, commit.token, previous.token),
                         [previous.describe(), commit.describe()])
            last_token[commit.shard] = commit
            claim = self.claims_by_zxid.get((commit.shard, commit.token))
            if claim is None:
                self.add("G3", "task fire=%s shard=%d committed with token %d, which is no claim of "
                         "the shard" % (commit.fire, commit.shard, commit.token),
                         self.task_details(commit.fire, commit.shard))
            else:
                if claim.fire != commit.fire:
                    self.add("G3", "task fire=%s shard=%d committed with the token of a claim of "
                             "fire %s" % (commit.fire, commit.shard, claim.fire),
                             self.task_details(commit.fire, commit.shard))
                if claim.session != commit.session:
                    self.add("G3", "task fire=%s shard=%d committed on session 0x%x, but claimed on "
                             "session 0x%x (a commit is sent only on the claim's session)"
                             % (commit.fire, commit.shard, commit.session, claim.session),
                             self.task_details(commit.fire, commit.shard))
            ended = ended_runs.get((commit.fire, commit.shard, commit.token), set())
            # A commit records a run that ended: ok, or (committed as failed) cancelled.
            if "ok" not in ended and (commit.success or "cancelled" not in ended):
                self.add("G3", "task fire=%s shard=%d committed (token %d) with no run of that token "
                         "that ended %s" % (commit.fire, commit.shard, commit.token,
                                            "ok" if commit.success else "at all"),
                         self.task_details(commit.fire, commit.shard))
        # Committed runs of one shard never overlap (with one lease per shard, any two committed
        # runs are of different fires: G4 below says the same for overlap buffer_all).
        by_shard = {}
        for run in self.runs:
            if run.committed and run.end_ns is not None:
                by_shard.setdefault(run.shard, []).append(run)
        for shard, runs in sorted(by_shard.items()):
            runs.sort(key=lambda r: r.start_ns)
            latest = None
            for run in runs:
                if latest is not None and run.start_ns < latest.end_ns:
                    rule = "G3/G4" if run.fire != latest.fire else "G3"
                    self.add(rule, "shard %d: committed runs overlap in time (fires %s and %s)"
                             % (shard, latest.fire, run.fire),
                             [self.describe_run(latest), self.describe_run(run)])
                if latest is None or run.end_ns > latest.end_ns:
                    latest = run
        # Zombies: a run cut off from its session by a SIGSTOP or a session expiry must be fenced.
        self.zombies = 0
        self.zombie_outcomes = {}
        for fault in self.m["faults"]:
            if fault["kind"] not in ("sigstop", "expire") or not fault.get("applied", True):
                continue
            # A zombie started before the fault began and ended after it was done: after the
            # SIGCONT, or after the expiring tool had closed the session. (A run that ended while
            # the tool was still connecting may have committed on its live session.)
            begin = fault["mono_start_ns"]
            done = fault.get("mono_end_ns", begin)
            for run in self.runs:
                if run.pid != fault.get("pid") or run.start_ns >= begin:
                    continue
                if run.end_ns is not None and run.end_ns <= done:
                    continue
                self.zombies += 1
                self.zombie_outcomes[run.status or "killed"] = \
                    self.zombie_outcomes.get(run.status or "killed", 0) + 1
                if run.status == "ok" and run.committed:
                    self.add("G3", "zombie task fire=%s shard=%d of pid %d (%s at %s) ended ok and "
                             "was committed: it was not fenced"
                             % (run.fire, run.shard, run.pid, fault["kind"], self.t(begin)),
                             self.task_details(run.fire, run.shard))

    # G4: overlap buffer_all on one instance (the cluster-wide part is with G3 above).
    def check_g4(self):
        by_pid_shard = {}
        for run in self.runs:
            by_pid_shard.setdefault((run.pid, run.shard), []).append(run)
        never = float("inf")  # a run without an end record ran until its process died
        for (pid, shard), runs in sorted(by_pid_shard.items()):
            runs.sort(key=lambda r: r.start_ns)
            latest = None  # the run seen so far that ends last
            for run in runs:
                if latest is not None and run.start_ns < (latest.end_ns or never) \
                        and run.fire != latest.fire:
                    self.add("G4", "pid %d ran fires %s and %s of shard %d at once"
                             % (pid, latest.fire, run.fire, shard),
                             [self.describe_run(latest), self.describe_run(run)])
                if latest is None or (run.end_ns or never) > (latest.end_ns or never):
                    latest = run

    def failover_latency(self):
        """For each kill -9 / SIGSTOP / expiry of an instance that was running task (f, s): the
        time from the fault to the next start of (f, s), on any instance (with a new claim: the
        failover; after an expiry possibly the same instance on its new session). A task is
        followed, not a shard, because a shard may run anywhere (dynamic sharding) or stay with
        its owner (an instance that rejoins after an expiry)."""
        latencies = []
        for fault in self.m["faults"]:
            if fault["kind"] not in ("kill9", "sigstop", "expire") or not fault.get("applied", True):
                continue
            begin = fault["mono_start_ns"]
            running = {(run.fire, run.shard) for run in self.runs
                       if run.pid == fault.get("pid") and run.start_ns < begin
                       and (run.end_ns is None or run.end_ns > begin)}
            for task in running:
                later = [run.start_ns for run in self.runs_by_task.get(task, [])
                         if run.start_ns > begin]
                if later:
                    latencies.append((min(later) - begin) / 1e6)
        return latencies

    # CKPT: a run resumes from the last checkpoint of its task, and the registry agrees.
    def check_checkpoints(self):
        self.reruns = self.resumed = 0
        self.save_counts = {}
        for run in self.runs:
            for _, status, _ in run.saves:
                self.save_counts[status] = self.save_counts.get(status, 0) + 1
        for (fire, shard), runs in sorted(self.runs_by_task.items()):
            runs = sorted(runs, key=lambda r: r.start_ns)
            for index, run in enumerate(runs):
                loaded = run.loaded_step()
                if loaded is not None:
                    self.resumed += 1
                if loaded == -1:
                    self.add("CKPT", "task fire=%s shard=%d: a run loaded %s, which is no record "
                             "the recorder saves" % (fire, shard, json.dumps(run.ckpt)),
                             [self.describe_run(run)])
                    continue
                earlier = runs[:index]  # started before it: they may have saved before its load
                if earlier:
                    self.reruns += 1
                # Lower bound: an ok save of an older claim (a smaller token) landed before this
                # run's claim (after it the older claim's guard fails), and one of the same claim
                # (a retry) before this run started.
                floor = None
                for other in runs:
                    if other is run or other.token > run.token:
                        continue
                    for mono, status, record in other.saves:
                        if status != "ok" or step_of(record) is None or step_of(record) < 0:
                            continue
                        if other.token < run.token or mono < run.start_ns:
                            if floor is None or step_of(record) > floor[0]:
                                floor = (step_of(record), other)
                if floor is not None and (loaded is None or loaded < floor[0]):
                    self.add("CKPT", "task fire=%s shard=%d: a run (pid %d, token %d) loaded %s, "
                             "but an earlier run had saved step=%d (status ok): it did not resume "
                             "from the last checkpoint" % (fire, shard, run.pid, run.token,
                                                           json.dumps(run.ckpt), floor[0]),
                             [self.describe_run(r) for r in runs])
                    continue
                # Upper bound: nothing the runs started before it did not try to save.
                ceiling = [r.attempted_step() for r in earlier]
                ceiling = max([c for c in ceiling if c is not None], default=None)
                if loaded is not None and (ceiling is None or loaded > ceiling):
                    self.add("CKPT", "task fire=%s shard=%d: a run (pid %d, token %d) loaded %s, "
                             "but %s" % (fire, shard, run.pid, run.token, json.dumps(run.ckpt),
                                         "no earlier run of the task saved anything"
                                         if ceiling is None else
                                         "no earlier run tried to save more than step=%d"
                                         % ceiling),
                             [self.describe_run(r) for r in runs])
        self.check_checkpoint_log()

    def check_checkpoint_log(self):
        """The checkpoint writes in the transaction log against the claims, the commits and the
        records."""
        for zxid, shard, text in self.checkpoint_odd:
            self.add("CKPT", "shard %d, zxid 0x%x: %s" % (shard, zxid, text))
        first_commit = {task: min(c.zxid for c in commits)
                        for task, commits in self.commits_by_task.items()}
        last_step = {}
        writes_by_task = {}
        for write in self.checkpoint_writes:
            task = (write.fire, write.shard)
            writes_by_task.setdefault(task, []).append(write)
            details = [write.describe()] + self.task_details(*task)
            claim = write.claim
            if claim is None or claim[2] != write.fire or claim[1] != write.session:
                self.add("CKPT", "task fire=%s shard=%d: checkpoint %s written %s" % (
                    write.fire, write.shard, json.dumps(write.record),
                    "with no claim of the shard" if claim is None else
                    "while the shard's claim (zxid 0x%x) was of fire %s" % (claim[0], claim[2])
                    if claim[2] != write.fire else
                    "on session 0x%x, but the claim (zxid 0x%x) is session 0x%x's: a save is "
                    "guarded by the claim" % (write.session, claim[0], claim[1])), details)
            if task in first_commit and first_commit[task] < write.zxid:
                self.add("CKPT", "task fire=%s shard=%d: checkpoint %s written after the task's "
                         "commit (zxid 0x%x)" % (write.fire, write.shard,
                                                 json.dumps(write.record), first_commit[task]),
                         details)
            step = step_of(write.record)
            ceiling = max([c for c in (r.attempted_step() for r in self.runs_by_task.get(task, []))
                           if c is not None], default=None)
            if step is None or step < 0 or ceiling is None or step > ceiling:
                self.add("CKPT", "task fire=%s shard=%d: checkpoint %s in the registry, which no "
                         "run of the task tried to save" % (write.fire, write.shard,
                                                            json.dumps(write.record)), details)
            elif task in last_step and step < last_step[task][0]:
                self.add("CKPT", "task fire=%s shard=%d: checkpoint went back from step=%d (zxid "
                         "0x%x) to step=%d: a stale save took effect"
                         % (write.fire, write.shard, last_step[task][0], last_step[task][1], step),
                         details)
            if step is not None and step >= 0:
                last_step[task] = (max(step, last_step.get(task, (step, 0))[0]), write.zxid)
        # What a run loaded is a value its task's checkpoint had from the run's claim on (a run
        # that starts late may read one saved after its claim), and not older than the claim's.
        for run in self.runs:
            key = (run.shard, run.token)
            if key not in self.checkpoint_at_claim:
                continue  # a claim the log does not show: G3 reports it if it was committed
            at_claim = self.checkpoint_at_claim[key]
            held = at_claim[1] if at_claim is not None and at_claim[0] == run.fire else None
            allowed = {held} | {w.record for w in writes_by_task.get((run.fire, run.shard), [])
                                if w.zxid > run.token}
            loaded = run.loaded_step()
            if run.ckpt not in allowed or (loaded is not None and held is not None
                                           and loaded < step_of(held)):
                self.add("CKPT", "task fire=%s shard=%d: a run (pid %d) loaded %s; its claim (zxid "
                         "0x%x) held %s, and later saves wrote %s" % (
                             run.fire, run.shard, run.pid, json.dumps(run.ckpt), run.token,
                             json.dumps(held), sorted(a for a in allowed if a is not None)),
                         [self.describe_run(run)] + [w.describe() for w in writes_by_task.get(
                             (run.fire, run.shard), [])] + self.task_details(run.fire, run.shard))

    def check(self):
        self.load()
        for problem in self.m.get("problems", []):
            self.add("harness", problem["text"], problem.get("details", []))
        self.check_g1()
        self.check_g2()
        self.check_g3()
        self.check_g4()
        self.check_checkpoints()
        self.fenced = sum(1 for run in self.runs if run.status == "ok" and not run.committed)
        latencies = self.failover_latency()
        self.max_latency = int(max(latencies)) if latencies else 0
        fires = {c.fire for c in self.commits} | {r.fire for r in self.runs}
        self.fires = len(fires)
        self.tasks = len(self.commits_by_task)
        return not self.violations

    def summary(self):
        m = self.m
        return ("fault-run seed=%d mode=%s sharding=%s duration=%ds fires=%d tasks=%d faults=%d "
                "duplicates=%d losses=%d fenced_commits=%d reruns=%d resumed=%d checkpoints=%d "
                "max_failover_latency_ms=%d result=%s" % (
                    m["seed"], m["mode"], m.get("sharding", "static"), m["duration"], self.fires,
                    self.tasks, sum(1 for f in m["faults"] if f.get("applied", True)),
                    self.duplicates, len(self.losses), self.fenced, self.reruns, self.resumed,
                    len(self.checkpoint_writes), self.max_latency,
                    "PASS" if not self.violations else "FAIL"))

    def report(self, out=sys.stdout):
        """Prints notes, violations, the replay command (on FAIL) and the summary line.
        Returns True on PASS."""
        m = self.m
        ok = self.check()
        lines = []
        for violation in self.violations:
            lines += violation.lines()
        with open(os.path.join(self.run_dir, "violations.txt"), "w") as file:
            file.write("\n".join(lines) + ("\n" if lines else ""))
        for note in self.notes:
            print("note: " + note, file=out)
        window = m["g1_window_ms"]
        print("checked: %d transactions, %d commits (%d of failed tasks), %d claims, %d runs; "
              "zombie runs %d %s; checkpoint saves %s, %d in the log; G1 window %s (%d tasks), "
              "policy %s" % (
                  self.txn_count, len(self.commits), sum(1 for c in self.commits if not c.success),
                  len(self.claims), len(self.runs), self.zombies,
                  json.dumps(self.zombie_outcomes, sort_keys=True),
                  json.dumps(self.save_counts, sort_keys=True), len(self.checkpoint_writes),
                  "%d..%d" % tuple(window) if window else "empty", self.checked_tasks, m["policy"]),
              file=out)
        printed = 0
        for violation in self.violations:
            if printed == PRINT_LIMIT:
                print("... and %d more violation(s): %s" % (
                    len(self.violations) - printed, os.path.join(self.run_dir, "violations.txt")),
                    file=out)
                break
            print("\n".join(violation.lines()), file=out)
            printed += 1
        if not ok:
            print("replay: tests/fault/run --duration %d --seed %d%s%s%s" % (
                m["duration"], m["seed"], " --ensemble" if m["mode"] == "ensemble" else "",
                " --sharding %s" % m["sharding"] if m.get("sharding", "static") != "static"
                else "", " --broken" if m.get("broken") else ""), file=out)
        print(self.summary(), file=out)
        out.flush()
        return ok


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print("usage: checker.py RUN_DIR", file=sys.stderr)
        return 2
    return 0 if Checker(argv[1]).report() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
