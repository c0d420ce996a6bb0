#pragma once

// What a route handler sees and returns. Kept free of Beast and Asio: the server's
// implementation file is the only one that includes them.

#include <functional>
#include <map>
#include <string>

namespace shardjob::http {

struct Request {
  std::string method;                          // "GET", "POST", ...
  std::string path;                            // "/metrics": the target without its query
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // names in lower case
  std::map<std::string, std::string> params;   // from the route's {name} segments
  std::string body;
  bool from_loopback = false;  // the peer's address is 127.0.0.0/8 or ::1
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;

  static Response Text(int status, std::string body);
  static Response Json(int status, std::string body);
};

using Handler = std::function<Response(const Request&)>;

}  // namespace shardjob::http
