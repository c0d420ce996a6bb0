#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "executors/http/http_url.h"
#include "executors/http/request_headers.h"
#include "shardjob/spi/properties.h"

namespace shardjob::executors {

// The HTTP job's props, checked. The keys and defaults are ElasticJob's HttpJobProperties, plus
// http.headers (see ParseRequestHeaders); docs/http-job.md has the table.
struct HttpJobProps {
  HttpUrl url;
  // One of GET, HEAD, POST, PUT, DELETE, PATCH (the prop is read without case).
  std::string method;
  // The body, for POST, PUT, DELETE and PATCH.
  std::string data;
  std::chrono::milliseconds connect_timeout{3000};
  // The longest the connection may stay silent once made; absent (prop value 0): no limit.
  std::optional<std::chrono::milliseconds> read_timeout{std::chrono::milliseconds(5000)};
  std::optional<std::string> content_type;
  std::vector<HttpHeader> headers;
};

// Throws std::invalid_argument naming the prop when a prop is missing or malformed, and for an
// unknown "http." key, so that a typo never falls back to a default silently.
HttpJobProps ReadHttpJobProps(const spi::Properties& props);

}  // namespace shardjob::executors
