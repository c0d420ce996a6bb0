#pragma once

// Finds the handler for a request by method and path. A route's path may hold {name} segments
// ("/api/jobs/{job}/trigger"), which match one path segment each and arrive in Request::params.
// A path that matches no route is a 404; one that matches with another method is a 405.

#include <string>
#include <vector>

#include "http/http_types.h"

namespace shardjob::http {

class Router {
 public:
  void Add(std::string method, std::string pattern, Handler handler);
  Response Route(Request request) const;

 private:
  struct Entry {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Entry> routes_;
};

}  // namespace shardjob::http
