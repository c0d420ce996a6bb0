#pragma once

// The process's HTTP endpoint (metrics, health, and later the API and the console), on a thread
// of its own. Handlers run on that thread, one request at a time, so they must be quick.
// Connections are bounded in number, in idle time, in requests and in request size. What the
// server answers itself (a request over a bound, a malformed one, a handler that threw) is a
// JSON error: {"error": {"status": n, "code": "too_large"|..., "message": "..."}}.

#include <cstddef>
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
};

class Server {
 public:
  // Binds `listen` ("host:port" or "[v6]:port"; port 0 picks a free port) before returning, and
  // throws std::runtime_error naming the address when it cannot.
  Server(const std::string& listen, Handler handler, ServerOptions options = {});
  ~Server();  // closes every connection and joins the thread
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound address, "127.0.0.1:41233": with port 0, the port picked.
  const std::string& address() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace shardjob::http
