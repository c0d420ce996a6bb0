#include "http/router.h"

#include <cctype>
#include <cstdint>
#include <utility>

namespace shardjob::http {
namespace {

std::vector<std::string> Segments(const std::string& path) {
  std::vector<std::string> segments;
  std::size_t start = 1;  // past the leading '/'
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    segments.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return segments;
}

bool IsParam(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

bool UnderPrefix(const std::string& path, const std::string& prefix) {
  if (path.compare(0, prefix.size(), prefix) != 0) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// The length of the well-formed UTF-8 sequence at text[i], or 0 when it is not one.
std::size_t Utf8Length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  std::size_t length;
  std::uint32_t code;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    code = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    code = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    code = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(i + k) & 0x3F);
  }
  if ((length == 3 && code < 0x800) || (length == 4 && (code < 0x10000 || code > 0x10FFFF)) ||
      (code >= 0xD800 && code <= 0xDFFF)) {
    return 0;
  }
  return length;
}

// A JSON string literal; bytes that are not UTF-8 become U+FFFD.
std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const std::size_t length = Utf8Length(text, i);
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out.append(text.substr(i, length));
    }
    i += length;
  }
  return out + "\"";
}

}  // namespace

std::string PercentDecode(std::string_view text, bool plus_is_space) {
  std::string decoded;
  decoded.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (plus_is_space && text[i] == '+') {
      decoded += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() &&
               std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      decoded += static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
      i += 2;
    } else {
      decoded += text[i];
    }
  }
  return decoded;
}

Response Response::Text(int status, std::string body) {
  return Response{status, "text/plain; charset=utf-8", std::move(body)};
}

Response Response::Json(int status, std::string body) {
  return Response{status, "application/json", std::move(body)};
}

Response Response::JsonError(int status, std::string_view code, std::string_view message) {
  return Json(status, "{\"error\":{\"status\":" + std::to_string(status) + ",\"code\":" +
                          JsonString(code) + ",\"message\":" + JsonString(message) + "}}\n");
}

void Router::Add(std::string method, std::string pattern, Handler handler) {
  routes_.push_back(Entry{std::move(method), Segments(pattern), std::move(handler)});
}

void Router::SetFallback(std::string prefix, Fallback fallback) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  fallbacks_.emplace_back(std::move(prefix), std::move(fallback));
}

Response Router::Route(Request request) const {
  std::vector<std::string> segments;
  if (request.raw_path.empty()) {
    segments = Segments(request.path);
  } else {
    segments = Segments(request.raw_path);
    for (std::string& segment : segments) segment = PercentDecode(segment, false);
  }
  std::vector<std::string> allowed;
  for (const Entry& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    std::map<std::string, std::string> params;
    bool matched = true;
    for (std::size_t i = 0; i < segments.size() && matched; ++i) {
      if (IsParam(route.segments[i]) && !segments[i].empty()) {
        params[route.segments[i].substr(1, route.segments[i].size() - 2)] = segments[i];
      } else {
        matched = route.segments[i] == segments[i];
      }
    }
    if (!matched) continue;
    if (route.method != request.method) {
      allowed.push_back(route.method);
      continue;
    }
    request.params = std::move(params);
    return route.handler(request);
  }
  const int status = allowed.empty() ? 404 : 405;
  const std::string message = allowed.empty()
                                  ? "no such page: " + request.path
                                  : "method " + request.method + " not allowed on " + request.path;
  const Fallback* fallback = nullptr;
  std::size_t longest = 0;
  for (const auto& [prefix, candidate] : fallbacks_) {
    if (UnderPrefix(request.path, prefix) && (fallback == nullptr || prefix.size() > longest)) {
      fallback = &candidate;
      longest = prefix.size();
    }
  }
  if (fallback != nullptr) return (*fallback)(request, status, message, allowed);
  Response response = Response::Text(status, message);
  if (!allowed.empty()) {
    std::string allow;
    for (const std::string& method : allowed) allow += (allow.empty() ? "" : ", ") + method;
    response.headers.emplace_back("Allow", allow);
  }
  return response;
}

}  // namespace shardjob::http
