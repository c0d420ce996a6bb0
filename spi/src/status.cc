#include "shardjob/spi/status.h"

namespace shardjob::spi {

const char* CodeName(Status::Code code) {
  switch (code) {
    case Status::Code::kOk:
      return "OK";
    case Status::Code::kInvalidArgument:
      return "invalid argument";
    case Status::Code::kNotFound:
      return "not found";
    case Status::Code::kFailed:
      return "failed";
    case Status::Code::kTimedOut:
      return "timed out";
    case Status::Code::kCancelled:
      return "cancelled";
    case Status::Code::kInternal:
      return "internal error";
    case Status::Code::kUnavailable:
      return "unavailable";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + message_;
}

}  // namespace shardjob::spi
