#include "schedule/schedule.h"

#include <utility>

namespace shardjob::schedule {

TimePoint NowMs() { return std::chrono::time_point_cast<std::chrono::milliseconds>(Clock::now()); }

Schedule::~Schedule() = default;

namespace {

class CronSchedule : public Schedule {
 public:
  CronSchedule(cron::CronExpression expression, cctz::time_zone zone, std::string zone_name)
      : expression_(std::move(expression)), zone_(zone), zone_name_(std::move(zone_name)) {}

  std::optional<TimePoint> NextAfter(TimePoint after) const override {
    auto next = expression_.NextAfter(after, zone_);
    if (!next) return std::nullopt;
    return std::chrono::time_point_cast<std::chrono::milliseconds>(*next);
  }
  bool CountsFromCompletion() const override { return false; }
  std::string Describe() const override {
    return "cron '" + expression_.text() + "' in " +
           (zone_name_.empty() ? "local time" : zone_name_);
  }

 private:
  cron::CronExpression expression_;
  cctz::time_zone zone_;
  std::string zone_name_;
};

class FixedRateSchedule : public Schedule {
 public:
  explicit FixedRateSchedule(std::chrono::milliseconds interval) : interval_(interval) {}

  std::optional<TimePoint> NextAfter(TimePoint after) const override {
    auto since_epoch = after.time_since_epoch();
    return TimePoint((since_epoch / interval_ + 1) * interval_);
  }
  bool CountsFromCompletion() const override { return false; }
  std::string Describe() const override {
    return "every " + std::to_string(interval_.count()) + " ms";
  }

 private:
  std::chrono::milliseconds interval_;
};

class FixedDelaySchedule : public Schedule {
 public:
  explicit FixedDelaySchedule(std::chrono::milliseconds delay) : delay_(delay) {}

  std::optional<TimePoint> NextAfter(TimePoint after) const override { return after + delay_; }
  bool CountsFromCompletion() const override { return true; }
  std::string Describe() const override {
    return std::to_string(delay_.count()) + " ms after each fire ends";
  }

 private:
  std::chrono::milliseconds delay_;
};

}  // namespace

std::unique_ptr<Schedule> MakeCronSchedule(cron::CronExpression expression, cctz::time_zone zone,
                                           std::string zone_name) {
  return std::make_unique<CronSchedule>(std::move(expression), zone, std::move(zone_name));
}

std::unique_ptr<Schedule> MakeFixedRateSchedule(std::chrono::milliseconds interval) {
  return std::make_unique<FixedRateSchedule>(interval);
}

std::unique_ptr<Schedule> MakeFixedDelaySchedule(std::chrono::milliseconds delay) {
  return std::make_unique<FixedDelaySchedule>(delay);
}

}  // namespace shardjob::schedule
