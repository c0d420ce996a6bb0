#pragma once

// The process's HTTP endpoint (metrics, health, the API and the console), on a thread of its
// own. Handlers run on that thread, one request at a time, so they must be quick, except for
// the requests that ServerOptions::slow marks: those run on a second thread of the server's, the
// worker, also one at a time and in the order they came, while the first thread goes on
// answering the other connections. Connections are bounded in number, in idle time, in requests
// and in request size. What the server answers itself (a request over a bound, a malformed one,
// a handler that threw, a full queue of slow requests) is a JSON error:
// {"error": {"status": n, "code": "too_large"|"busy"|..., "message": "..."}}.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "http/http_types.h"

namespace shardjob::http {

struct ServerOptions {
  std::size_t max_connections = 64;
  std::size_t max_body_bytes = 1 << 20;            // larger bodies get a 413
  std::size_t max_header_bytes = 16 << 10;         // the request line and header fields; else a 431
  std::size_t max_requests_per_connection = 1000;  // then the connection is closed
  int idle_timeout_seconds = 30;

  // Which requests are slow (their handler may block, on registry round trips say): those run
  // on the worker thread, one at a time and in the order they came, so the quick ones (/metrics,
  // /healthz) are still answered meanwhile. Called on the IO thread for every request, so it
  // must be quick and must not throw (a throw counts as "quick"). Unset: every request is quick
  // and runs on the IO thread, as does every handler when no worker is needed.
  // The handler is then called from two threads, though never for two slow requests at once.
  std::function<bool(const Request&)> slow;
  // Slow requests waiting for the worker (the one it runs not counted); one more is answered
  // 503 {"error": {"code": "busy", ...}} at once. Below max_connections, so that connections
  // waiting for slow answers (at most this + 1) never take every slot from the quick requests.
  std::size_t max_slow_queue = 31;
  // A connection waiting for its slow request's answer is not closed by the idle timeout, but
  // waits at most this long (in the queue and in the handler together): then it is answered
  // 504 {"error": {"code": "timeout", ...}} and closed. A request still queued then is dropped
  // without running; a handler already running finishes and its answer is thrown away.
  int slow_timeout_seconds = 120;
};

class Server {
 public:
  // Binds `listen` ("host:port" or "[v6]:port"; port 0 picks a free port) before returning, and
  // throws std::runtime_error naming the address when it cannot.
  Server(const std::string& listen, Handler handler, ServerOptions options = {});
  // Stops the IO thread first (no more answers; every connection is closed, a connection
  // waiting for a slow answer included), then waits for the slow handler running at that
  // moment, if any, to return: that is as long as the handler takes (the instance's handlers
  // make registry calls bounded by the session timeout). Slow requests still queued are dropped
  // without running. No handler runs once this returns.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound address, "127.0.0.1:41233": with port 0, the port picked.
  const std::string& address() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace shardjob::http
