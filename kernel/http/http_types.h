#pragma once

// What a route handler sees and returns. Kept free of Beast and Asio: the server's
// implementation file is the only one that includes them.

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shardjob::http {

struct Request {
  std::string method;                          // "GET", "POST", ...
  std::string path;                            // "/metrics": the target without its query, decoded
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // names in lower case
  std::map<std::string, std::string> params;   // from the route's {name} segments
  std::string body;
  bool from_loopback = false;  // the peer's address is 127.0.0.0/8 or ::1
  // The path as sent, still percent-encoded (empty when the request was built by hand: then
  // `path` is used). The router splits this one into segments before decoding each, so that an
  // encoded slash ("a%2Fb") stays inside its segment instead of making a new one.
  std::string raw_path;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Further header fields ("WWW-Authenticate", "Allow", "ETag"), sent in this order.
  std::vector<std::pair<std::string, std::string>> headers = {};

  static Response Text(int status, std::string body);
  static Response Json(int status, std::string body);
  // {"error": {"status": n, "code": code, "message": message}}: what the server and the API
  // answer when they refuse a request.
  static Response JsonError(int status, std::string_view code, std::string_view message);
};

using Handler = std::function<Response(const Request&)>;

// Percent-decoding of a URL part; `plus_is_space` for query strings only.
std::string PercentDecode(std::string_view text, bool plus_is_space);

}  // namespace shardjob::http
