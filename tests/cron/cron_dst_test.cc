// Daylight saving transitions. The rule under test (see cron_expression.h): a skipped wall time
// fires at the same distance past the transition, a repeated wall time fires once at its first
// occurrence, and fires never repeat an instant or go backwards.

#include <chrono>
#include <optional>
#include <string>
#include <tuple>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cron/cron_expression.h"
#include "fire_sequence.h"

namespace shardjob::cron {
namespace {

using test::At;
using test::Fires;
using ::testing::ElementsAre;

// New York, 2024: 02:00 EST -> 03:00 EDT on 10 March, 02:00 EDT -> 01:00 EST on 3 November.
TEST(CronDstTest, NewYorkDailySkippedTimeFiresAnHourLater) {
  EXPECT_THAT(Fires("0 30 2 * * ?", "America/New_York", "2024-03-08 12:00:00 -05:00", 3),
              ElementsAre("2024-03-09 02:30:00 -05:00", "2024-03-10 03:30:00 -04:00",
                          "2024-03-11 02:30:00 -04:00"));
}

TEST(CronDstTest, NewYorkDailyRepeatedTimeFiresOnceAtFirstOccurrence) {
  EXPECT_THAT(Fires("0 30 1 * * ?", "America/New_York", "2024-11-02 12:00:00 -04:00", 3),
              ElementsAre("2024-11-03 01:30:00 -04:00", "2024-11-04 01:30:00 -05:00",
                          "2024-11-05 01:30:00 -05:00"));
  // 02:30 is not repeated in New York: it happens once, after the repeated hour.
  EXPECT_THAT(Fires("0 30 2 * * ?", "America/New_York", "2024-11-02 12:00:00 -04:00", 2),
              ElementsAre("2024-11-03 02:30:00 -05:00", "2024-11-04 02:30:00 -05:00"));
}

TEST(CronDstTest, NewYorkEveryQuarterHourAcrossSpringForward) {
  EXPECT_THAT(Fires("0 0/15 * * * ?", "America/New_York", "2024-03-10 01:20:00 -05:00", 5),
              ElementsAre("2024-03-10 01:30:00 -05:00", "2024-03-10 01:45:00 -05:00",
                          "2024-03-10 03:00:00 -04:00", "2024-03-10 03:15:00 -04:00",
                          "2024-03-10 03:30:00 -04:00"));
}

TEST(CronDstTest, NewYorkEveryQuarterHourAcrossFallBack) {
  EXPECT_THAT(Fires("0 0/15 * * * ?", "America/New_York", "2024-11-03 00:50:00 -04:00", 6),
              ElementsAre("2024-11-03 01:00:00 -04:00", "2024-11-03 01:15:00 -04:00",
                          "2024-11-03 01:30:00 -04:00", "2024-11-03 01:45:00 -04:00",
                          "2024-11-03 02:00:00 -05:00", "2024-11-03 02:15:00 -05:00"));
}

TEST(CronDstTest, AskedDuringTheSecondPassWaitsUntilTheRepeatedHourEnds) {
  EXPECT_THAT(Fires("0 0/15 * * * ?", "America/New_York", "2024-11-03 01:10:00 -05:00", 2),
              ElementsAre("2024-11-03 02:00:00 -05:00", "2024-11-03 02:15:00 -05:00"));
  EXPECT_THAT(Fires("0 30 1 * * ?", "America/New_York", "2024-11-03 01:10:00 -05:00", 1),
              ElementsAre("2024-11-04 01:30:00 -05:00"));
}

TEST(CronDstTest, EverySecondAcrossBothTransitions) {
  EXPECT_THAT(Fires("* * * * * ?", "America/New_York", "2024-03-10 01:59:58 -05:00", 3),
              ElementsAre("2024-03-10 01:59:59 -05:00", "2024-03-10 03:00:00 -04:00",
                          "2024-03-10 03:00:01 -04:00"));
  EXPECT_THAT(Fires("* * * * * ?", "America/New_York", "2024-11-03 01:59:58 -04:00", 3),
              ElementsAre("2024-11-03 01:59:59 -04:00", "2024-11-03 02:00:00 -05:00",
                          "2024-11-03 02:00:01 -05:00"));
  EXPECT_THAT(Fires("* * * * * ?", "America/New_York", "2024-11-03 01:00:00 -05:00", 1),
              ElementsAre("2024-11-03 02:00:00 -05:00"));
}

// Berlin, 2024: 02:00 CET -> 03:00 CEST on 31 March, 03:00 CEST -> 02:00 CET on 27 October, so
// here it is 02:30 that repeats.
TEST(CronDstTest, BerlinDailyAcrossSpringForward) {
  EXPECT_THAT(Fires("0 30 2 * * ?", "Europe/Berlin", "2024-03-29 12:00:00 +01:00", 3),
              ElementsAre("2024-03-30 02:30:00 +01:00", "2024-03-31 03:30:00 +02:00",
                          "2024-04-01 02:30:00 +02:00"));
}

TEST(CronDstTest, BerlinDailyAcrossFallBack) {
  EXPECT_THAT(Fires("0 30 2 * * ?", "Europe/Berlin", "2024-10-25 12:00:00 +02:00", 3),
              ElementsAre("2024-10-26 02:30:00 +02:00", "2024-10-27 02:30:00 +02:00",
                          "2024-10-28 02:30:00 +01:00"));
}

TEST(CronDstTest, BerlinEveryQuarterHourInTheTransitionHours) {
  EXPECT_THAT(Fires("0 */15 * * * ?", "Europe/Berlin", "2024-03-31 01:40:00 +01:00", 3),
              ElementsAre("2024-03-31 01:45:00 +01:00", "2024-03-31 03:00:00 +02:00",
                          "2024-03-31 03:15:00 +02:00"));
  EXPECT_THAT(Fires("0 */15 * * * ?", "Europe/Berlin", "2024-10-27 01:50:00 +02:00", 6),
              ElementsAre("2024-10-27 02:00:00 +02:00", "2024-10-27 02:15:00 +02:00",
                          "2024-10-27 02:30:00 +02:00", "2024-10-27 02:45:00 +02:00",
                          "2024-10-27 03:00:00 +01:00", "2024-10-27 03:15:00 +01:00"));
}

TEST(CronDstTest, BerlinHourlyJobInTheTransitionHours) {
  EXPECT_THAT(Fires("0 0 * * * ?", "Europe/Berlin", "2024-03-31 00:30:00 +01:00", 3),
              ElementsAre("2024-03-31 01:00:00 +01:00", "2024-03-31 03:00:00 +02:00",
                          "2024-03-31 04:00:00 +02:00"));
  EXPECT_THAT(Fires("0 0 * * * ?", "Europe/Berlin", "2024-10-27 00:30:00 +02:00", 4),
              ElementsAre("2024-10-27 01:00:00 +02:00", "2024-10-27 02:00:00 +02:00",
                          "2024-10-27 03:00:00 +01:00", "2024-10-27 04:00:00 +01:00"));
}

// Sydney, 2024 (southern hemisphere): 03:00 AEDT -> 02:00 AEST on 7 April, 02:00 AEST -> 03:00
// AEDT on 6 October.
TEST(CronDstTest, SydneyDailyAcrossBothTransitions) {
  EXPECT_THAT(Fires("0 30 2 * * ?", "Australia/Sydney", "2024-04-05 12:00:00 +11:00", 3),
              ElementsAre("2024-04-06 02:30:00 +11:00", "2024-04-07 02:30:00 +11:00",
                          "2024-04-08 02:30:00 +10:00"));
  EXPECT_THAT(Fires("0 30 2 * * ?", "Australia/Sydney", "2024-10-04 12:00:00 +10:00", 3),
              ElementsAre("2024-10-05 02:30:00 +10:00", "2024-10-06 03:30:00 +11:00",
                          "2024-10-07 02:30:00 +11:00"));
}

TEST(CronDstTest, SydneyEveryQuarterHourAcrossSpringForward) {
  EXPECT_THAT(Fires("0 0/15 * * * ?", "Australia/Sydney", "2024-10-06 01:40:00 +10:00", 3),
              ElementsAre("2024-10-06 01:45:00 +10:00", "2024-10-06 03:00:00 +11:00",
                          "2024-10-06 03:15:00 +11:00"));
}

// Lord Howe shifts by 30 minutes: 02:00 +10:30 -> 02:30 +11:00 on 6 October 2024, 02:00 +11:00 ->
// 01:30 +10:30 on 7 April 2024.
TEST(CronDstTest, HalfHourShiftMovesSkippedTimesByHalfAnHour) {
  EXPECT_THAT(Fires("0 15 2 * * ?", "Australia/Lord_Howe", "2024-10-05 12:00:00 +10:30", 2),
              ElementsAre("2024-10-06 02:45:00 +11:00", "2024-10-07 02:15:00 +11:00"));
  EXPECT_THAT(Fires("0 45 1 * * ?", "Australia/Lord_Howe", "2024-04-06 12:00:00 +11:00", 2),
              ElementsAre("2024-04-07 01:45:00 +11:00", "2024-04-08 01:45:00 +10:30"));
}

TEST(CronDstTest, ShiftedTimeFiresAfterARealTimeItNowFollows) {
  // 02:15 is skipped and shifts to 02:45, behind 02:40, which really happens: both fire, in
  // instant order.
  EXPECT_THAT(Fires("0 15,40 2 * * ?", "Australia/Lord_Howe", "2024-10-05 12:00:00 +10:30", 4),
              ElementsAre("2024-10-06 02:40:00 +11:00", "2024-10-06 02:45:00 +11:00",
                          "2024-10-07 02:15:00 +11:00", "2024-10-07 02:40:00 +11:00"));
}

TEST(CronDstTest, AskedJustAfterTheGapStillFindsTheShiftedFire) {
  // The answer does not depend on where between two fires the question is asked.
  EXPECT_THAT(Fires("0 30 2 * * ?", "America/New_York", "2024-03-10 03:10:00 -04:00", 2),
              ElementsAre("2024-03-10 03:30:00 -04:00", "2024-03-11 02:30:00 -04:00"));
  EXPECT_THAT(Fires("0 30 2 * * ?", "America/New_York", "2024-03-10 03:30:00 -04:00", 1),
              ElementsAre("2024-03-11 02:30:00 -04:00"));
  EXPECT_THAT(Fires("0 15 2 * * ?", "Australia/Lord_Howe", "2024-10-06 02:30:00 +11:00", 1),
              ElementsAre("2024-10-06 02:45:00 +11:00"));
}

TEST(CronDstTest, SkippedDayCollapsesOntoTheNextOne) {
  // Samoa jumped from -10:00 to +14:00 at the end of 29 December 2011: the 30th never happened.
  // Its noon lands on the 31st's noon, which fires only once.
  EXPECT_THAT(Fires("0 0 12 * * ?", "Pacific/Apia", "2011-12-29 00:00:00 -10:00", 3),
              ElementsAre("2011-12-29 12:00:00 -10:00", "2011-12-31 12:00:00 +14:00",
                          "2012-01-01 12:00:00 +14:00"));
}

// Over a whole year, fires are strictly increasing and a wall-clock hour fires once whatever the
// transitions do; the spring-forward 02:00 merges into 03:00.
class CronDstYearTest : public ::testing::TestWithParam<std::tuple<const char*, int>> {};

TEST_P(CronDstYearTest, HourlyFiresAreIncreasingAndCountWallClockHours) {
  const auto& [zone_name, expected] = GetParam();
  const cctz::time_zone zone = LoadTimeZone(zone_name);
  const CronExpression hourly = CronExpression::Parse("0 0 * * * ?");
  const cctz::civil_second first(2024, 1, 1, 0, 0, 0);
  const cctz::civil_second end(2025, 1, 1, 0, 0, 0);
  std::chrono::system_clock::time_point after =
      cctz::convert(first, zone) - std::chrono::seconds(1);
  int fires = 0;
  while (true) {
    const std::optional<Seconds> next = hourly.NextAfter(after, zone);
    ASSERT_TRUE(next.has_value());
    ASSERT_GT(*next, after);
    if (cctz::convert(*next, zone) >= end) break;
    ++fires;
    after = *next;
  }
  EXPECT_EQ(fires, expected);
}

INSTANTIATE_TEST_SUITE_P(Zones, CronDstYearTest,
                         ::testing::Values(std::make_tuple("UTC", 366 * 24),
                                           std::make_tuple("America/New_York", 366 * 24 - 1),
                                           std::make_tuple("Europe/Berlin", 366 * 24 - 1),
                                           std::make_tuple("Australia/Sydney", 366 * 24 - 1),
                                           std::make_tuple("GMT+08:00", 366 * 24)));

}  // namespace
}  // namespace shardjob::cron
