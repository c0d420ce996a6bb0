#include "executors/http/http_job_props.h"

#include <cctype>
#include <cstdint>
#include <stdexcept>

namespace shardjob::executors {
namespace {

constexpr const char* kUriProp = "http.uri";
constexpr const char* kMethodProp = "http.method";
constexpr const char* kDataProp = "http.data";
constexpr const char* kConnectTimeoutProp = "http.connect.timeout.milliseconds";
constexpr const char* kReadTimeoutProp = "http.read.timeout.milliseconds";
constexpr const char* kContentTypeProp = "http.content.type";
constexpr const char* kHeadersProp = "http.headers";

constexpr const char* kKnownProps[] = {
    kUriProp,         kMethodProp,      kDataProp,   kConnectTimeoutProp,
    kReadTimeoutProp, kContentTypeProp, kHeadersProp};
constexpr const char* kMethods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"};

// `reason` follows the quoted prop name: " is required", ": header 2 ...".
[[noreturn]] void Reject(const char* prop, const std::string& reason) {
  throw std::invalid_argument(std::string("prop '") + prop + "'" + reason);
}

std::string Required(const spi::Properties& props, const char* key) {
  std::optional<std::string> value = props.Find(key);
  if (!value || value->empty()) Reject(key, " is required");
  return *value;
}

std::int64_t ReadInt(const spi::Properties& props, const char* key, std::int64_t fallback,
                     std::int64_t min, std::int64_t max) {
  std::int64_t value = fallback;
  spi::Status status = props.GetInt(key, fallback, min, max, &value);
  if (!status.ok()) throw std::invalid_argument(status.message());
  return value;
}

void RejectUnknownKeys(const spi::Properties& props) {
  for (const auto& [key, value] : props.values()) {
    if (key.rfind("http.", 0) != 0) continue;
    bool known = false;
    std::string names;
    for (const char* name : kKnownProps) {
      known = known || key == name;
      names += names.empty() ? name : std::string(", ") + name;
    }
    if (!known) {
      throw std::invalid_argument("prop '" + key + "' is not an HTTP job prop (known: " + names +
                                  ")");
    }
  }
}

std::string ReadMethod(const spi::Properties& props) {
  const std::string given = Required(props, kMethodProp);
  std::string method = given;
  for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const char* known : kMethods) {
    if (method == known) return method;
  }
  Reject(kMethodProp, " is '" + given + "'; expected GET, HEAD, POST, PUT, DELETE or PATCH");
}

HttpUrl ReadUrl(const spi::Properties& props) {
  const std::string text = Required(props, kUriProp);
  try {
    return HttpUrl(text);
  } catch (const std::invalid_argument& e) {
    Reject(kUriProp, std::string(": ") + e.what());
  }
}

std::optional<std::string> ReadContentType(const spi::Properties& props) {
  std::optional<std::string> value = props.Find(kContentTypeProp);
  if (!value || value->empty()) return std::nullopt;
  for (unsigned char c : *value) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      Reject(kContentTypeProp, " holds a control character");
    }
  }
  return value;
}

std::optional<std::chrono::milliseconds> ReadReadTimeout(const spi::Properties& props) {
  constexpr std::int64_t kOneDay = 24 * 3600 * 1000;
  // 0 means "no limit", as Java's read timeout of 0 does; the kernel's cancellation still stops
  // the request.
  const std::int64_t value = ReadInt(props, kReadTimeoutProp, 5000, 0, kOneDay);
  if (value == 0) return std::nullopt;
  return std::chrono::milliseconds(value);
}

std::vector<HttpHeader> ReadHeaders(const spi::Properties& props) {
  std::vector<HttpHeader> headers;
  std::string error;
  if (!ParseRequestHeaders(props.GetOr(kHeadersProp, ""), &headers, &error)) {
    Reject(kHeadersProp, ": " + error);
  }
  return headers;
}

}  // namespace

HttpJobProps ReadHttpJobProps(const spi::Properties& props) {
  RejectUnknownKeys(props);
  constexpr std::int64_t kTenMinutes = 10 * 60 * 1000;
  return HttpJobProps{
      .url = ReadUrl(props),
      .method = ReadMethod(props),
      .data = props.GetOr(kDataProp, ""),
      // libcurl cannot wait for a connection without limit, so 0 is refused here.
      .connect_timeout =
          std::chrono::milliseconds(ReadInt(props, kConnectTimeoutProp, 3000, 1, kTenMinutes)),
      .read_timeout = ReadReadTimeout(props),
      .content_type = ReadContentType(props),
      .headers = ReadHeaders(props),
  };
}

}  // namespace shardjob::executors
