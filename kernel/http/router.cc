#include "http/router.h"

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

}  // namespace

Response Response::Text(int status, std::string body) {
  return Response{status, "text/plain; charset=utf-8", std::move(body)};
}

Response Response::Json(int status, std::string body) {
  return Response{status, "application/json", std::move(body)};
}

void Router::Add(std::string method, std::string pattern, Handler handler) {
  routes_.push_back(Entry{std::move(method), Segments(pattern), std::move(handler)});
}

Response Router::Route(Request request) const {
  const std::vector<std::string> segments = Segments(request.path);
  bool path_matched = false;
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
    path_matched = true;
    if (route.method != request.method) continue;
    request.params = std::move(params);
    return route.handler(request);
  }
  if (path_matched) {
    return Response::Text(405, "method " + request.method + " not allowed on " + request.path);
  }
  return Response::Text(404, "no such page: " + request.path);
}

}  // namespace shardjob::http
