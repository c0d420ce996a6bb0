#!/usr/bin/env python3
"""End-to-end tests of the alerting error handlers (WEBHOOK, DINGTALK, WECHAT, EMAIL).

Each case runs the real `shardjob run` (embedded registry) with one SCRIPT job that fails on
every fire, its error handler pointed at a receiver on 127.0.0.1 (receivers.py), and checks what
the receiver got against the failures shardjob logged. Waits are bounded polls; nothing passes or
fails on how long something took. shardjob is stopped by its pid at the end of every case, also
on failure, and dies with this script (PR_SET_PDEATHSIG) if a ctest timeout kills it.

    alerts_e2e.py --build BUILD_DIR --case webhook|webhook_retry|webhook_hang|dingtalk|wechat|
                                           email|validate
"""

import argparse
import base64
import ctypes
import datetime
import email
import email.policy
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from receivers import HangingReceiver, HttpReceiver, SmtpReceiver, wait_for  # noqa: E402

JOB = "alerts-e2e"
PATIENCE_S = 30  # the bound of every poll: generous, since CI runs this under ASan
ERROR_TEXT = "exit code 3: disk full on /data"  # what the job's script makes the SCRIPT executor say
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer")


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_test():
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Shardjob:
    """One `shardjob run` whose only job fails on every fire, counting its fires in a file."""

    def __init__(self, build, workdir, error_handler, props, rate="200ms", shards=1):
        self.binary = os.path.join(build, "bin", "shardjob")
        self.workdir = workdir
        self.fires_path = os.path.join(workdir, "fires")
        self.log_path = os.path.join(workdir, "shardjob.log")
        self.config = os.path.join(workdir, "config.yaml")
        self.proc = None
        script = os.path.join(workdir, "fail.sh")
        with open(script, "w") as file:
            file.write("#!/bin/sh\necho fired >> %s\necho 'disk full on /data' >&2\nexit 3\n"
                       % self.fires_path)
        all_props = {"script.command.line": "/bin/sh " + script}
        all_props.update(props)
        lines = [
            "registry:", "  type: embedded",
            "plugins:", "  dirs: [%s]" % json.dumps(os.path.join(build, "plugins")),
            "shutdown_grace: 2s",
            "jobs:",
            "  - name: " + JOB,
            "    type: SCRIPT",
            "    fixed_rate: " + rate,
            "    sharding_total_count: %d" % shards,
            "    executor_thread_pool: 1",
            "    error_handler: " + error_handler,
            "    props:",
        ] + ["      %s: %s" % (key, json.dumps(value)) for key, value in all_props.items()]
        with open(self.config, "w") as file:
            file.write("\n".join(lines) + "\n")

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([self.binary, "run", "-c", self.config],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, preexec_fn=_die_with_test)
        return self

    def fires(self):
        try:
            with open(self.fires_path) as file:
                return sum(1 for _ in file)
        except FileNotFoundError:
            return 0

    def log(self):
        with open(self.log_path, errors="replace") as file:
            return file.read()

    def wait_until(self, predicate, failure):
        """Polls predicate() for up to PATIENCE_S; raises Failure(failure) if it stays false, at
        once if shardjob exits meanwhile. `failure` may be a function, called when it fails."""
        wait_for(lambda: predicate() or self.proc.poll() is not None, PATIENCE_S)
        if predicate():
            return
        message = failure() if callable(failure) else failure
        if self.proc.poll() is not None:
            raise Failure("shardjob exited with %s: %s" % (self.proc.returncode, message))
        raise Failure("%s (after %d s)" % (message, PATIENCE_S))

    def failure_logged(self, fire, shard, instance):
        """Whether shardjob logged this task's failure (what the alert must be about)."""
        return ("job=%s fire=%s shard=%s instance=%s failed: %s"
                % (JOB, fire, shard, instance, ERROR_TEXT)) in self.log()

    def stop(self):
        """SIGTERM, then waits (bounded) for a clean exit."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=PATIENCE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise Failure("shardjob did not stop within %d s of SIGTERM" % PATIENCE_S)
        log = self.log()
        for mark in SANITIZER_MARKS:
            check(mark not in log, "the sanitizers reported a problem (%s)" % mark)
        check(code == 0, "shardjob exited with %s" % code)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # a failed case; the normal path stopped it already
            self.proc.wait(timeout=10)


def iso_to_ms(text):
    parsed = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    return round(parsed.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


# ---- WEBHOOK ----

def case_webhook(build, workdir):
    with HttpReceiver(lambda request, earlier: (200, b"{}")) as receiver:
        props = {"webhook.url": receiver.url("/hooks/shardjob?team=ops"),
                 "webhook.headers": "Authorization: Bearer s3cret; X-Team: ops"}
        with Shardjob(build, workdir, "WEBHOOK", props, shards=2) as shardjob:
            shardjob.wait_until(lambda: shards_alerted(receiver) == {0, 1},
                                lambda: "alerts came for shards %s only" % shards_alerted(receiver))
            shardjob.stop()
            for request in receiver.requests():
                check(request.path == "/hooks/shardjob" and request.query == "team=ops",
                      "posted to %s?%s" % (request.path, request.query))
                check(request.headers.get("Authorization") == "Bearer s3cret",
                      "headers: %s" % request.headers)
                check(request.headers.get("X-Team") == "ops", "headers: %s" % request.headers)
                check(request.headers.get("Content-Type") == "application/json",
                      "headers: %s" % request.headers)
                body = json.loads(request.body)
                check(set(body) == {"job", "fire", "shard", "instance", "error", "time",
                                    "time_ms"}, "fields: %s" % sorted(body))
                check(body["job"] == JOB, "job: %r" % body["job"])
                check(body["error"] == ERROR_TEXT, "error: %r" % body["error"])
                check(re.fullmatch(r"\d+", body["fire"]) is not None, "fire: %r" % body["fire"])
                check(iso_to_ms(body["time"]) == body["time_ms"],
                      "time %s is not time_ms %s" % (body["time"], body["time_ms"]))
                check(shardjob.failure_logged(body["fire"], body["shard"], body["instance"]),
                      "shardjob logged no such failure: %s" % body)


def shards_alerted(receiver):
    return {json.loads(request.body)["shard"] for request in receiver.requests()}


def case_webhook_retry(build, workdir):
    # Every alert (one per fire and shard) is answered 500, 500, then 200.
    def respond(request, earlier):
        tries = sum(1 for r in earlier if alert_key(r) == alert_key(request))
        return (500, b"busy") if tries < 2 else (200, b"{}")

    def alert_key(request):
        body = json.loads(request.body)
        return body["fire"], body["shard"]

    with HttpReceiver(respond) as receiver:
        props = {"webhook.url": receiver.url("/hook"), "webhook.max_attempts": "3",
                 "webhook.backoff_ms": "50", "webhook.shutdown_timeout_ms": "2000"}
        with Shardjob(build, workdir, "WEBHOOK", props, rate="500ms") as shardjob:
            shardjob.wait_until(lambda: any(status == 200 for _, status in receiver.answered()),
                                "no alert got through")
            shardjob.stop()
            by_alert = {}
            for request, status in receiver.answered():
                by_alert.setdefault(alert_key(request), []).append((request.body, status))
            delivered = [key for key, tries in by_alert.items()
                         if any(status == 200 for _, status in tries)]
            for key in delivered:
                tries = by_alert[key]
                check([status for _, status in tries] == [500, 500, 200],
                      "alert %s was answered %s" % (key, [s for _, s in tries]))
                check(len({body for body, _ in tries}) == 1, "the retries of %s differ" % (key,))
            for key, tries in by_alert.items():
                check(len(tries) <= 3, "alert %s was tried %d times" % (key, len(tries)))
            log = shardjob.log()
            check("alert delivered on attempt 3" in log, "no 'delivered on attempt 3' in the log")
            check("attempt 1 of 3 failed" in log and "answered HTTP 500" in log,
                  "the failed attempts were not logged")


def case_webhook_hang(build, workdir):
    # A blocking Handle() would hold the only task thread for the 60 s timeout and the job would
    # stop firing; instead the job keeps firing, the queue fills and alerts are dropped, loudly.
    with HangingReceiver() as receiver:
        props = {"webhook.url": receiver.url("/hook"), "webhook.timeout_ms": "60000",
                 "webhook.max_attempts": "1", "webhook.queue_size": "2",
                 "webhook.shutdown_timeout_ms": "500"}
        with Shardjob(build, workdir, "WEBHOOK", props) as shardjob:
            shardjob.wait_until(lambda: receiver.connections() >= 1, "the handler never connected")
            fires_then = shardjob.fires()
            shardjob.wait_until(lambda: shardjob.fires() >= fires_then + 10,
                                lambda: "the job stopped firing while the receiver hung (%d "
                                "fires, %d before)" % (shardjob.fires(), fires_then))
            shardjob.wait_until(lambda: "the alert queue is full (2 waiting)" in shardjob.log(),
                                "no dropped alert was logged")
            check(receiver.connections() == 1,
                  "%d connections: the sender did not wait on the hung one"
                  % receiver.connections())
            shardjob.stop()
            log = shardjob.log()
            check("the handler stopped before it got through" in log,
                  "the alert in flight at shutdown was not reported")
            check("queued alert(s) dropped: not sent within the 500 ms shutdown timeout" in log,
                  "the alerts queued at shutdown were not reported")


# ---- DINGTALK and WECHAT ----

CONTENT_RE = re.compile(
    r"Job 'alerts-e2e' exception occur in job processing, caused by (?P<error>.*)\n"
    r"fire: (?P<fire>\d+), shard: (?P<shard>\d+), instance: (?P<instance>\S+), "
    r"time: (?P<time>\S+Z)")


def check_robot_message(shardjob, body, prefix=""):
    payload = json.loads(body)
    check(set(payload) == {"msgtype", "text"} and payload["msgtype"] == "text",
          "payload: %s" % payload)
    check(set(payload["text"]) == {"content"}, "payload: %s" % payload)
    content = payload["text"]["content"]
    check(content.startswith(prefix), "content does not start with %r: %r" % (prefix, content))
    match = CONTENT_RE.fullmatch(content[len(prefix):])
    check(match is not None, "content: %r" % content)
    check(match["error"] == ERROR_TEXT, "error: %r" % match["error"])
    check(shardjob.failure_logged(match["fire"], match["shard"], match["instance"]),
          "shardjob logged no such failure: %r" % content)


def case_dingtalk(build, workdir):
    secret = "SEC-e2e+/=secret"
    signatures = []  # (timestamp, sign as received, whether it verified)

    def respond(request, earlier):
        query = urllib.parse.parse_qs(request.query)
        timestamp = query["timestamp"][0]
        expected = base64.b64encode(hmac.new(secret.encode(), (timestamp + "\n" + secret).encode(),
                                             hashlib.sha256).digest()).decode()
        raw_sign = re.search(r"(?:^|&)sign=([^&]*)", request.query).group(1)
        signatures.append((int(timestamp), raw_sign,
                           query["sign"][0] == expected and
                           raw_sign == urllib.parse.quote_plus(expected) and
                           query.get("access_token") == ["tok"]))
        # The first attempt at every alert is refused as a robot would refuse it.
        if not any(r.body == request.body for r in earlier):
            return 200, b'{"errcode":310000,"errmsg":"keywords not in content"}'
        return 200, b'{"errcode":0,"errmsg":"ok"}'

    with HttpReceiver(respond) as receiver:
        props = {"dingtalk.webhook": receiver.url("/robot/send?access_token=tok"),
                 "dingtalk.keyword": "[shardjob]", "dingtalk.secret": secret,
                 "dingtalk.backoffMilliseconds": "50"}
        with Shardjob(build, workdir, "DINGTALK", props, rate="500ms") as shardjob:
            shardjob.wait_until(lambda: "alert delivered on attempt 2" in shardjob.log(),
                                "no alert got through on its second attempt")
            shardjob.stop()
            check(signatures and all(ok for _, _, ok in signatures),
                  "signatures that did not verify: %s" % [s for s in signatures if not s[2]])
            now_ms = time.time() * 1000
            check(all(abs(now_ms - ts) < 3600 * 1000 for ts, _, _ in signatures),
                  "timestamps DingTalk would refuse: %s" % signatures)
            for request in receiver.requests():
                check_robot_message(shardjob, request.body, prefix="[shardjob]")
            check("errcode 310000, errmsg keywords not in content" in shardjob.log(),
                  "the robot's refusal was not logged")


def case_wechat(build, workdir):
    with HttpReceiver(lambda r, e: (200, b'{"errcode":0,"errmsg":"ok"}')) as receiver:
        props = {"wechat.webhook": receiver.url("/cgi-bin/webhook/send?key=k3y")}
        with Shardjob(build, workdir, "WECHAT", props) as shardjob:
            shardjob.wait_until(lambda: receiver.requests(), "no alert arrived")
            shardjob.stop()
            request = receiver.requests()[0]
            check(request.path == "/cgi-bin/webhook/send" and request.query == "key=k3y",
                  "posted to %s?%s" % (request.path, request.query))
            check_robot_message(shardjob, request.body)


# ---- EMAIL ----

def case_email(build, workdir):
    with SmtpReceiver() as receiver:
        props = {"email.host": "127.0.0.1", "email.port": str(receiver.port),
                 "email.useSsl": "false", "email.from": "shardjob <alerts@example.com>",
                 "email.to": "ops@example.com, Dev Team <dev@example.com>",
                 "email.cc": "lead@example.com", "email.bcc": "audit@example.com",
                 "email.subject": "shardjob: job failed", "email.debug": "true"}
        with Shardjob(build, workdir, "EMAIL", props) as shardjob:
            shardjob.wait_until(lambda: receiver.mails(), "no mail arrived")
            shardjob.stop()
            mail = receiver.mails()[0]
            check(mail.mail_from == "alerts@example.com", "MAIL FROM %r" % mail.mail_from)
            check(sorted(mail.rcpt_tos) == ["audit@example.com", "dev@example.com",
                                            "lead@example.com", "ops@example.com"],
                  "RCPT TO %s" % mail.rcpt_tos)
            message = email.message_from_bytes(mail.content, policy=email.policy.default)
            check(message["From"] == "shardjob <alerts@example.com>", "From: %s" % message["From"])
            check(message["To"] == "ops@example.com, Dev Team <dev@example.com>",
                  "To: %s" % message["To"])
            check(message["Cc"] == "lead@example.com", "Cc: %s" % message["Cc"])
            check(message["Bcc"] is None, "the Bcc header was sent")
            check(message["Subject"] == "shardjob: job failed", "Subject: %s" % message["Subject"])
            check(message["Date"] is not None and message["Message-ID"] is not None,
                  "no Date or Message-ID")
            # The parser keeps the wire's CRLF line ends inside the decoded body.
            body = message.get_content().replace("\r\n", "\n")
            match = CONTENT_RE.search(body)
            check(match is not None, "body: %r" % body)
            check(match["error"] == ERROR_TEXT, "error: %r" % match["error"])
            check(shardjob.failure_logged(match["fire"], match["shard"], match["instance"]),
                  "shardjob logged no such failure: %r" % body)
            # email.debug: the SMTP dialogue is in the log, the message itself is not.
            log = shardjob.log()
            check("smtp C: MAIL FROM:<alerts@example.com>" in log, "no SMTP dialogue logged")
            check("smtp S: 250" in log, "no SMTP answers logged")
            check("smtp C: Subject:" not in log, "the message itself was logged")


# ---- refused props ----

def case_validate(build, workdir):
    for handler, props, expected in [
            ("WEBHOOK", {"webhook.headers": "X-Team: ops"}, "prop 'webhook.url' is required"),
            ("WEBHOOK", {"webhook.url": "http://127.0.0.1:1/", "webhook.retries": "3"},
             "unknown prop 'webhook.retries'"),
            ("DINGTALK", {"dingtalk.webhook": "oapi.dingtalk.com"},
             "prop 'dingtalk.webhook' must be an http:// or https:// URL"),
            ("EMAIL", {"email.host": "h", "email.from": "a@b"}, "prop 'email.to' is required")]:
        shardjob = Shardjob(build, workdir, handler, props)
        result = subprocess.run([shardjob.binary, "validate", "-c", shardjob.config],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, timeout=PATIENCE_S,
                                preexec_fn=_die_with_test)
        output = result.stdout.decode(errors="replace")
        check(result.returncode != 0, "%s: validate accepted %s" % (handler, props))
        check(expected in output and JOB in output,
              "%s: validate said %r, expected %r and the job's name" % (handler, output, expected))
    # The example config that shows the handlers must stay valid.
    example = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "examples", "alerts.yaml")
    result = subprocess.run([os.path.join(build, "bin", "shardjob"), "validate", "-c", example],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, timeout=PATIENCE_S, preexec_fn=_die_with_test,
                            env=dict(os.environ, SHARDJOB_PLUGIN_DIR=os.path.join(build, "plugins")))
    check(result.returncode == 0, "examples/alerts.yaml: %s" % result.stdout.decode(errors="replace"))


CASES = {
    "webhook": case_webhook, "webhook_retry": case_webhook_retry,
    "webhook_hang": case_webhook_hang, "dingtalk": case_dingtalk, "wechat": case_wechat,
    "email": case_email, "validate": case_validate,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", required=True, help="the build directory (bin/, plugins/)")
    parser.add_argument("--case", required=True, choices=sorted(CASES))
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="shardjob-alerts-%s-" % args.case)
    try:
        CASES[args.case](os.path.abspath(args.build), workdir)
    except Failure as failure:
        print("alerts-e2e %s: FAIL: %s" % (args.case, failure))
        log = os.path.join(workdir, "shardjob.log")
        if os.path.exists(log):
            with open(log, errors="replace") as file:
                print("---- shardjob log (last 40 lines) ----")
                print("".join(file.readlines()[-40:]))
        print("work dir kept: " + workdir)
        return 1
    print("alerts-e2e %s: PASS" % args.case)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
