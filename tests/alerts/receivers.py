"""Local receivers for the alert end-to-end tests, each on 127.0.0.1 in a thread of this process.

HttpReceiver records every POST and answers as its `respond` function says; HangingReceiver accepts
connections and never answers; SmtpReceiver is aiosmtpd's Controller collecting every message.
Each is a context manager: leaving the block stops it, also on failure.
"""

import collections
import http.server
import socket
import threading
import time
import urllib.parse

Request = collections.namedtuple("Request", "path query headers body")
Mail = collections.namedtuple("Mail", "mail_from rcpt_tos content")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, interval=0.05):
    """Polls predicate() until it is true or `timeout` seconds pass. Returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class HttpReceiver:
    """respond(Request, earlier) -> (status, body bytes); `earlier` is the list of requests
    received before this one (read-only)."""

    def __init__(self, respond):
        self._respond = respond
        self._lock = threading.Lock()
        self._requests = []
        self._answers = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                url = urllib.parse.urlsplit(self.path)
                request = Request(url.path, url.query, dict(self.headers.items()), body)
                with receiver._lock:
                    earlier = list(receiver._requests)
                    receiver._requests.append(request)
                status, answer = receiver._respond(request, earlier)
                with receiver._lock:
                    receiver._answers.append(status)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path_and_query):
        return "http://127.0.0.1:%d%s" % (self.port, path_and_query)

    def requests(self):
        with self._lock:
            return list(self._requests)

    def answered(self):
        """(request, status) pairs, in the order the answers were sent."""
        with self._lock:
            return list(zip(self._requests, self._answers))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class HangingReceiver:
    """Accepts connections and never reads or answers: a receiver that hangs."""

    def __init__(self):
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._connections = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self):
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self._connections.append(connection)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def connections(self):
        with self._lock:
            return len(self._connections)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)
        self._listener.close()
        with self._lock:
            for connection in self._connections:
                connection.close()


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1, plain SMTP without AUTH, keeping every message."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        receiver = self
        self._lock = threading.Lock()
        self._mails = []

        class Collect:
            async def handle_DATA(self, server, session, envelope):
                with receiver._lock:
                    receiver._mails.append(
                        Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
                return "250 Message accepted for delivery"

        self.port = free_port()
        self._controller = Controller(Collect(), hostname="127.0.0.1", port=self.port)

    def mails(self):
        with self._lock:
            return list(self._mails)

    def __enter__(self):
        self._controller.start()
        return self

    def __exit__(self, *exc):
        self._controller.stop()

