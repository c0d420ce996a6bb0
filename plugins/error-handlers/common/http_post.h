#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "shardjob/spi/status.h"

namespace shardjob::error_handlers {

struct HttpRequest {
  std::string url;
  // "Name: value" lines. A Content-Type given here replaces the default, application/json.
  std::vector<std::string> headers;
  std::string body;
  std::chrono::milliseconds connect_timeout{3000};
  // The whole exchange, connecting included.
  std::chrono::milliseconds timeout{8000};
};

struct HttpResponse {
  long status = 0;
  // The first kMaxResponseBody bytes; the rest is read and thrown away.
  std::string body;
};

inline constexpr std::size_t kMaxResponseBody = 64 * 1024;

// POSTs request.body with libcurl. Returns OK when an HTTP answer came back, whatever its status
// (the caller judges it), else Unavailable with libcurl's reason: refused, timed out, aborted.
// Only http and https are allowed, and redirects are not followed: an alert goes where it was
// configured to go or fails.
spi::Status HttpPost(const HttpRequest& request, const std::atomic<bool>& abort,
                     HttpResponse* response);

// "scheme://host[:port]" of a URL, for log lines: webhook URLs carry their tokens in the path or
// the query, which must not end up in logs.
std::string UrlOrigin(const std::string& url);

}  // namespace shardjob::error_handlers
