#include "plugins/error-handlers/common/alert_props.h"

#include <strings.h>

#include <algorithm>
#include <stdexcept>

namespace shardjob::error_handlers {

void RejectUnknownProps(const spi::Properties& props, const std::string& prefix,
                        const std::vector<std::string>& known) {
  for (const auto& [key, value] : props.values()) {
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string list;
    for (const std::string& name : known) list += (list.empty() ? "" : ", ") + name;
    throw std::invalid_argument("unknown prop '" + key + "' (known: " + list + ")");
  }
}

std::string RequiredProp(const spi::Properties& props, const std::string& key) {
  std::string value = props.GetOr(key, "");
  if (value.empty()) throw std::invalid_argument("prop '" + key + "' is required");
  return value;
}

std::int64_t IntProp(const spi::Properties& props, const std::string& key, std::int64_t fallback,
                     std::int64_t min, std::int64_t max) {
  std::int64_t value = 0;
  spi::Status status = props.GetInt(key, fallback, min, max, &value);
  if (!status.ok()) throw std::invalid_argument(status.message());
  return value;
}

std::chrono::milliseconds MillisProp(const spi::Properties& props, const std::string& key,
                                     std::int64_t fallback, std::int64_t min, std::int64_t max) {
  return std::chrono::milliseconds(IntProp(props, key, fallback, min, max));
}

bool BoolProp(const spi::Properties& props, const std::string& key, bool fallback) {
  bool value = false;
  spi::Status status = props.GetBool(key, fallback, &value);
  if (!status.ok()) throw std::invalid_argument(status.message());
  return value;
}

// The messages never repeat the URL: webhook URLs carry their tokens, and these messages end up
// in logs.
void CheckHttpUrl(const std::string& key, const std::string& url) {
  size_t host_start = 0;
  if (strncasecmp(url.c_str(), "http://", 7) == 0) {
    host_start = 7;
  } else if (strncasecmp(url.c_str(), "https://", 8) == 0) {
    host_start = 8;
  } else {
    throw std::invalid_argument("prop '" + key + "' must be an http:// or https:// URL");
  }
  if (host_start >= url.size() || url[host_start] == '/' || url[host_start] == ':') {
    throw std::invalid_argument("prop '" + key + "' has no host");
  }
  for (unsigned char c : url) {
    if (c <= ' ' || c == 0x7f) {
      throw std::invalid_argument("prop '" + key +
                                  "' must not contain spaces or control characters");
    }
  }
}

SenderOptions ReadSenderOptions(const spi::Properties& props, const SenderPropNames& names) {
  SenderOptions options;
  options.queue_size = static_cast<std::size_t>(
      IntProp(props, names.queue_size, static_cast<std::int64_t>(options.queue_size), 1, 100000));
  options.max_attempts =
      static_cast<int>(IntProp(props, names.max_attempts, options.max_attempts, 1, 100));
  options.backoff = MillisProp(props, names.backoff, options.backoff.count(), 0, 3600000);
  options.shutdown_timeout =
      MillisProp(props, names.shutdown_timeout, options.shutdown_timeout.count(), 0, 3600000);
  // A first wait longer than the usual cap raises the cap rather than being cut to it.
  options.max_backoff = std::max(options.max_backoff, options.backoff);
  return options;
}

}  // namespace shardjob::error_handlers
