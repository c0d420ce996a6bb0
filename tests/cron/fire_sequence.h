#pragma once

// Test-side rendering of cron fire sequences as readable local times ("2024-03-10 03:30:00
// -04:00"), so an expectation shows both the wall clock and the offset it was fired under.

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <cctz/time_zone.h>

#include "cron/cron_expression.h"

namespace shardjob::cron::test {

inline constexpr char kFormat[] = "%Y-%m-%d %H:%M:%S %Ez";

// "2024-03-10 01:20:00 -05:00" -> instant. The offset is explicit, so no zone is involved.
inline Seconds At(const std::string& text) {
  std::chrono::time_point<std::chrono::system_clock, std::chrono::seconds> instant;
  if (!cctz::parse(kFormat, text, cctz::utc_time_zone(), &instant)) {
    throw std::invalid_argument("bad test instant " + text);
  }
  return instant;
}

inline std::string Show(Seconds instant, const cctz::time_zone& zone) {
  return cctz::format(kFormat, instant, zone);
}

// Up to `count` successive fires strictly after `start`, each fed back as the next `after`; stops
// early when the expression stops firing.
inline std::vector<std::string> Fires(std::string_view expression, std::string_view zone_name,
                                      const std::string& start, int count) {
  const CronExpression cron = CronExpression::Parse(expression);
  const cctz::time_zone zone = LoadTimeZone(zone_name);
  std::vector<std::string> fires;
  std::chrono::system_clock::time_point after = At(start);
  for (int i = 0; i < count; ++i) {
    const std::optional<Seconds> next = cron.NextAfter(after, zone);
    if (!next) break;
    fires.push_back(Show(*next, zone));
    after = *next;
  }
  return fires;
}

}  // namespace shardjob::cron::test
