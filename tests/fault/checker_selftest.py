#!/usr/bin/env python3
"""The checker on a hand-made TxnLogToolkit dump: no Java, no ZooKeeper, a second.

It shows the parser reads what the toolkit prints (binary length bytes printed raw, one of them a
'{'; bytes >= 0x80 printed as U+FFFD; ACLs spanning lines; a failed multi whose first ops still
say setData) and that the checks can fail: a zombie's unguarded commit on a new session is a
duplicate (G2), a token that goes back, a commit on another session than its claim's (G3).
The checkpoint cases: a failed-over run that resumes from the last saved step passes; one that
starts again from 0 after an ok save, a first run that loads a record, and a save by a fenced
zombie on its old session fail (CKPT).
"""

import json
import os
import shutil
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checker  # noqa: E402

NS = "t"
STATE = "/t/jobs/fault/shards/%d/state"
LEASE = "/t/jobs/fault/shards/%d/lease"


def length(n):
    """A jute int as TxnLogToolkit prints it: raw bytes, each >= 0x80 as U+FFFD in UTF-8."""
    out = b""
    for byte in n.to_bytes(4, "big"):
        out += b"\xef\xbf\xbd" if byte >= 0x80 else bytes([byte])
    return out


def header(session, zxid, kind):
    return b"11/22/26, 1:49:18 AM UTC session 0x%x cxid 0x1 zxid 0x%x %s" % (session, zxid,
                                                                           kind.encode())


def plain_create(session, zxid, path, data):
    return header(session, zxid, "create") + b" %s,%s,[31,s{'world,'anyone}\n],false,1\n" % (
        path.encode(), data.encode())


def plain_set(session, zxid, path, data):
    return header(session, zxid, "setData") + b" %s,%s,7\n" % (path.encode(), data.encode())


def sub_set(path, data, length_byte=None):
    data_length = length(len(data)) if length_byte is None else b"\x00\x00\x00" + length_byte
    return b"setData:" + length(len(path)) + path.encode() + data_length + data.encode() + \
        length(3)


def sub_create(path, data):
    return b"create:" + length(len(path)) + path.encode() + length(len(data)) + data.encode() + \
        b"\x00\x00\x00\x01\x00\x00\x00\x1f\x00\x00\x00\x05world\x00\x00\x00\x06anyone\x01"


def sub_delete(path):
    return b"delete:" + length(len(path)) + path.encode()


def sub_error(code):
    return b"error:" + length(code & 0xFFFFFFFF)


def multi(session, zxid, ops):
    return header(session, zxid, "multi") + b" " + b";".join(ops) + b"\n"


def state(**fields):
    return json.dumps(fields, sort_keys=True, separators=(",", ":"))


def claim_state(fire, by, nonce, committed=None):
    fields = {"claimed_fire": fire, "claimed_by": by, "claim_nonce": nonce}
    if committed:
        fields.update(committed_fire=committed[0], committed_token=committed[1],
                      committed_by=committed[2], success=True, done_scheduled=int(committed[0]))
    return state(**fields)


def commit_state(fire, token, by):
    return state(committed_fire=fire, committed_token=token, committed_by=by, success=True,
                 done_scheduled=int(fire))


A, B, ZOMBIE_NEW_SESSION = 0xA, 0xB, 0xC


def dump(with_zombie_commit):
    text = b"ZooKeeper Transactional Log File with dbid 0 txnlog format version 2\n"
    text += plain_create(A, 0x1, STATE % 0, "{}")
    # Claim of fire 1000 by A; the state's length byte prints as '{'.
    text += multi(A, 0x2, [sub_set(STATE % 0, claim_state("1000", "a", "a#1"), length_byte=b"{"),
                           sub_create(LEASE % 0, '{"fire":"1000"}')])
    text += multi(A, 0x3, [sub_set(STATE % 0, commit_state("1000", 2, "a")),
                           sub_delete(LEASE % 0)])
    # A failed multi: its first op still reads setData, with a commit that never happened.
    text += multi(B, 0x4, [sub_set(STATE % 0, commit_state("1000", 9, "b")), sub_error(-103)])
    # Claim of fire 2000 by B (carries the committed fields forward), its commit.
    text += multi(B, 0x5, [sub_set(STATE % 0, claim_state("2000", "b", "b#1", ("1000", 2, "a"))),
                           sub_create(LEASE % 0, '{"fire":"2000"}')])
    text += multi(B, 0x6, [sub_set(STATE % 0, commit_state("2000", 5, "b")),
                           sub_delete(LEASE % 0)])
    if with_zombie_commit:
        # A zombie of A commits fire 2000 with its old token on a new session, unguarded.
        text += plain_set(ZOMBIE_NEW_SESSION, 0x7, STATE % 0, commit_state("2000", 2, "a"))
    text += header(B, 0x8, "closeSession") + b" v{}\n"
    return text


def write_records(directory):
    lines = {
        101: [("start", "1000", 2, 1_000_100_000, None), ("end", "1000", 2, 1_400_000_000, "ok")],
        102: [("start", "2000", 5, 2_000_100_000, None), ("end", "2000", 5, 2_300_000_000, "ok")],
    }
    for pid, events in lines.items():
        with open(os.path.join(directory, "%d.jsonl" % pid), "w") as file:
            for ev, fire, token, mono, status in events:
                record = {"ev": ev, "fire": fire, "shard": 0, "total": 1, "instance": "i%d" % pid,
                          "pid": pid, "token": token, "wall_ms": mono // 1_000_000,
                          "mono_ns": mono}
                if status:
                    record["status"] = status
                file.write(json.dumps(record) + "\n")


def manifest(records_dir):
    return {
        "seed": 0, "mode": "single", "broken": False, "duration": 1, "namespace": NS,
        "job": "fault", "shards": 1, "config_change": None, "policy": "run_all",
        "policy_keys": {}, "clock": {"mono_ns": 0, "wall_ns": 0}, "g1_window_ms": [1000, 2000],
        "records_dir": records_dir, "zookeeper": {"data_dirs": []}, "faults": [],
        "problems": [],
    }


# ---- checkpoints: fire 1000 of shard 0 runs on A (session 0xa), which saves step=1 and step=2
# and is killed; B (session 0xb) claims it again, loads step=2, finishes and commits; then B runs
# fire 2000.

def checkpoint_state(fire, by, nonce, checkpoint):
    fields = {"claimed_fire": fire, "claimed_by": by, "claim_nonce": nonce}
    if checkpoint is not None:
        fields["checkpoint"] = {"fire": checkpoint[0], "record": checkpoint[1]}
    return state(**fields)


def checkpoint_dump(resume_record="step=2", zombie_save=False):
    """resume_record: what B's claim of fire 1000 carries (None: the claim dropped it)."""
    text = b"ZooKeeper Transactional Log File with dbid 0 txnlog format version 2\n"
    text += plain_create(A, 0x10, STATE % 0, "{}")
    text += multi(A, 0x20, [sub_set(STATE % 0, checkpoint_state("1000", "a", "a#1", None)),
                            sub_create(LEASE % 0, '{"fire":"1000"}')])
    text += plain_set(A, 0x30, STATE % 0, checkpoint_state("1000", "a", "a#1", ("1000", "step=1")))
    text += plain_set(A, 0x40, STATE % 0, checkpoint_state("1000", "a", "a#1", ("1000", "step=2")))
    text += header(A, 0x50, "closeSession") + b" v{}\n"
    carried = ("1000", resume_record) if resume_record is not None else None
    text += multi(B, 0x60, [sub_set(STATE % 0, checkpoint_state("1000", "b", "b#1", carried)),
                            sub_create(LEASE % 0, '{"fire":"1000"}')])
    if zombie_save:
        # A's zombie saves step=3 on a new session, unguarded, over B's claim.
        text += plain_set(ZOMBIE_NEW_SESSION, 0x68, STATE % 0,
                          checkpoint_state("1000", "b", "b#1", ("1000", "step=3")))
    text += multi(B, 0x70, [sub_set(STATE % 0, commit_state("1000", 0x60, "b")),
                            sub_delete(LEASE % 0)])
    claim = json.loads(checkpoint_state("2000", "b", "b#2", None))
    claim.update(json.loads(commit_state("1000", 0x60, "b")))
    text += multi(B, 0x80, [sub_set(STATE % 0, state(**claim)),
                            sub_create(LEASE % 0, '{"fire":"2000"}')])
    text += multi(B, 0x90, [sub_set(STATE % 0, commit_state("2000", 0x80, "b")),
                            sub_delete(LEASE % 0)])
    return text


def write_checkpoint_records(directory, b_loads="step=2", fire_2000_loads=None,
                             zombie_save=False):
    def line(ev, pid, fire, token, mono, **extra):
        record = {"ev": ev, "fire": fire, "shard": 0, "total": 1, "instance": "i%d" % pid,
                  "pid": pid, "token": token, "wall_ms": mono // 1_000_000, "mono_ns": mono}
        record.update(extra)
        return json.dumps(record)

    a = [line("start", 101, "1000", 0x20, 1_000_100_000, ckpt=None, steps=4),
         line("save", 101, "1000", 0x20, 1_000_200_000, status="ok", record="step=1"),
         line("save", 101, "1000", 0x20, 1_000_300_000, status="ok", record="step=2")]
    if zombie_save:
        a.append(line("save", 101, "1000", 0x20, 1_500_000_000, status="ok", record="step=3"))
    b = [line("start", 102, "1000", 0x60, 1_400_000_000, ckpt=b_loads, steps=4),
         line("save", 102, "1000", 0x60, 1_500_000_000, status="ok", record="step=3"),
         line("end", 102, "1000", 0x60, 1_600_000_000, status="ok", step=4),
         line("start", 102, "2000", 0x80, 2_000_100_000, ckpt=fire_2000_loads, steps=1),
         line("end", 102, "2000", 0x80, 2_100_000_000, status="ok", step=1)]
    for pid, lines in ((101, a), (102, b)):
        with open(os.path.join(directory, "%d.jsonl" % pid), "w") as file:
            file.write("\n".join(lines) + "\n")


class CheckpointSelfTest(unittest.TestCase):
    def run_checker(self, resume_record="step=2", b_loads="step=2", fire_2000_loads=None,
                    zombie_save=False):
        directory = tempfile.mkdtemp(prefix="shardjob-checker-selftest-")
        self.addCleanup(shutil.rmtree, directory, True)
        records = os.path.join(directory, "records")
        os.makedirs(records)
        write_checkpoint_records(records, b_loads, fire_2000_loads, zombie_save)
        txns = checker.parse_dump(checkpoint_dump(resume_record, zombie_save))
        result = checker.Checker(directory, manifest(records), txns=txns)
        with open(os.devnull, "w") as devnull:
            ok = result.report(out=devnull)
        return ok, result

    def texts(self, result):
        return " | ".join(v.text for v in result.violations if v.rule == "CKPT")

    def test_a_resumed_run_passes(self):
        ok, result = self.run_checker()
        self.assertTrue(ok, [v.lines() for v in result.violations])
        self.assertEqual((result.reruns, result.resumed, len(result.checkpoint_writes)), (1, 1, 2))
        self.assertIn(" reruns=1 resumed=1 checkpoints=2 ", result.summary())
        self.assertIn(" sharding=static ", result.summary())

    def test_a_run_that_restarts_from_zero_after_an_ok_save_fails(self):
        ok, result = self.run_checker(resume_record=None, b_loads=None)
        self.assertFalse(ok)
        self.assertEqual({v.rule for v in result.violations}, {"CKPT"})
        self.assertIn("loaded null, but an earlier run had saved step=2 (status ok)",
                      self.texts(result))
        self.assertIn("result=FAIL", result.summary())

    def test_a_run_that_loads_less_than_its_claim_held_fails(self):
        # The claim carried step=2 but the run was handed step=1.
        ok, result = self.run_checker(b_loads="step=1")
        self.assertFalse(ok)
        self.assertIn("its claim (zxid 0x60) held \"step=2\"", self.texts(result))

    def test_a_first_run_that_loads_a_record_fails(self):
        # Fire 2000's first run is handed fire 1000's record.
        ok, result = self.run_checker(fire_2000_loads="step=2")
        self.assertFalse(ok)
        self.assertIn("no earlier run of the task saved anything", self.texts(result))

    def test_a_zombie_save_fails(self):
        ok, result = self.run_checker(zombie_save=True)
        self.assertFalse(ok)
        self.assertIn("on session 0xc, but the claim (zxid 0x60) is session 0xb's",
                      self.texts(result))


class CheckerSelfTest(unittest.TestCase):
    def run_checker(self, with_zombie_commit):
        directory = tempfile.mkdtemp(prefix="shardjob-checker-selftest-")
        self.addCleanup(shutil.rmtree, directory, True)
        records = os.path.join(directory, "records")
        os.makedirs(records)
        write_records(records)
        txns = checker.parse_dump(dump(with_zombie_commit))
        result = checker.Checker(directory, manifest(records), txns=txns)
        with open(os.devnull, "w") as devnull:
            ok = result.report(out=devnull)
        return ok, result

    def test_parses_the_toolkit_output(self):
        txns = checker.parse_dump(dump(True))
        self.assertEqual([t.zxid for t in txns], [1, 2, 3, 4, 5, 6, 7, 8])
        writes = checker.state_writes(txns, "/t/jobs/fault/shards/")
        self.assertEqual([(w[0], w[3]) for w in writes],
                         [(1, "create"), (2, "setData"), (3, "setData"), (5, "setData"),
                          (6, "setData"), (7, "setData")])  # not the failed multi's (4)
        commits, claims, notes = checker.replay(writes)
        self.assertEqual(notes, [])
        self.assertEqual([(c.zxid, c.fire, c.token, c.session) for c in commits],
                         [(3, "1000", 2, A), (6, "2000", 5, B), (7, "2000", 2, ZOMBIE_NEW_SESSION)])
        self.assertEqual([(c.zxid, c.fire, c.session) for c in claims], [(2, "1000", A), (5, "2000", B)])

    def test_a_clean_log_passes(self):
        ok, result = self.run_checker(with_zombie_commit=False)
        self.assertTrue(ok, [v.lines() for v in result.violations])
        self.assertEqual((result.duplicates, len(result.losses), result.tasks), (0, 0, 2))

    def test_a_zombie_commit_fails(self):
        ok, result = self.run_checker(with_zombie_commit=True)
        self.assertFalse(ok)
        self.assertEqual(result.duplicates, 1)
        rules = sorted({v.rule for v in result.violations})
        self.assertEqual(rules, ["G2", "G3"])
        texts = " | ".join(v.text for v in result.violations)
        self.assertIn("committed 2 times", texts)
        self.assertIn("tokens must increase", texts)
        self.assertIn("committed with the token of a claim of fire 1000", texts)
        self.assertIn("claimed on session 0xa", texts)
        self.assertIn("result=FAIL", result.summary())


if __name__ == "__main__":
    unittest.main()
