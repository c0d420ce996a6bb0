#pragma once

// Finds the handler for a request by method and path. A route's path may hold {name} segments
// ("/api/jobs/{job}/trigger"), which match one path segment each and arrive in Request::params.
// A path that matches no route is a 404; one that matches with another method is a 405 (with
// an Allow header). Under a prefix with a fallback (SetFallback), the fallback answers both.

#include <functional>
#include <string>
#include <vector>

#include "http/http_types.h"

namespace shardjob::http {

class Router {
 public:
  // Answers a request that no route takes: `status` is 404 or 405, `message` says why, and
  // `allowed` lists the methods the path has (for a 405's Allow header).
  using Fallback =
      std::function<Response(const Request& request, int status, const std::string& message,
                             const std::vector<std::string>& allowed)>;

  void Add(std::string method, std::string pattern, Handler handler);
  // For the paths equal to `prefix` or under `prefix` + "/". The longest prefix wins.
  void SetFallback(std::string prefix, Fallback fallback);
  Response Route(Request request) const;

 private:
  struct Entry {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Entry> routes_;
  std::vector<std::pair<std::string, Fallback>> fallbacks_;
};

}  // namespace shardjob::http
