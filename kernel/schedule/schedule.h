#pragma once

// When a job fires: a cron expression in a time zone, a fixed rate, or a fixed delay after the
// previous fire finished.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <cctz/time_zone.h>

#include "cron/cron_expression.h"

namespace shardjob::schedule {

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::time_point<Clock, std::chrono::milliseconds>;

TimePoint NowMs();

class Schedule {
 public:
  virtual ~Schedule();
  // The first fire strictly after `after`; nullopt when the schedule never fires again.
  virtual std::optional<TimePoint> NextAfter(TimePoint after) const = 0;
  // True when the next fire is counted from the end of the previous one (fixed delay), so the
  // scheduler waits to be told the fire finished before arming the timer again.
  virtual bool CountsFromCompletion() const = 0;
  virtual std::string Describe() const = 0;
};

std::unique_ptr<Schedule> MakeCronSchedule(cron::CronExpression expression, cctz::time_zone zone,
                                           std::string zone_name);
// Fires at every multiple of `interval` since the Unix epoch, so every instance of a cluster
// computes the same fire instants (and so the same fire ids).
std::unique_ptr<Schedule> MakeFixedRateSchedule(std::chrono::milliseconds interval);
std::unique_ptr<Schedule> MakeFixedDelaySchedule(std::chrono::milliseconds delay);

}  // namespace shardjob::schedule
