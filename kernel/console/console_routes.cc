#include "console/console_routes.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "console/console_assets.h"

namespace shardjob::console {
namespace {

// The console is code from this binary and data from /api, nothing else: no inline script, no
// other origin, never framed (clickjacking an operator into "Delete").
constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

std::string ContentType(std::string_view name) {
  const std::size_t dot = name.rfind('.');
  const std::string_view extension = dot == std::string_view::npos ? "" : name.substr(dot + 1);
  if (extension == "html") return "text/html; charset=utf-8";
  if (extension == "js") return "text/javascript; charset=utf-8";
  if (extension == "css") return "text/css; charset=utf-8";
  if (extension == "svg") return "image/svg+xml";
  if (extension == "png") return "image/png";
  if (extension == "ico") return "image/x-icon";
  if (extension == "json") return "application/json";
  return "application/octet-stream";
}

// Every answer of the console's, files and redirects alike.
std::vector<std::pair<std::string, std::string>> SecurityHeaders() {
  return {{"Content-Security-Policy", kContentSecurityPolicy},
          {"X-Content-Type-Options", "nosniff"},
          {"X-Frame-Options", "DENY"},
          {"Referrer-Policy", "no-referrer"}};
}

// If-None-Match holds a list of tags, each maybe weak (W/"..."); a GET compares them weakly.
bool TagListed(std::string_view if_none_match, std::string_view etag) {
  while (!if_none_match.empty()) {
    const std::size_t comma = if_none_match.find(',');
    std::string_view tag = if_none_match.substr(0, comma);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == etag || tag == "*") return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

// One file's answers, worked out once. Revalidated on every load (`no-cache`), answered 304
// while unchanged: a new build's console is seen at once, and an unchanged one costs no transfer.
http::Handler FileHandler(const Asset& asset) {
  const std::string etag = "\"" + std::string(asset.sha256.substr(0, 32)) + "\"";
  std::vector<std::pair<std::string, std::string>> headers = SecurityHeaders();
  headers.emplace_back("ETag", etag);
  headers.emplace_back("Cache-Control", "no-cache");
  return [&asset, etag, headers,
          content_type = ContentType(asset.name)](const http::Request& request) {
    http::Response response;
    auto match = request.headers.find("if-none-match");
    if (match != request.headers.end() && TagListed(match->second, etag)) {
      response.status = 304;
    } else {
      response.content_type = content_type;
      response.body = std::string(asset.content);
    }
    response.headers = headers;
    return response;
  };
}

http::Response Redirect(std::string location) {
  http::Response response = http::Response::Text(302, "see " + location + "\n");
  response.headers = SecurityHeaders();
  response.headers.emplace_back("Location", std::move(location));
  return response;
}

}  // namespace

void AddConsoleRoutes(http::Router& router) {
  for (const Asset& asset : Assets()) {
    http::Handler serve = FileHandler(asset);
    router.Add("GET", "/console/" + std::string(asset.name), serve);
    if (asset.name == "index.html") router.Add("GET", "/console/", serve);
  }
  router.Add("GET", "/console", [](const http::Request&) { return Redirect("/console/"); });
  router.Add("GET", "/", [](const http::Request&) { return Redirect("/console/"); });
}

}  // namespace shardjob::console
