#include "executors/http/http_url.h"

#include <memory>
#include <stdexcept>

#include "plugins/curl/curl_handles.h"

namespace shardjob::executors {
namespace {

// A string libcurl allocated, released with curl_free.
struct CurlFree {
  void operator()(char* text) const { curl_free(text); }
};
using CurlString = std::unique_ptr<char, CurlFree>;

std::string GetPart(const curl::CurlUrl& url, CURLUPart part) {
  char* raw = nullptr;
  if (curl_url_get(url.get(), part, &raw, 0) != CURLUE_OK) return "";
  CurlString text(raw);
  return text ? std::string(text.get()) : std::string();
}

// Setting a part to null clears it.
void ClearPart(const curl::CurlUrl& url, CURLUPart part) {
  const CURLUcode code = curl_url_set(url.get(), part, nullptr, 0);
  if (code != CURLUE_OK) throw std::invalid_argument(curl_url_strerror(code));
}

}  // namespace

HttpUrl::HttpUrl(const std::string& text) {
  curl::CurlUrl url;
  // No CURLU_GUESS_SCHEME and no default scheme: "example.com/x" is refused, not guessed at.
  const CURLUcode code = curl_url_set(url.get(), CURLUPART_URL, text.c_str(), 0);
  if (code != CURLUE_OK) {
    throw std::invalid_argument("'" + text + "' is not a URL: " + curl_url_strerror(code));
  }
  const std::string scheme = GetPart(url, CURLUPART_SCHEME);
  if (scheme != "http" && scheme != "https") {
    throw std::invalid_argument("'" + text + "' is not an http:// or https:// URL");
  }
  if (GetPart(url, CURLUPART_HOST).empty()) {
    throw std::invalid_argument("'" + text + "' has no host");
  }
  full_ = GetPart(url, CURLUPART_URL);

  ClearPart(url, CURLUPART_USER);
  ClearPart(url, CURLUPART_PASSWORD);
  ClearPart(url, CURLUPART_OPTIONS);
  ClearPart(url, CURLUPART_QUERY);
  ClearPart(url, CURLUPART_FRAGMENT);
  redacted_ = GetPart(url, CURLUPART_URL);
}

std::string HttpUrl::WithQueryParameter(const std::string& name, std::string_view value) const {
  // full_ is libcurl's normalised form: the first '#' starts the fragment and a '?' before it
  // starts the query. Done by hand rather than with CURLU_APPENDQUERY, which rewrites the
  // percent-encoding in lower case.
  const std::size_t hash = full_.find('#');
  std::string url = full_.substr(0, hash);
  if (url.find('?') == std::string::npos) {
    url += '?';
  } else if (url.back() != '?' && url.back() != '&') {
    url += '&';
  }
  url += name + "=" + PercentEncode(value);
  if (hash != std::string::npos) url += full_.substr(hash);
  return url;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string encoded;
  encoded.reserve(text.size() * 3);
  for (unsigned char c : text) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      encoded.push_back(static_cast<char>(c));
    } else {
      encoded.push_back('%');
      encoded.push_back(kHex[c >> 4]);
      encoded.push_back(kHex[c & 0x0F]);
    }
  }
  return encoded;
}

}  // namespace shardjob::executors
