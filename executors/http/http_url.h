#pragma once

#include <string>
#include <string_view>

namespace shardjob::executors {

// An absolute http or https URL (the job's http.uri), checked and normalised once by libcurl's
// URL parser when the job is built. Immutable, so shards on many threads may share it.
class HttpUrl {
 public:
  // Throws std::invalid_argument saying what is wrong (the caller names the prop) when `text` is
  // not an absolute http:// or https:// URL with a host.
  explicit HttpUrl(const std::string& text);

  // The URL as libcurl will request it.
  const std::string& full() const { return full_; }
  // scheme://host[:port]/path, for logs and error messages: a user:password or a query often
  // carries a secret, and errors travel on to alert channels.
  const std::string& redacted() const { return redacted_; }

  // The URL with `name=value` appended to its query: after '&' when it has one, after '?'
  // otherwise, and before any fragment. `value` is percent-encoded here; `name` is used as is.
  std::string WithQueryParameter(const std::string& name, std::string_view value) const;

 private:
  std::string full_;
  std::string redacted_;
};

// RFC 3986 percent-encoding: every byte but the unreserved A-Z a-z 0-9 - . _ ~ becomes %XX, so
// the result is safe in a query value ('+' and '&' included).
std::string PercentEncode(std::string_view text);

}  // namespace shardjob::executors
