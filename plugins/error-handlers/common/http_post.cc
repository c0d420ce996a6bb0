#include "plugins/error-handlers/common/http_post.h"

#include <strings.h>

#include <algorithm>

#include "plugins/curl/curl_handles.h"

namespace shardjob::error_handlers {
namespace {

size_t KeepBody(char* data, size_t size, size_t count, void* body) {
  auto* text = static_cast<std::string*>(body);
  size_t bytes = size * count;
  size_t room = kMaxResponseBody - std::min(kMaxResponseBody, text->size());
  try {
    text->append(data, std::min(bytes, room));
  } catch (...) {
    return 0;  // fails the transfer: an exception must not unwind through libcurl's C frames
  }
  // Returning less than `bytes` would fail the transfer; the excess is dropped instead.
  return bytes;
}

bool HasHeader(const std::vector<std::string>& headers, const char* name) {
  size_t length = std::char_traits<char>::length(name);
  return std::any_of(headers.begin(), headers.end(), [&](const std::string& header) {
    return header.size() > length && header[length] == ':' &&
           strncasecmp(header.c_str(), name, length) == 0;
  });
}

}  // namespace

spi::Status HttpPost(const HttpRequest& request, const std::atomic<bool>& abort,
                     HttpResponse* response) {
  curl::CurlEasy easy;
  curl::CurlList headers;
  for (const std::string& header : request.headers) headers.Append(header);
  if (!HasHeader(request.headers, "Content-Type")) headers.Append("Content-Type: application/json");
  // libcurl otherwise sends "Expect: 100-continue" for larger bodies and then waits a second for
  // an interim answer that many small servers never send.
  headers.Append("Expect:");

  CURL* handle = easy.get();
  curl_easy_setopt(handle, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(handle, CURLOPT_POST, 1L);
  curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE,
                   static_cast<curl_off_t>(request.body.size()));
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(handle, CURLOPT_USERAGENT, "shardjob-error-handler");
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(request.connect_timeout.count()));
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  response->status = 0;
  response->body.clear();
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &KeepBody);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &response->body);
  easy.AbortWhen(abort);

  std::string error;
  CURLcode code = easy.Perform(&error);
  if (code == CURLE_ABORTED_BY_CALLBACK) {
    return spi::Status::Cancelled("POST to " + UrlOrigin(request.url) + " aborted: stopping");
  }
  if (code != CURLE_OK) {
    return spi::Status::Unavailable("POST to " + UrlOrigin(request.url) + " failed: " + error);
  }
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &response->status);
  return spi::Status::Ok();
}

std::string UrlOrigin(const std::string& url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return "(url)";
  size_t host_end = url.find_first_of("/?#", scheme_end + 3);
  std::string origin = url.substr(0, host_end);
  // user:password@host keeps only the host.
  size_t at = origin.rfind('@');
  if (at != std::string::npos) origin = origin.substr(0, scheme_end + 3) + origin.substr(at + 1);
  return origin;
}

}  // namespace shardjob::error_handlers
