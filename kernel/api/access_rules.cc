#include "api/access_rules.h"

#include <cctype>
#include <string>
#include <string_view>

namespace shardjob::api {
namespace {

std::string Lower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

const std::string* Header(const http::Request& request, const char* name) {
  auto found = request.headers.find(name);
  return found == request.headers.end() ? nullptr : &found->second;
}

// "host:port" in lower case, the port written out: "localhost" is "localhost:80".
std::string NormalizeAuthority(std::string_view authority, std::string_view default_port) {
  std::string normalized = Lower(Trim(authority));
  const std::size_t bracket = normalized.rfind(']');
  const std::size_t colon = normalized.rfind(':');
  const bool has_port =
      colon != std::string::npos && (bracket == std::string::npos || colon > bracket);
  if (!has_port) normalized += ":" + std::string(default_port);
  return normalized;
}

// The host of a "host[:port]" authority, brackets kept for IPv6.
std::string HostOf(const std::string& authority) {
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t bracket = authority.find(']');
    return bracket == std::string::npos ? authority : authority.substr(0, bracket + 1);
  }
  return authority.substr(0, authority.find(':'));
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "[::1]") return true;
  // 127.0.0.0/8, written as a dotted quad.
  if (host.compare(0, 4, "127.") != 0) return false;
  int dots = 0;
  int digits = 0;
  for (char c : host) {
    if (c == '.') {
      if (digits == 0) return false;
      ++dots;
      digits = 0;
    } else if (c >= '0' && c <= '9' && ++digits <= 3) {
    } else {
      return false;
    }
  }
  return dots == 3 && digits > 0;
}

bool IsJson(const std::string& content_type) {
  const std::string media =
      Lower(Trim(std::string_view(content_type)
                     .substr(0, std::min(content_type.find(';'), content_type.size()))));
  return media == "application/json";
}

http::Response Refuse(int status, const char* code, const std::string& message) {
  return http::Response::JsonError(status, code, message);
}

}  // namespace

bool IsMutating(const http::Request& request) {
  return request.method != "GET" && request.method != "HEAD";
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  // Walks the longer of the two whole; a length difference makes them unequal but does not
  // shorten the walk.
  const std::size_t length = std::max(a.size(), b.size());
  unsigned char difference = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < length; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    difference |= static_cast<unsigned char>(x ^ y);
  }
  return difference == 0;
}

std::optional<http::Response> CheckAccess(const AccessRules& rules, const http::Request& request) {
  const bool mutating = IsMutating(request);
  if (!rules.token.empty()) {
    const std::string* authorization = Header(request, "authorization");
    std::string presented;
    if (authorization != nullptr) {
      std::string_view value = Trim(*authorization);
      if (value.size() > 7 && Lower(value.substr(0, 7)) == "bearer ") {
        presented = std::string(Trim(value.substr(7)));
      }
    }
    if (presented.empty() || !ConstantTimeEquals(presented, rules.token)) {
      http::Response refusal = Refuse(
          401, "unauthorized",
          authorization == nullptr ? "this endpoint needs 'Authorization: Bearer <http.token>'"
                                   : "the bearer token is not this endpoint's http.token");
      refusal.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"shardjob\"");
      return refusal;
    }
  } else if (!rules.loopback_only) {
    // Reads too: job configs carry props (credentials, URLs, command lines).
    return Refuse(403, "forbidden",
                  "set http.token to use the API over the network (without it, an endpoint that "
                  "listens beyond loopback serves only /metrics and /healthz)");
  }

  // A browser sends Origin with its cross-site requests: a page from elsewhere must not reach
  // the API through the operator's browser.
  const std::string* host = Header(request, "host");
  if (const std::string* origin = Header(request, "origin")) {
    std::string_view value = Trim(*origin);
    const std::size_t scheme_end = value.find("://");
    std::string origin_authority;
    std::string default_port = "80";
    if (scheme_end != std::string_view::npos) {
      if (Lower(value.substr(0, scheme_end)) == "https") default_port = "443";
      origin_authority = NormalizeAuthority(value.substr(scheme_end + 3), default_port);
    }
    if (host == nullptr || origin_authority.empty() ||
        origin_authority != NormalizeAuthority(*host, default_port)) {
      return Refuse(403, "forbidden",
                    "cross-origin request refused: Origin '" + std::string(value) +
                        "' is not this endpoint (" + (host ? *host : std::string("no Host")) + ")");
    }
  }
  // Without a token, a name that resolves to 127.0.0.1 by a rebinding trick would make the
  // attacker's page same-origin: only loopback names are answered.
  if (rules.token.empty() && rules.loopback_only && host != nullptr) {
    const std::string host_name = HostOf(NormalizeAuthority(*host, "80"));
    if (!IsLoopbackHost(host_name)) {
      return Refuse(403, "forbidden",
                    "Host '" + *host +
                        "' is not a loopback name: without http.token this endpoint answers "
                        "only requests addressed to localhost, 127.0.0.1 or [::1]");
    }
  }
  if (mutating && !request.body.empty()) {
    const std::string* content_type = Header(request, "content-type");
    if (content_type == nullptr || !IsJson(*content_type)) {
      return Refuse(415, "unsupported_media_type",
                    "a request body must be sent with 'Content-Type: application/json'" +
                        (content_type ? " (got '" + *content_type + "')" : std::string()));
    }
  }
  return std::nullopt;
}

}  // namespace shardjob::api
