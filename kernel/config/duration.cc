#include "config/duration.h"

#include <charconv>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace shardjob::config::internal {
namespace {

constexpr std::string_view kExpected =
    "expected <n>ms, <n>s, <n>m, <n>h or a bare number of milliseconds, e.g. '500ms' or '15s'";

[[noreturn]] void Throw(std::string_view text, std::string_view problem) {
  throw std::invalid_argument("bad duration '" + std::string(text) + "': " + std::string(problem));
}

}  // namespace

std::chrono::milliseconds ParseDuration(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) Throw(text, kExpected);

  const std::string_view unit = text.substr(digits);
  int64_t factor = 0;
  if (unit.empty() || unit == "ms") {
    factor = 1;
  } else if (unit == "s") {
    factor = 1000;
  } else if (unit == "m") {
    factor = 60 * 1000;
  } else if (unit == "h") {
    factor = 60 * 60 * 1000;
  } else {
    Throw(text, kExpected);
  }

  int64_t count = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + digits, count);
  if (error != std::errc() || end != text.data() + digits ||
      count > std::numeric_limits<int64_t>::max() / factor) {
    Throw(text, "too large");
  }
  return std::chrono::milliseconds(count * factor);
}

std::string FormatDuration(std::chrono::milliseconds duration) {
  const int64_t ms = duration.count();
  if (ms != 0 && ms % (60 * 60 * 1000) == 0) return std::to_string(ms / (60 * 60 * 1000)) + "h";
  if (ms != 0 && ms % (60 * 1000) == 0) return std::to_string(ms / (60 * 1000)) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace shardjob::config::internal
