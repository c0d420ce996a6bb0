#pragma once

// The process's HTTP endpoint (metrics, health, and later the API and the console), on a thread
// of its own. Handlers run on that thread, one request at a time, so they must be quick.
// Connections are bounded in number, in idle time and in request size.

#include <cstddef>
#include <memory>
#include <string>

#include "http/http_types.h"

namespace shardjob::http {

struct ServerOptions {
  std::size_t max_connections = 64;
  std::size_t max_body_bytes = 1 << 20;
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
