// Unit tests of the parts of `shardjob ctl` that need no cluster: job files, tables, times.

#include <stdlib.h>
#include <time.h>

#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/job_file.h"
#include "cli/table_printer.h"

namespace shardjob::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string ErrorOf(const std::string& text, const std::string& default_name = std::string()) {
  try {
    ParseJobFile(text, "jobs/x.yaml", default_name);
  } catch (const JobFileError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(JobFileTest, ReadsAYamlJobIntoItsKeys) {
  JobFile file = ParseJobFile(
      "# comment\nname: a\ntype: SCRIPT\nsharding_total_count: 2\n"
      "props:\n  script.command.line: echo $1\n",
      "jobs/x.yaml");
  EXPECT_EQ(file.job.name, "a");
  EXPECT_EQ(file.job.location.ToString(), "jobs/x.yaml:2:1");
  EXPECT_EQ(file.json["name"], "a");
  EXPECT_EQ(file.json["sharding_total_count"], 2);
  EXPECT_EQ(file.json["props"]["script.command.line"], "echo $1");  // literal, not "$$1"
}

TEST(JobFileTest, ErrorsNameTheFileLineColumnAndKey) {
  EXPECT_THAT(ErrorOf("name: a\ntype: SCRIPT\ncron: \"0 0 25 * * ?\"\n"),
              StartsWith("jobs/x.yaml:3:7: cron: "));
  EXPECT_THAT(ErrorOf("name: a\ntype: SCRIPT\nfoo: 1\n"),
              StartsWith("jobs/x.yaml:3:1: foo: unknown key"));
  EXPECT_THAT(ErrorOf("type: SCRIPT\n"), HasSubstr("name"));
  EXPECT_THAT(ErrorOf("name: a\ntype: [SCRIPT\n"), HasSubstr("invalid YAML"));
  EXPECT_THAT(ErrorOf(""), HasSubstr("empty"));
  EXPECT_THAT(ErrorOf("- name: a\n"), HasSubstr("found a list"));
  EXPECT_THAT(ErrorOf("jobs:\n  - name: a\n"), HasSubstr("config file"));
  EXPECT_THAT(ErrorOf("name: a\n---\nname: b\n"), HasSubstr("several YAML documents"));
}

TEST(JobFileTest, TakesTheDefaultNameWithoutMovingPositions) {
  // Block style: the name is a line of its own before the file's.
  EXPECT_THAT(ErrorOf("type: SCRIPT\nbogus: 1\n", "a"), StartsWith("jobs/x.yaml:2:1: bogus:"));
  JobFile block = ParseJobFile("---\ntype: SCRIPT\n", "jobs/x.yaml", "a");
  EXPECT_EQ(block.job.name, "a");
  // Flow style (JSON): inserted after the '{'.
  JobFile flow = ParseJobFile("{\"type\": \"SCRIPT\"}", "jobs/x.json", "a");
  EXPECT_EQ(flow.job.name, "a");
  EXPECT_THAT(ErrorOf("{\"type\": \"SCRIPT\",\n \"bogus\": 1}", "a"),
              StartsWith("jobs/x.yaml:2:2: bogus:"));
  EXPECT_THAT(ErrorOf("name: b\ntype: SCRIPT\n", "a"), HasSubstr("job 'b', not 'a'"));
}

TEST(TableTest, AlignsColumnsAndFillsEmptyCells) {
  Table table({"JOB", "STATUS", "LEADER"});
  table.AddRow({"nightly", "OK", "host-a"});
  table.AddRow({"x", "CRASHED", ""});
  std::ostringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(),
            "JOB      STATUS   LEADER\n"
            "nightly  OK       host-a\n"
            "x        CRASHED  -\n");
}

class TimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = getenv("TZ");
    saved_ = tz == nullptr ? "" : tz;
    had_ = tz != nullptr;
    setenv("TZ", "Europe/Paris", 1);
    tzset();
  }
  void TearDown() override {
    if (had_) {
      setenv("TZ", saved_.c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }
  std::string saved_;
  bool had_ = false;
};

TEST_F(TimeTest, FormatsLocalRfc3339) {
  EXPECT_EQ(FormatLocalTime(1795345200000), "2026-11-22T12:00:00+01:00");
  EXPECT_EQ(FormatLocalTime(1795345200123), "2026-11-22T12:00:00.123+01:00");
  EXPECT_EQ(FormatLocalTime(0), "-");
}

TEST_F(TimeTest, ParsesTheTimesTheCommandLineTakes) {
  const std::int64_t now = 1795345200000;  // 2026-11-22T11:00:00Z
  EXPECT_EQ(ParseTime("2026-11-22T11:00:00Z", now), now);
  EXPECT_EQ(ParseTime("2026-11-22T12:00:00+01:00", now), now);
  EXPECT_EQ(ParseTime("2026-11-22 12:00:00", now), now);  // local
  EXPECT_EQ(ParseTime("2026-11-22T11:00:00.250Z", now), now + 250);
  EXPECT_EQ(ParseTime("2026-11-22", now), now - 12 * 3600000);  // local midnight
  EXPECT_EQ(ParseTime("1795345200000", now), now);
  EXPECT_EQ(ParseTime("15m", now), now - 15 * 60000);
  EXPECT_EQ(ParseTime("2d", now), now - 2 * 86400000);
  EXPECT_FALSE(ParseTime("yesterday", now));
  EXPECT_FALSE(ParseTime("2026-13-01", now));
  EXPECT_FALSE(ParseTime("2026-11-22Z", now));
}

TEST(DurationTest, IsShortAndReadable) {
  EXPECT_EQ(FormatDuration(250), "250ms");
  EXPECT_EQ(FormatDuration(1500), "1.5s");
  EXPECT_EQ(FormatDuration(192000), "3m12s");
  EXPECT_EQ(FormatDuration(7500000), "2h05m");
}

}  // namespace
}  // namespace shardjob::cli
