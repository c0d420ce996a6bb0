#include "cron/cron_expression.h"

#include <chrono>
#include <ostream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fire_sequence.h"

namespace shardjob::cron {
namespace {

using test::At;
using test::Fires;
using test::Show;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(CronParseTest, KeepsTheExpressionText) {
  EXPECT_EQ(CronExpression::Parse("0/5 * * * * ?").text(), "0/5 * * * * ?");
}

TEST(CronParseTest, AcceptsSixOrSevenFieldsSeparatedByAnyWhitespace) {
  EXPECT_NO_THROW(CronExpression::Parse("0 0 12 * * ?"));
  EXPECT_NO_THROW(CronExpression::Parse("0 0 12 * * ? 2030"));
  EXPECT_NO_THROW(CronExpression::Parse("  0\t0  12 * * ?\n"));
}

TEST(CronNextTest, ElasticJobEverySecond) {
  EXPECT_THAT(Fires("0/1 * * * * ?", "UTC", "2024-05-01 23:59:58 +00:00", 3),
              ElementsAre("2024-05-01 23:59:59 +00:00", "2024-05-02 00:00:00 +00:00",
                          "2024-05-02 00:00:01 +00:00"));
}

TEST(CronNextTest, IsStrictlyAfterAndRoundsSubSecondsUp) {
  const CronExpression cron = CronExpression::Parse("* * * * * ?");
  const cctz::time_zone utc = cctz::utc_time_zone();
  const Seconds ten = At("2024-05-01 10:00:00 +00:00");
  EXPECT_EQ(cron.NextAfter(ten, utc), ten + std::chrono::seconds(1));
  EXPECT_EQ(cron.NextAfter(ten - std::chrono::milliseconds(1), utc), ten);
  EXPECT_EQ(cron.NextAfter(ten + std::chrono::milliseconds(500), utc),
            ten + std::chrono::seconds(1));
  EXPECT_EQ(cron.NextAfter(ten + std::chrono::nanoseconds(999'999'999), utc),
            ten + std::chrono::seconds(1));
}

TEST(CronNextTest, SecondStepsFromAValue) {
  EXPECT_THAT(Fires("0/15 * * * * ?", "UTC", "2024-05-01 10:00:00 +00:00", 5),
              ElementsAre("2024-05-01 10:00:15 +00:00", "2024-05-01 10:00:30 +00:00",
                          "2024-05-01 10:00:45 +00:00", "2024-05-01 10:01:00 +00:00",
                          "2024-05-01 10:01:15 +00:00"));
  EXPECT_THAT(Fires("7/20 * * * * ?", "UTC", "2024-05-01 10:00:00 +00:00", 4),
              ElementsAre("2024-05-01 10:00:07 +00:00", "2024-05-01 10:00:27 +00:00",
                          "2024-05-01 10:00:47 +00:00", "2024-05-01 10:01:07 +00:00"));
}

TEST(CronNextTest, StarStepEqualsZeroStep) {
  EXPECT_EQ(Fires("0 */15 * * * ?", "UTC", "2024-05-01 10:50:00 +00:00", 4),
            Fires("0 0/15 * * * ?", "UTC", "2024-05-01 10:50:00 +00:00", 4));
  EXPECT_THAT(Fires("0 */15 * * * ?", "UTC", "2024-05-01 10:50:00 +00:00", 2),
              ElementsAre("2024-05-01 11:00:00 +00:00", "2024-05-01 11:15:00 +00:00"));
}

TEST(CronNextTest, RangeWithStep) {
  EXPECT_THAT(Fires("0 10-40/10 * * * ?", "UTC", "2024-05-01 10:00:00 +00:00", 5),
              ElementsAre("2024-05-01 10:10:00 +00:00", "2024-05-01 10:20:00 +00:00",
                          "2024-05-01 10:30:00 +00:00", "2024-05-01 10:40:00 +00:00",
                          "2024-05-01 11:10:00 +00:00"));
}

TEST(CronNextTest, HourStepRunsToTheEndOfTheDay) {
  EXPECT_THAT(Fires("0 0 5/6 * * ?", "UTC", "2024-05-01 00:00:00 +00:00", 5),
              ElementsAre("2024-05-01 05:00:00 +00:00", "2024-05-01 11:00:00 +00:00",
                          "2024-05-01 17:00:00 +00:00", "2024-05-01 23:00:00 +00:00",
                          "2024-05-02 05:00:00 +00:00"));
}

TEST(CronNextTest, ListsAndRanges) {
  EXPECT_THAT(Fires("0 0,30 8,12-13 * * ?", "UTC", "2024-05-01 00:00:00 +00:00", 7),
              ElementsAre("2024-05-01 08:00:00 +00:00", "2024-05-01 08:30:00 +00:00",
                          "2024-05-01 12:00:00 +00:00", "2024-05-01 12:30:00 +00:00",
                          "2024-05-01 13:00:00 +00:00", "2024-05-01 13:30:00 +00:00",
                          "2024-05-02 08:00:00 +00:00"));
}

TEST(CronNextTest, ReversedRangeWrapsLikeQuartz) {
  EXPECT_THAT(Fires("0 0 22-1 * * ?", "UTC", "2024-05-01 12:00:00 +00:00", 5),
              ElementsAre("2024-05-01 22:00:00 +00:00", "2024-05-01 23:00:00 +00:00",
                          "2024-05-02 00:00:00 +00:00", "2024-05-02 01:00:00 +00:00",
                          "2024-05-02 22:00:00 +00:00"));
  // 2024-05-03 is a Friday.
  EXPECT_THAT(Fires("0 0 9 ? * FRI-MON", "UTC", "2024-05-02 12:00:00 +00:00", 5),
              ElementsAre("2024-05-03 09:00:00 +00:00", "2024-05-04 09:00:00 +00:00",
                          "2024-05-05 09:00:00 +00:00", "2024-05-06 09:00:00 +00:00",
                          "2024-05-10 09:00:00 +00:00"));
}

TEST(CronNextTest, MonthNamesAreCaseInsensitive) {
  EXPECT_THAT(Fires("0 0 0 1 jan,Jul ?", "UTC", "2024-03-01 00:00:00 +00:00", 3),
              ElementsAre("2024-07-01 00:00:00 +00:00", "2025-01-01 00:00:00 +00:00",
                          "2025-07-01 00:00:00 +00:00"));
  EXPECT_EQ(Fires("0 0 0 1 MAR-may ?", "UTC", "2024-01-01 00:00:00 +00:00", 4),
            Fires("0 0 0 1 3-5 ?", "UTC", "2024-01-01 00:00:00 +00:00", 4));
}

TEST(CronNextTest, DayNamesAreCaseInsensitiveAndSundayIsOne) {
  // 2024-05-04 is a Saturday.
  EXPECT_THAT(Fires("0 0 12 ? * mon-Fri", "UTC", "2024-05-04 00:00:00 +00:00", 6),
              ElementsAre("2024-05-06 12:00:00 +00:00", "2024-05-07 12:00:00 +00:00",
                          "2024-05-08 12:00:00 +00:00", "2024-05-09 12:00:00 +00:00",
                          "2024-05-10 12:00:00 +00:00", "2024-05-13 12:00:00 +00:00"));
  EXPECT_THAT(Fires("0 0 0 ? * 1", "UTC", "2024-05-01 00:00:00 +00:00", 2),
              ElementsAre("2024-05-05 00:00:00 +00:00", "2024-05-12 00:00:00 +00:00"));
  EXPECT_EQ(Fires("0 0 0 ? * 2-6", "UTC", "2024-05-01 00:00:00 +00:00", 10),
            Fires("0 0 0 ? * MON-FRI", "UTC", "2024-05-01 00:00:00 +00:00", 10));
  EXPECT_EQ(Fires("0 0 0 ? * SAT", "UTC", "2024-05-01 00:00:00 +00:00", 3),
            Fires("0 0 0 ? * 7", "UTC", "2024-05-01 00:00:00 +00:00", 3));
}

TEST(CronNextTest, StarInBothDayFieldsIsEveryDay) {
  EXPECT_THAT(Fires("0 0 0 * * *", "UTC", "2024-02-28 12:00:00 +00:00", 3),
              ElementsAre("2024-02-29 00:00:00 +00:00", "2024-03-01 00:00:00 +00:00",
                          "2024-03-02 00:00:00 +00:00"));
  EXPECT_EQ(Fires("0 0 0 ? * *", "UTC", "2024-02-28 12:00:00 +00:00", 3),
            Fires("0 0 0 * * ?", "UTC", "2024-02-28 12:00:00 +00:00", 3));
}

TEST(CronNextTest, StarInOneDayFieldDefersToTheOther) {
  EXPECT_EQ(Fires("0 0 0 * * MON", "UTC", "2024-05-01 00:00:00 +00:00", 3),
            Fires("0 0 0 ? * MON", "UTC", "2024-05-01 00:00:00 +00:00", 3));
  EXPECT_EQ(Fires("0 0 0 15 * *", "UTC", "2024-05-01 00:00:00 +00:00", 3),
            Fires("0 0 0 15 * ?", "UTC", "2024-05-01 00:00:00 +00:00", 3));
}

TEST(CronNextTest, LastDayOfMonth) {
  EXPECT_THAT(Fires("0 0 0 L * ?", "UTC", "2023-12-31 12:00:00 +00:00", 5),
              ElementsAre("2024-01-31 00:00:00 +00:00", "2024-02-29 00:00:00 +00:00",
                          "2024-03-31 00:00:00 +00:00", "2024-04-30 00:00:00 +00:00",
                          "2024-05-31 00:00:00 +00:00"));
  EXPECT_THAT(Fires("0 0 0 l 2 ?", "UTC", "2023-01-01 00:00:00 +00:00", 2),
              ElementsAre("2023-02-28 00:00:00 +00:00", "2024-02-29 00:00:00 +00:00"));
}

TEST(CronNextTest, DaysBeforeTheLastDay) {
  EXPECT_THAT(Fires("0 0 0 L-3 * ?", "UTC", "2024-01-01 00:00:00 +00:00", 4),
              ElementsAre("2024-01-28 00:00:00 +00:00", "2024-02-26 00:00:00 +00:00",
                          "2024-03-28 00:00:00 +00:00", "2024-04-27 00:00:00 +00:00"));
  // L-30 exists only in 31-day months.
  EXPECT_THAT(Fires("0 0 0 L-30 * ?", "UTC", "2024-01-02 00:00:00 +00:00", 2),
              ElementsAre("2024-03-01 00:00:00 +00:00", "2024-05-01 00:00:00 +00:00"));
}

TEST(CronNextTest, NearestWeekdayToTheFifteenth) {
  // 2024-05-15 is a Wednesday, 2024-06-15 a Saturday, 2024-09-15 a Sunday.
  EXPECT_THAT(Fires("0 0 0 15W * ?", "UTC", "2024-05-01 00:00:00 +00:00", 5),
              ElementsAre("2024-05-15 00:00:00 +00:00", "2024-06-14 00:00:00 +00:00",
                          "2024-07-15 00:00:00 +00:00", "2024-08-15 00:00:00 +00:00",
                          "2024-09-16 00:00:00 +00:00"));
}

TEST(CronNextTest, NearestWeekdayNeverLeavesTheMonth) {
  // 2024-06-01 is a Saturday: the 3rd, not Friday 31 May. 2024-09-01 is a Sunday: the 2nd.
  EXPECT_THAT(Fires("0 0 0 1W 6,9 ?", "UTC", "2024-05-01 00:00:00 +00:00", 2),
              ElementsAre("2024-06-03 00:00:00 +00:00", "2024-09-02 00:00:00 +00:00"));
  // 2024-03-31 is a Sunday: Friday the 29th, not Monday 1 April.
  EXPECT_THAT(Fires("0 0 0 31w 3 ?", "UTC", "2024-01-01 00:00:00 +00:00", 1),
              ElementsAre("2024-03-29 00:00:00 +00:00"));
  // A 31W in a 30-day month has no day to be near.
  EXPECT_THAT(Fires("0 0 0 31W 4 ?", "UTC", "2024-01-01 00:00:00 +00:00", 1), IsEmpty());
}

TEST(CronNextTest, LastWeekdayOfMonth) {
  // 2024-02-29 Thursday, 2024-03-31 Sunday, 2024-08-31 Saturday.
  EXPECT_THAT(Fires("0 0 18 LW 2,3,8 ?", "UTC", "2024-01-01 00:00:00 +00:00", 3),
              ElementsAre("2024-02-29 18:00:00 +00:00", "2024-03-29 18:00:00 +00:00",
                          "2024-08-30 18:00:00 +00:00"));
  // L-1 of March 2024 is Saturday the 30th.
  EXPECT_THAT(Fires("0 0 0 L-1W 3 ?", "UTC", "2024-01-01 00:00:00 +00:00", 1),
              ElementsAre("2024-03-29 00:00:00 +00:00"));
}

TEST(CronNextTest, LastGivenWeekdayOfMonth) {
  EXPECT_THAT(Fires("0 0 0 ? * 6L", "UTC", "2024-01-01 00:00:00 +00:00", 4),
              ElementsAre("2024-01-26 00:00:00 +00:00", "2024-02-23 00:00:00 +00:00",
                          "2024-03-29 00:00:00 +00:00", "2024-04-26 00:00:00 +00:00"));
  EXPECT_EQ(Fires("0 0 0 ? * FRIL", "UTC", "2024-01-01 00:00:00 +00:00", 12),
            Fires("0 0 0 ? * 6L", "UTC", "2024-01-01 00:00:00 +00:00", 12));
}

TEST(CronNextTest, LoneLInDayOfWeekIsSaturday) {
  EXPECT_EQ(Fires("0 0 0 ? * L", "UTC", "2024-01-01 00:00:00 +00:00", 5),
            Fires("0 0 0 ? * SAT", "UTC", "2024-01-01 00:00:00 +00:00", 5));
}

TEST(CronNextTest, NthWeekdayOfMonth) {
  EXPECT_THAT(Fires("0 0 0 ? * 6#3", "UTC", "2024-01-01 00:00:00 +00:00", 3),
              ElementsAre("2024-01-19 00:00:00 +00:00", "2024-02-16 00:00:00 +00:00",
                          "2024-03-15 00:00:00 +00:00"));
  EXPECT_THAT(Fires("0 0 0 ? * mon#1", "UTC", "2023-12-31 00:00:00 +00:00", 3),
              ElementsAre("2024-01-01 00:00:00 +00:00", "2024-02-05 00:00:00 +00:00",
                          "2024-03-04 00:00:00 +00:00"));
}

TEST(CronNextTest, FifthMondaySkipsMonthsWithoutOne) {
  EXPECT_THAT(Fires("0 0 0 ? * 2#5", "UTC", "2024-01-01 00:00:00 +00:00", 4),
              ElementsAre("2024-01-29 00:00:00 +00:00", "2024-04-29 00:00:00 +00:00",
                          "2024-07-29 00:00:00 +00:00", "2024-09-30 00:00:00 +00:00"));
  // A fifth Monday in February needs a leap year starting on a Monday: decades apart, and 2100
  // is no leap year.
  EXPECT_THAT(Fires("0 0 0 ? FEB 2#5", "UTC", "2017-01-01 00:00:00 +00:00", 3),
              ElementsAre("2044-02-29 00:00:00 +00:00", "2072-02-29 00:00:00 +00:00",
                          "2112-02-29 00:00:00 +00:00"));
}

TEST(CronNextTest, SpecialDaysMixInLists) {
  EXPECT_THAT(Fires("0 0 0 1,L * ?", "UTC", "2024-02-01 00:00:00 +00:00", 3),
              ElementsAre("2024-02-29 00:00:00 +00:00", "2024-03-01 00:00:00 +00:00",
                          "2024-03-31 00:00:00 +00:00"));
}

TEST(CronNextTest, LeapDay) {
  EXPECT_THAT(Fires("0 0 0 29 2 ?", "UTC", "2023-01-01 00:00:00 +00:00", 2),
              ElementsAre("2024-02-29 00:00:00 +00:00", "2028-02-29 00:00:00 +00:00"));
  EXPECT_THAT(Fires("0 0 0 29 2 ?", "UTC", "2096-03-01 00:00:00 +00:00", 1),
              ElementsAre("2104-02-29 00:00:00 +00:00"));
}

TEST(CronNextTest, YearField) {
  EXPECT_THAT(Fires("0 0 12 1 1 ? 2030,2032", "UTC", "2024-01-01 00:00:00 +00:00", 5),
              ElementsAre("2030-01-01 12:00:00 +00:00", "2032-01-01 12:00:00 +00:00"));
  EXPECT_THAT(Fires("0 0 0 1 1 ? 2025/5", "UTC", "2024-01-01 00:00:00 +00:00", 3),
              ElementsAre("2025-01-01 00:00:00 +00:00", "2030-01-01 00:00:00 +00:00",
                          "2035-01-01 00:00:00 +00:00"));
  EXPECT_THAT(Fires("0 0 0 1 1 ? 2026-2027", "UTC", "2024-01-01 00:00:00 +00:00", 3),
              ElementsAre("2026-01-01 00:00:00 +00:00", "2027-01-01 00:00:00 +00:00"));
  EXPECT_THAT(Fires("0 0 0 1 1 ? *", "UTC", "2024-01-01 00:00:00 +00:00", 1),
              ElementsAre("2025-01-01 00:00:00 +00:00"));
}

TEST(CronNextTest, NeverFiresAgain) {
  const cctz::time_zone utc = cctz::utc_time_zone();
  const Seconds start = At("2024-01-01 00:00:00 +00:00");
  EXPECT_EQ(CronExpression::Parse("0 0 0 1 1 ? 2020").NextAfter(start, utc), std::nullopt);
  EXPECT_EQ(CronExpression::Parse("0 0 0 30 2 ?").NextAfter(start, utc), std::nullopt);
  EXPECT_EQ(CronExpression::Parse("0 0 0 31 4,6,9,11 ?").NextAfter(start, utc), std::nullopt);
  EXPECT_EQ(CronExpression::Parse("0 0 0 31W 4 ?").NextAfter(start, utc), std::nullopt);
  // Jan 1 2024 was the last one.
  EXPECT_EQ(CronExpression::Parse("0 0 0 1 1 ? 2024").NextAfter(start, utc), std::nullopt);
}

TEST(CronNextTest, SearchStopsAtTheLastYear) {
  EXPECT_THAT(Fires("* * * * * ?", "UTC", "2199-12-31 23:59:58 +00:00", 5),
              ElementsAre("2199-12-31 23:59:59 +00:00"));
  const CronExpression cron = CronExpression::Parse("0 0 0 1 1 ?");
  EXPECT_EQ(cron.NextAfter(At("2250-01-01 00:00:00 +00:00"), cctz::utc_time_zone()), std::nullopt);
  EXPECT_EQ(cron.NextAfter(std::chrono::system_clock::time_point::max(), cctz::utc_time_zone()),
            std::nullopt);
}

TEST(CronNextTest, BeforeTheFirstYearStartsAtIt) {
  EXPECT_THAT(Fires("0 0 0 1 1 ?", "UTC", "1950-06-01 00:00:00 +00:00", 1),
              ElementsAre("1970-01-01 00:00:00 +00:00"));
}

TEST(CronNextTest, SparseExpressionsAreCheap) {
  // Field stepping, not a second-by-second scan: these would take minutes otherwise.
  const CronExpression never = CronExpression::Parse("0 0 0 30 2 ?");
  const CronExpression once = CronExpression::Parse("59 59 23 31 12 ? 2199");
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(never.NextAfter(At("1970-01-01 00:00:00 +00:00"), cctz::utc_time_zone()),
              std::nullopt);
    EXPECT_EQ(once.NextAfter(At("1970-01-01 00:00:00 +00:00"), cctz::utc_time_zone()),
              At("2199-12-31 23:59:59 +00:00"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(CronZoneTest, EvaluatesInTheGivenZone) {
  EXPECT_THAT(Fires("0 0 9 * * ?", "Asia/Shanghai", "2024-05-01 00:00:00 +00:00", 2),
              ElementsAre("2024-05-01 09:00:00 +08:00", "2024-05-02 09:00:00 +08:00"));
  const CronExpression cron = CronExpression::Parse("0 0 9 * * ?");
  EXPECT_EQ(cron.NextAfter(At("2024-05-01 00:00:00 +00:00"), LoadTimeZone("Asia/Shanghai")),
            At("2024-05-01 01:00:00 +00:00"));
}

TEST(CronZoneTest, ElasticJobGmtOffsets) {
  const Seconds start = At("2024-05-01 00:00:00 +00:00");
  const CronExpression nine = CronExpression::Parse("0 0 9 * * ?");
  EXPECT_EQ(nine.NextAfter(start, LoadTimeZone("GMT+08:00")), At("2024-05-01 01:00:00 +00:00"));
  EXPECT_EQ(nine.NextAfter(start, LoadTimeZone("GMT+8")), At("2024-05-01 01:00:00 +00:00"));
  EXPECT_EQ(nine.NextAfter(start, LoadTimeZone("GMT+0800")), At("2024-05-01 01:00:00 +00:00"));
  EXPECT_EQ(nine.NextAfter(start, LoadTimeZone("GMT-5")), At("2024-05-01 14:00:00 +00:00"));
  EXPECT_EQ(nine.NextAfter(start, LoadTimeZone("GMT-05:00")), At("2024-05-01 14:00:00 +00:00"));
  EXPECT_EQ(nine.NextAfter(start, LoadTimeZone("GMT+0530")), At("2024-05-01 03:30:00 +00:00"));
  EXPECT_EQ(nine.NextAfter(start, LoadTimeZone("GMT+5:30")), At("2024-05-01 03:30:00 +00:00"));
  EXPECT_EQ(Show(start, LoadTimeZone("GMT+08:00")), "2024-05-01 08:00:00 +08:00");
}

TEST(CronZoneTest, UtcAndGmt) {
  const Seconds start = At("2024-05-01 00:00:00 +00:00");
  const CronExpression nine = CronExpression::Parse("0 0 9 * * ?");
  EXPECT_EQ(nine.NextAfter(start, LoadTimeZone("UTC")), At("2024-05-01 09:00:00 +00:00"));
  EXPECT_EQ(nine.NextAfter(start, LoadTimeZone("GMT")), At("2024-05-01 09:00:00 +00:00"));
  EXPECT_EQ(nine.NextAfter(start, LoadTimeZone("Etc/UTC")), At("2024-05-01 09:00:00 +00:00"));
}

TEST(CronZoneTest, EmptyNameIsTheLocalZone) {
  EXPECT_EQ(LoadTimeZone(""), cctz::local_time_zone());
}

TEST(CronZoneTest, UnknownZonesThrow) {
  for (const char* name : {"Mars/Olympus_Mons", "Asia/Shanghai ", "utc", "GMT+", "UTC+08:00"}) {
    try {
      LoadTimeZone(name);
      ADD_FAILURE() << "no error for " << name;
    } catch (const CronError& error) {
      EXPECT_THAT(error.what(), HasSubstr("unknown time zone '" + std::string(name) + "'"));
    }
  }
}

TEST(CronZoneTest, MalformedGmtOffsetsThrow) {
  for (const char* name :
       {"GMT+24:00", "GMT+08:60", "GMT+8:0", "GMT+123:00", "GMT+08x", "GMT+12345"}) {
    try {
      LoadTimeZone(name);
      ADD_FAILURE() << "no error for " << name;
    } catch (const CronError& error) {
      EXPECT_THAT(error.what(), HasSubstr("unknown time zone '" + std::string(name) + "'"));
      EXPECT_THAT(error.what(), HasSubstr("GMT+hh:mm"));
    }
  }
}

struct InvalidCase {
  const char* expression;
  const char* message;  // expected inside what(), after "cron '<expression>': "
};

// Readable parameter in failure output instead of a byte dump.
void PrintTo(const InvalidCase& c, std::ostream* os) { *os << "'" << c.expression << "'"; }

class CronInvalidTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(CronInvalidTest, NamesExpressionFieldAndToken) {
  const InvalidCase& c = GetParam();
  try {
    CronExpression::Parse(c.expression);
    FAIL() << "parsed '" << c.expression << "'";
  } catch (const CronError& error) {
    EXPECT_THAT(error.what(), HasSubstr("cron '" + std::string(c.expression) + "': "));
    EXPECT_THAT(error.what(), HasSubstr(c.message));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CronInvalidTest,
    ::testing::Values(
        InvalidCase{"",
                    "expected 6 or 7 fields (seconds minutes hours day-of-month month "
                    "day-of-week [year]), got 0"},
        InvalidCase{"0 0 0 * *", "got 5"}, InvalidCase{"0 0 0 * * ? 2024 1", "got 8"},
        InvalidCase{"60 * * * * ?", "seconds: value 60 out of range 0-59 in '60'"},
        InvalidCase{"0 0-60 * * * ?", "minutes: value 60 out of range 0-59 in '0-60'"},
        InvalidCase{"0 0 25 * * ?", "hours: value 25 out of range 0-23 in '25'"},
        InvalidCase{"0 0 0 32 * ?", "day-of-month: value 32 out of range 1-31 in '32'"},
        InvalidCase{"0 0 0 0 * ?", "day-of-month: value 0 out of range 1-31 in '0'"},
        InvalidCase{"0 0 0 ? 13 *", "month: value 13 out of range 1-12 in '13'"},
        InvalidCase{"0 0 0 ? * 8", "day-of-week: value 8 out of range 1-7 in '8'"},
        InvalidCase{"0 0 0 ? * 0", "day-of-week: value 0 out of range 1-7 in '0'"},
        InvalidCase{"0 0 0 1 1 ? 1969", "year: value 1969 out of range 1970-2199 in '1969'"},
        InvalidCase{"0 0 0 1 1 ? 2200", "year: value 2200 out of range 1970-2199 in '2200'"},
        InvalidCase{"0 0 0 1 1 ? 2030-2020", "year: reversed range 2030-2020 in '2030-2020'"},
        InvalidCase{"0 0 0 ? FOO *", "month: unknown month name 'FOO' in 'FOO'"},
        InvalidCase{"0 0 0 ? JANUARY *", "month: unknown month name 'JANUARY' in 'JANUARY'"},
        InvalidCase{"0 0 0 ? * FUN", "day-of-week: unknown day name 'FUN' in 'FUN'"},
        InvalidCase{"0 0 0 ? * MON-FUN", "day-of-week: unknown day name 'FUN' in 'MON-FUN'"},
        InvalidCase{"0 0 MON * * ?", "hours: invalid value 'MON' in 'MON'"},
        InvalidCase{"abc * * * * ?", "seconds: invalid value 'abc' in 'abc'"},
        InvalidCase{"0 0 0 1 1 ? 2024x", "year: unexpected 'x' in '2024x'"},
        InvalidCase{"0 0 0 10-15W * ?",
                    "day-of-month: 'W' needs a single day, not a range or step in '10-15W'"},
        InvalidCase{"0 0 0 */5W * ?", "day-of-month: 'W' needs a single day"},
        InvalidCase{"0 0 0 W * ?", "day-of-month: invalid value 'W' in 'W'"},
        InvalidCase{"0 0 0 L-31 * ?", "day-of-month: offset 31 out of range 0-30 in 'L-31'"},
        InvalidCase{"0 0 0 LX * ?", "day-of-month: unexpected 'X' in 'LX'"},
        InvalidCase{"0 0 0 L- * ?", "day-of-month: expected an offset after 'L-' in 'L-'"},
        InvalidCase{"0 0 L * * ?", "hours: invalid value 'L' in 'L'"},
        InvalidCase{"0 0 0 ? * 6#6", "day-of-week: occurrence 6 out of range 1-5 in '6#6'"},
        InvalidCase{"0 0 0 ? * 6#0", "day-of-week: occurrence 0 out of range 1-5 in '6#0'"},
        InvalidCase{"0 0 0 ? * MON#", "day-of-week: expected an occurrence after '#'"},
        InvalidCase{"0 0 0 ? * 2-6#2", "day-of-week: '#' needs a single day-of-week"},
        InvalidCase{"0 0 0 ? * 2-6L", "day-of-week: 'L' needs a single day-of-week"},
        InvalidCase{"0 0 0 ? * 6L-1", "day-of-week: unexpected '-1' in '6L-1'"},
        InvalidCase{"0 0 0 15 * MON",
                    "day-of-month '15' and day-of-week 'MON' are both "
                    "specified; one of them must be '?'"},
        InvalidCase{"0 0 0 ? * ?", "day-of-month and day-of-week are both '?'"},
        InvalidCase{"0 0 ? * * *", "hours: '?' is only allowed in day-of-month and day-of-week"},
        InvalidCase{"0 0 0 ?,1 * *", "day-of-month: '?' must be the whole field"},
        InvalidCase{"0 0 1,,2 * * ?", "hours: empty value in '1,,2'"},
        InvalidCase{"0 0 1, * * ?", "hours: empty value in '1,'"},
        InvalidCase{"5- * * * * ?", "seconds: missing value in '5-'"},
        InvalidCase{"/5 * * * * ?", "seconds: invalid value '/5' in '/5'"},
        InvalidCase{"0/0 * * * * ?", "seconds: step 0 out of range 1-60 in '0/0'"},
        InvalidCase{"0/61 * * * * ?", "seconds: step 61 out of range 1-60 in '0/61'"},
        InvalidCase{"0 0 */ * * ?", "hours: expected a step after '/' in '*/'"},
        InvalidCase{"0 0 0 ? * 1/8", "day-of-week: step 8 out of range 1-7 in '1/8'"},
        InvalidCase{"99999999999 * * * * ?", "seconds: number 99999999999 is too large"},
        InvalidCase{"1-2-3 * * * * ?", "seconds: unexpected '-3' in '1-2-3'"},
        InvalidCase{"** * * * * ?", "seconds: unexpected '*' in '**'"}));

}  // namespace
}  // namespace shardjob::cron
