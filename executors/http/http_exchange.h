#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "shardjob/spi/cancellation.h"

namespace shardjob::executors {

// One HTTP request, ready to send.
struct HttpRequest {
  // GET, HEAD, POST, PUT, DELETE or PATCH.
  std::string method;
  std::string url;
  // "Name: value" lines, as libcurl takes them ("Name;" sends an empty value).
  std::vector<std::string> header_lines;
  // Sent with a Content-Length when present, even empty; absent: no body at all.
  std::optional<std::string> body;
  // Name resolution, TCP and TLS together, as libcurl counts it.
  std::chrono::milliseconds connect_timeout{3000};
  // Once connected, the longest the connection may stay silent (no byte sent or received), like
  // Java's read timeout; absent: no limit.
  std::optional<std::chrono::milliseconds> read_timeout;
};

// How many bytes of the response body are kept, for the error message of a failed request; the
// rest is read and dropped.
inline constexpr std::size_t kKeptBodyBytes = 1024;

struct HttpOutcome {
  enum class Kind {
    kAnswered,         // a complete response came back, whatever its status
    kCancelled,        // the cancellation flag was raised; the transfer was abandoned
    kReadTimedOut,     // connected, then silent for longer than the read timeout
    kConnectTimedOut,  // no connection within the connect timeout
    kUnreachable,      // the name did not resolve, or the connection was refused
    kTransportError,   // anything else libcurl reports: reset, TLS failure, malformed answer
  };
  Kind kind = Kind::kTransportError;
  long status = 0;
  // The first kKeptBodyBytes of the body, and how many bytes it had in all.
  std::string body;
  std::size_t body_bytes = 0;
  // Where a 3xx answer pointed (redirects are not followed), else empty.
  std::string location;
  // libcurl's reason when the kind is not kAnswered.
  std::string error;
};

// Sends the request and waits for the whole response, checking `cancellation` (may be null)
// every few tens of milliseconds while waiting. Redirects are not followed and only http and
// https are spoken. Never throws for a failed transfer; throws std::bad_alloc or
// std::runtime_error when libcurl cannot set up at all.
HttpOutcome Exchange(const HttpRequest& request, const spi::Cancellation* cancellation);

}  // namespace shardjob::executors
