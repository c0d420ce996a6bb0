#pragma once

#include <string>
#include <utility>

namespace shardjob::spi {

// The outcome of an SPI call. Plugins report failure through a Status, never by letting an
// exception escape their library.
class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,  // bad props or input: the caller's configuration is wrong
    kNotFound,
    kFailed,       // the work was attempted and failed (a job threw, a script exited non-zero)
    kTimedOut,     // the work ran longer than it was allowed to
    kCancelled,    // the work stopped because the cancellation flag was raised
    kInternal,     // a bug or an unexpected exception
    kUnavailable,  // a service the work needs cannot be reached now; trying again later may work
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string message) {
    return Status(Code::kInvalidArgument, std::move(message));
  }
  static Status NotFound(std::string message) {
    return Status(Code::kNotFound, std::move(message));
  }
  static Status Failed(std::string message) { return Status(Code::kFailed, std::move(message)); }
  static Status TimedOut(std::string message) {
    return Status(Code::kTimedOut, std::move(message));
  }
  static Status Cancelled(std::string message) {
    return Status(Code::kCancelled, std::move(message));
  }
  static Status Internal(std::string message) {
    return Status(Code::kInternal, std::move(message));
  }
  static Status Unavailable(std::string message) {
    return Status(Code::kUnavailable, std::move(message));
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "OK", or "<code name>: <message>".
  std::string ToString() const;

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  Code code_ = Code::kOk;
  std::string message_;
};

const char* CodeName(Status::Code code);

}  // namespace shardjob::spi
