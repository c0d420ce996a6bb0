#include "api/request_parsing.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <limits>
#include <optional>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "instance/instance_id.h"

namespace shardjob::api {
namespace {

// The latest time accepted: 9999-12-31T23:59:59.999Z.
constexpr std::int64_t kMaxTimeMs = 253402300799999;

std::string Quote(std::string_view text) {
  constexpr std::size_t kShown = 64;
  std::string quoted = "'";
  quoted.append(text.substr(0, kShown));
  if (text.size() > kShown) quoted += "...";
  return quoted + "'";
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// `count` digits at text[*at], advancing; -1 when they are not there.
int Digits(std::string_view text, std::size_t* at, std::size_t count) {
  if (*at + count > text.size()) return -1;
  int value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const char c = text[*at + i];
    if (!IsDigit(c)) return -1;
    value = value * 10 + (c - '0');
  }
  *at += count;
  return value;
}

bool Expect(std::string_view text, std::size_t* at, std::string_view choices) {
  if (*at >= text.size() || choices.find(text[*at]) == std::string_view::npos) return false;
  ++*at;
  return true;
}

// RFC 3339's date-time, as epoch milliseconds; nullopt when `text` is not one.
std::optional<std::int64_t> ParseRfc3339(std::string_view text) {
  using namespace std::chrono;
  std::size_t at = 0;
  const int y = Digits(text, &at, 4);
  if (y < 0 || !Expect(text, &at, "-")) return std::nullopt;
  const int mo = Digits(text, &at, 2);
  if (mo < 0 || !Expect(text, &at, "-")) return std::nullopt;
  const int d = Digits(text, &at, 2);
  if (d < 0 || !Expect(text, &at, "Tt ")) return std::nullopt;
  const int h = Digits(text, &at, 2);
  if (h < 0 || !Expect(text, &at, ":")) return std::nullopt;
  const int mi = Digits(text, &at, 2);
  if (mi < 0 || !Expect(text, &at, ":")) return std::nullopt;
  const int s = Digits(text, &at, 2);
  if (s < 0) return std::nullopt;
  int ms = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    std::size_t fraction_digits = 0;
    while (at < text.size() && IsDigit(text[at])) {
      if (fraction_digits < 3) ms = ms * 10 + (text[at] - '0');
      ++fraction_digits;
      ++at;
    }
    if (fraction_digits == 0 || fraction_digits > 9) return std::nullopt;
    for (std::size_t i = fraction_digits; i < 3; ++i) ms *= 10;
  }
  int offset_minutes = 0;
  if (Expect(text, &at, "Zz")) {
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-' || text[at] == ' ')) {
    // ' ': a '+' that a query string's decoding turned into a space.
    const int sign = text[at] == '-' ? -1 : 1;
    ++at;
    const int oh = Digits(text, &at, 2);
    if (oh < 0 || !Expect(text, &at, ":")) return std::nullopt;
    const int om = Digits(text, &at, 2);
    if (om < 0 || oh > 23 || om > 59) return std::nullopt;
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (at != text.size()) return std::nullopt;
  const year_month_day date{year{y}, month{static_cast<unsigned>(mo)},
                            day{static_cast<unsigned>(d)}};
  if (!date.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;
  const std::int64_t days_ms =
      duration_cast<milliseconds>(sys_days(date).time_since_epoch()).count();
  // A leap second (":60") counts as the last millisecond of its minute.
  const std::int64_t seconds = s == 60 ? 59 : s;
  const std::int64_t within = s == 60 ? 999 : ms;
  return days_ms + ((h * 60 + mi - offset_minutes) * 60 + seconds) * 1000 + within;
}

}  // namespace

std::uint64_t ParseUnsigned(std::string_view text, std::string_view name, std::uint64_t max) {
  std::uint64_t value = 0;
  const bool digits = !text.empty() && text.size() <= 20 &&
                      text.find_first_not_of("0123456789") == std::string_view::npos;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (!digits || error != std::errc() || end != text.data() + text.size() || value > max) {
    throw Invalid(std::string(name) + ": expected a whole number from 0 to " + std::to_string(max) +
                  ", got " + Quote(text));
  }
  return value;
}

bool ParseBool(std::string_view text, std::string_view name) {
  if (text == "true") return true;
  if (text == "false") return false;
  throw Invalid(std::string(name) + ": expected true or false, got " + Quote(text));
}

std::int64_t ParseTime(std::string_view text, std::string_view name) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) {
    if (text.size() > 15) {
      throw Invalid(std::string(name) + ": " + Quote(text) + " is past the year 9999");
    }
    return static_cast<std::int64_t>(ParseUnsigned(text, name, kMaxTimeMs));
  }
  const std::optional<std::int64_t> parsed = ParseRfc3339(text);
  if (!parsed) {
    throw Invalid(std::string(name) +
                  ": expected epoch milliseconds or an RFC 3339 time "
                  "(2025-11-22T10:00:05Z), got " +
                  Quote(text));
  }
  if (*parsed < 0 || *parsed > kMaxTimeMs) {
    throw Invalid(std::string(name) + ": " + Quote(text) + " is before 1970 or after 9999");
  }
  return *parsed;
}

std::string FormatTime(std::int64_t epoch_ms) {
  using namespace std::chrono;
  const sys_time<milliseconds> time{milliseconds(epoch_ms)};
  const sys_days date = floor<days>(time);
  const year_month_day ymd{date};
  const hh_mm_ss<milliseconds> clock{time - date};
  char text[40];
  const int ms = static_cast<int>(clock.subseconds().count());
  std::snprintf(text, sizeof(text), "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
                static_cast<int>(clock.seconds().count()));
  std::string formatted = text;
  if (ms != 0) {
    std::snprintf(text, sizeof(text), ".%03d", ms);
    formatted += text;
  }
  return formatted + "Z";
}

void CheckQueryKeys(const std::map<std::string, std::string>& query,
                    std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : query) {
    bool known = false;
    for (std::string_view name : allowed) known = known || key == name;
    if (known) continue;
    std::string expected;
    for (std::string_view name : allowed) {
      expected += (expected.empty() ? "" : ", ") + std::string(name);
    }
    throw Invalid(
        "unknown query parameter " + Quote(key) +
        (expected.empty() ? " (this endpoint takes none)" : " (expected: " + expected + ")"));
  }
}

nlohmann::json ParseJsonBody(const std::string& body) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return nullptr;
  // Bounded nesting, before parsing: deep documents cost stack in whatever walks them later.
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        throw Invalid("the body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    throw Invalid(std::string("the body is not valid JSON: ") + e.what());
  }
}

const std::string& CheckJobName(const std::string& name) {
  if (!config::IsValidJobName(name)) {
    throw Invalid(Quote(name) + " is not a job name (letters, digits, '_', '.', '-')");
  }
  return name;
}

const std::string& CheckInstanceId(const std::string& id) {
  if (!instance::IsValidInstanceId(id)) {
    throw Invalid(Quote(id) + " is not an instance id (letters, digits, '.', '_', '@', ':', '-')");
  }
  return id;
}

}  // namespace shardjob::api
