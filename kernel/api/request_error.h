#pragma once

// A request the API refuses: becomes {"error": {"status", "code", "message"}}.

#include <stdexcept>
#include <string>

namespace shardjob::api {

class RequestError : public std::runtime_error {
 public:
  RequestError(int status, std::string code, const std::string& message)
      : std::runtime_error(message), status_(status), code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }

 private:
  int status_;
  std::string code_;
};

// 400 "invalid".
inline RequestError Invalid(const std::string& message) {
  return RequestError(400, "invalid", message);
}

}  // namespace shardjob::api
