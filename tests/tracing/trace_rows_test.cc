// How events become rows (tracers/rdb): text made to fit its column, times in UTC.

#include "tracers/rdb/trace_rows.h"

#include <string>

#include <gtest/gtest.h>

#include "tracing/trace_events.h"

namespace shardjob::tracers::rdb {
namespace {

TEST(TraceRowsTest, FitTextKeepsValidUtf8AndCutsByCharacters) {
  EXPECT_EQ(FitText("hello", 10), "hello");
  EXPECT_EQ(FitText("hello", 3), "hel");
  // "ä€😀": 2-, 3- and 4-byte characters count as one each, and are never cut in the middle.
  EXPECT_EQ(FitText("\xC3\xA4\xE2\x82\xAC\xF0\x9F\x98\x80!", 3),
            "\xC3\xA4\xE2\x82\xAC\xF0\x9F\x98\x80");
  EXPECT_EQ(FitText("\xC3\xA4\xE2\x82\xAC", 1), "\xC3\xA4");
  EXPECT_EQ(FitText("", 4000), "");
}

TEST(TraceRowsTest, FitTextReplacesWhatPostgresqlWouldRefuse) {
  const std::string replacement = "\xEF\xBF\xBD";
  EXPECT_EQ(FitText(std::string("a\0b", 3), 10), "a" + replacement + "b");
  EXPECT_EQ(FitText("a\xFF"
                    "b",
                    10),
            "a" + replacement + "b");
  // A truncated sequence, an overlong '/', a UTF-16 surrogate, past U+10FFFF.
  EXPECT_EQ(FitText("\xE2\x82", 10), replacement + replacement);
  EXPECT_EQ(FitText("\xC0\xAF", 10), replacement + replacement);
  EXPECT_EQ(FitText("\xED\xA0\x80", 10), replacement + replacement + replacement);
  EXPECT_EQ(FitText("\xF4\x90\x80\x80", 1), replacement);
}

TEST(TraceRowsTest, TimestampsAreUtcWithMilliseconds) {
  EXPECT_EQ(FormatUtcTimestamp(testing::kStartMs), "2024-03-01 12:00:00.250");
  EXPECT_EQ(FormatUtcTimestamp(1), "1970-01-01 00:00:00.001");
  EXPECT_EQ(FormatUtcTimestamp(-1), "1969-12-31 23:59:59.999");
}

TEST(TraceRowsTest, StartCompletionAndStatusPickTheirStatements) {
  auto start = testing::TaskStart("e1");
  TraceRow start_row = ToRow(spi::TraceEvent(start));
  EXPECT_EQ(start_row.statement, RowStatement::kInsertExecution);
  ASSERT_EQ(start_row.values.size(), ExecutionLogTable().columns.size());
  EXPECT_FALSE(start_row.values[10].has_value());  // complete_time

  auto end = testing::TaskEnd(start, true);
  TraceRow end_row = ToRow(spi::TraceEvent(end));
  EXPECT_EQ(end_row.statement, RowStatement::kUpsertExecution);
  EXPECT_EQ(end_row.values[8], "1");                         // is_success
  EXPECT_FALSE(end_row.values[7].has_value());               // no failure_cause
  EXPECT_EQ(end_row.values[10], "2024-03-01 12:00:01.750");  // complete_time

  TraceRow status_row = ToRow(spi::TraceEvent(testing::FireStatus("s1", spi::TaskState::kError)));
  EXPECT_EQ(status_row.statement, RowStatement::kInsertStatus);
  ASSERT_EQ(status_row.values.size(), StatusTraceLogTable().columns.size());
  EXPECT_EQ(status_row.values[7], "TASK_ERROR");
}

}  // namespace
}  // namespace shardjob::tracers::rdb
