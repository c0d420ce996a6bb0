#pragma once

// Quartz cron expressions, as ElasticJob uses them:
//
//   seconds minutes hours day-of-month month day-of-week [year]
//
// with `*`, `?`, ranges `a-b` (a reversed range such as `22-2` or `FRI-MON` wraps, as in Quartz),
// steps `a/n` and `a-b/n`, lists `a,b`, month names JAN-DEC and day names SUN-SAT, case-insensitive
// (1 = SUN, as in Quartz), `L` and `L-n` (last day of month, n days before it),
// `nW` (nearest weekday to day n, within the month), `LW` and `L-nW` (the same, counted from the
// last day), `dL` (last day-of-week d of the month) and `d#n` (n-th day-of-week d of the month);
// unlike Quartz, these may be listed with other days (`1,L`). Exactly one of
// day-of-month and day-of-week should be `?`, as in Quartz; `*` in both is accepted and
// means every day, and `*` in one with a restriction in the other means the restriction. Years
// run 1970-2199; no fire is ever computed past 2199.
//
// Time zones and daylight saving time (the documented rule, Quartz's):
//   - a wall-clock time skipped by a forward transition (02:30 on a spring-forward night) fires at
//     the instant the same wall-clock offset after the transition (03:30 once clocks jumped
//     02:00 -> 03:00), at most once per skipped wall-clock time. An instant fires once however
//     many wall-clock times land on it, so an every-15-minutes job fires 01:45, 03:00, 03:15 that
//     night (02:00-02:45 shift onto 03:00-03:45, which fire anyway);
//   - a wall-clock time that happens twice (01:30 on a fall-back night) fires once, at its first
//     occurrence; asked from within the second pass, the next fire is after the repeated hour.
// The next fire depends only on the instant asked about, never on earlier calls.

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <cctz/time_zone.h>

namespace shardjob::cron {

// A malformed expression or unknown time zone. what() names the field and the offending token,
// e.g. "cron '0 0 25 * * ?': hours: value 25 out of range 0-23 in '25'".
class CronError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

using Seconds = std::chrono::time_point<std::chrono::system_clock, std::chrono::seconds>;

class CronExpression {
 public:
  // Throws CronError.
  static CronExpression Parse(std::string_view expression);

  // The first fire instant strictly after `after` (whole seconds), evaluated in `zone`;
  // nullopt when the expression never fires again (a year field in the past, 30 FEB).
  std::optional<Seconds> NextAfter(std::chrono::system_clock::time_point after,
                                   const cctz::time_zone& zone) const;

  const std::string& text() const { return text_; }

 private:
  struct Fields;  // defined in cron_expression.cc
  CronExpression() = default;

  std::string text_;
  std::shared_ptr<const Fields> fields_;
};

// Loads an IANA zone ("Asia/Shanghai", "UTC"), or ElasticJob's fixed-offset form "GMT+08:00".
// An empty name is the system's local zone. Throws CronError naming the zone when unknown.
cctz::time_zone LoadTimeZone(std::string_view name);

}  // namespace shardjob::cron
