// Cron: parsing a Quartz expression (done once per job, when its config is read or changed) and
// computing the next fire after an instant (done by the scheduler after every fire of every cron
// job, so this is the figure that scales with jobs x fires).

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "cron/cron_expression.h"

namespace {

using shardjob::cron::CronExpression;
using shardjob::cron::LoadTimeZone;

// The expressions under test, from the cheapest search to ones that make NextAfter skip a lot.
constexpr const char* kEverySecond = "0/1 * * * * ?";
constexpr const char* kOfficeHoursEveryFiveMinutes = "0 0/5 9-17 ? * MON-FRI";
constexpr const char* kLastDayOfMonth = "0 15 10 L * ?";
// A daily 02:30: in America/New_York it is skipped on the spring-forward night, the case that
// takes the DST rule's extra work (cron_expression.h).
constexpr const char* kDailyAtTwoThirty = "0 30 2 * * ?";

void BM_CronParse(benchmark::State& state, const char* expression) {
  for (auto _ : state) {
    CronExpression parsed = CronExpression::Parse(expression);
    benchmark::DoNotOptimize(parsed);
  }
}
BENCHMARK_CAPTURE(BM_CronParse, every_second, kEverySecond);
BENCHMARK_CAPTURE(BM_CronParse, office_hours_every_5_min, kOfficeHoursEveryFiveMinutes);
BENCHMARK_CAPTURE(BM_CronParse, last_day_of_month, kLastDayOfMonth);

// 4096 pseudo-random whole seconds in [from, to) (epoch seconds), from a fixed seed, so every run
// asks the same questions. Asking from one fixed instant would let the branch predictor and
// caches learn a single path; the scheduler asks from "now", which lands anywhere.
std::vector<std::chrono::system_clock::time_point> RandomInstants(std::int64_t from,
                                                                  std::int64_t to,
                                                                  std::uint64_t seed) {
  std::mt19937_64 random(seed);
  std::uniform_int_distribution<std::int64_t> second(from, to - 1);
  std::vector<std::chrono::system_clock::time_point> instants(4096);
  for (auto& instant : instants) {
    instant = std::chrono::system_clock::time_point(std::chrono::seconds(second(random)));
  }
  return instants;
}

// Anywhere in 2025: 2025-01-01T00:00:00Z to 2026-01-01T00:00:00Z.
std::vector<std::chrono::system_clock::time_point> InstantsIn2025() {
  return RandomInstants(1735689600, 1767225600, 20250101);
}

// The evening before America/New_York's spring-forward (2025-03-09, 02:00 EST -> 03:00 EDT):
// from 2025-03-08T22:00 EST (03:00Z) to just before 02:00 EST (07:00Z), so every call crosses
// the gap.
std::vector<std::chrono::system_clock::time_point> InstantsBeforeSpringForward() {
  return RandomInstants(1741489200, 1741503600, 20250309);
}

void RunNextFire(benchmark::State& state, const char* expression, const char* zone_name,
                 const std::vector<std::chrono::system_clock::time_point>& instants) {
  const CronExpression cron = CronExpression::Parse(expression);
  // Loaded once, as the kernel does per job: the zone lookup is not part of a next-fire.
  const cctz::time_zone zone = LoadTimeZone(zone_name);
  if (!cron.NextAfter(instants.front(), zone)) {
    state.SkipWithError("the expression never fires: the benchmark would measure nothing");
    return;
  }
  std::size_t next = 0;
  for (auto _ : state) {
    std::optional<shardjob::cron::Seconds> fire = cron.NextAfter(instants[next], zone);
    benchmark::DoNotOptimize(fire);
    if (++next == instants.size()) next = 0;
  }
}

void BM_CronNextFire(benchmark::State& state, const char* expression, const char* zone_name) {
  static const std::vector<std::chrono::system_clock::time_point> instants = InstantsIn2025();
  RunNextFire(state, expression, zone_name, instants);
}
BENCHMARK_CAPTURE(BM_CronNextFire, every_second_utc, kEverySecond, "UTC");
BENCHMARK_CAPTURE(BM_CronNextFire, office_hours_every_5_min_utc, kOfficeHoursEveryFiveMinutes,
                  "UTC");
BENCHMARK_CAPTURE(BM_CronNextFire, last_day_of_month_utc, kLastDayOfMonth, "UTC");
BENCHMARK_CAPTURE(BM_CronNextFire, office_hours_every_5_min_new_york, kOfficeHoursEveryFiveMinutes,
                  "America/New_York");

void BM_CronNextFireAcrossSpringForward(benchmark::State& state, const char* expression,
                                        const char* zone_name) {
  static const std::vector<std::chrono::system_clock::time_point> instants =
      InstantsBeforeSpringForward();
  RunNextFire(state, expression, zone_name, instants);
}
BENCHMARK_CAPTURE(BM_CronNextFireAcrossSpringForward, daily_0230_new_york, kDailyAtTwoThirty,
                  "America/New_York");

}  // namespace
