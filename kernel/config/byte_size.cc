#include "config/byte_size.h"

#include <charconv>
#include <limits>
#include <stdexcept>
#include <utility>

namespace shardjob::config::internal {
namespace {

constexpr std::string_view kExpected = "expected <n>KiB, <n>MiB or <n>GiB, e.g. '512MiB'";

constexpr std::pair<std::string_view, std::uint64_t> kUnits[] = {
    {"GiB", std::uint64_t{1} << 30},
    {"MiB", std::uint64_t{1} << 20},
    {"KiB", std::uint64_t{1} << 10},
};

[[noreturn]] void Throw(std::string_view text, std::string_view problem) {
  throw std::invalid_argument("bad size '" + std::string(text) + "': " + std::string(problem));
}

}  // namespace

std::uint64_t ParseByteSize(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) Throw(text, kExpected);

  const std::string_view unit = text.substr(digits);
  std::uint64_t factor = 0;
  for (const auto& [name, size] : kUnits) {
    if (unit == name) factor = size;
  }
  if (factor == 0) Throw(text, kExpected);

  std::uint64_t count = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + digits, count);
  if (error != std::errc() || end != text.data() + digits ||
      count > std::numeric_limits<std::uint64_t>::max() / factor) {
    Throw(text, "too large");
  }
  return count * factor;
}

std::string FormatByteSize(std::uint64_t bytes) {
  for (const auto& [name, size] : kUnits) {
    if (bytes != 0 && bytes % size == 0) return std::to_string(bytes / size) + std::string(name);
  }
  return std::to_string(bytes) + "B";
}

}  // namespace shardjob::config::internal
