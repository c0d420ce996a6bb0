// The `isolation` and `isolation_limits` keys: parsing, errors naming file, line and key, and the
// registry's JSON round trip.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/byte_size.h"
#include "config/config.h"
#include "config/duration.h"
#include "config/job_config_json.h"

namespace shardjob::config {
namespace {

using ::testing::HasSubstr;

Config Parse(const std::string& job_lines) {
  return ParseConfig("jobs:\n  - name: j\n    class: SOME_JOB\n" + job_lines, "test.yaml");
}

std::string ErrorOf(const std::string& job_lines) {
  try {
    Parse(job_lines);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(IsolationConfigTest, DefaultsToNone) {
  const JobConfig job = Parse("").jobs[0];
  EXPECT_EQ(job.isolation, Isolation::kNone);
  EXPECT_EQ(job.isolation_limits, IsolationLimits());
  EXPECT_EQ(job.isolation_limits.kill_grace, std::chrono::milliseconds(2000));
}

TEST(IsolationConfigTest, ReadsProcessAndItsLimits) {
  const JobConfig job = Parse(
                            "    isolation: process\n"
                            "    isolation_limits: {cpu: 10s, memory: 512MiB, wall: 1m, "
                            "kill_grace: 500ms}\n")
                            .jobs[0];
  EXPECT_EQ(job.isolation, Isolation::kProcess);
  EXPECT_EQ(job.isolation_limits.cpu, std::chrono::seconds(10));
  EXPECT_EQ(job.isolation_limits.memory, 512ull << 20);
  EXPECT_EQ(job.isolation_limits.wall, std::chrono::milliseconds(60000));
  EXPECT_EQ(job.isolation_limits.kill_grace, std::chrono::milliseconds(500));

  const JobConfig bare = Parse("    isolation: process\n").jobs[0];
  EXPECT_EQ(bare.isolation_limits, IsolationLimits()) << "no limit unless one is given";
}

TEST(IsolationConfigTest, MistakesNameFileLineAndKey) {
  EXPECT_EQ(ErrorOf("    isolation: proces\n"),
            "test.yaml:4:16: jobs[0].isolation: expected one of none, process, got 'proces'");
  EXPECT_EQ(ErrorOf("    isolation_limits: {wall: 5s}\n"),
            "test.yaml:4:23: jobs[0].isolation_limits: isolation_limits applies only to a job "
            "with isolation: process");
  EXPECT_THAT(ErrorOf("    isolation: process\n    isolation_limits: {memroy: 1GiB}\n"),
              HasSubstr("test.yaml:5:"));
  EXPECT_THAT(ErrorOf("    isolation: process\n    isolation_limits: {memroy: 1GiB}\n"),
              HasSubstr("jobs[0].isolation_limits.memroy: unknown key (did you mean 'memory'?)"));
  EXPECT_THAT(ErrorOf("    isolation: process\n    isolation_limits: {memory: 512MB}\n"),
              HasSubstr("jobs[0].isolation_limits.memory: bad size '512MB': expected <n>KiB, "
                        "<n>MiB or <n>GiB"));
  EXPECT_THAT(ErrorOf("    isolation: process\n    isolation_limits: {memory: 512}\n"),
              HasSubstr("bad size '512'"));
  EXPECT_THAT(ErrorOf("    isolation: process\n    isolation_limits: {cpu: 1500ms}\n"),
              HasSubstr("jobs[0].isolation_limits.cpu: the kernel counts CPU time in whole "
                        "seconds (RLIMIT_CPU), got '1500ms'"));
  EXPECT_THAT(ErrorOf("    isolation: process\n    isolation_limits: {wall: 0s}\n"),
              HasSubstr("jobs[0].isolation_limits.wall: must be greater than 0"));
  EXPECT_THAT(ErrorOf("    isolation: process\n    isolation_limits: {wall: soon}\n"),
              HasSubstr("jobs[0].isolation_limits.wall: bad duration 'soon'"));
  EXPECT_THAT(ErrorOf("    isolation: process\n    isolation_limits: 5s\n"),
              HasSubstr("jobs[0].isolation_limits: expected a map"));
}

TEST(IsolationConfigTest, TheRegistryCopyKeepsIsolationAndLimits) {
  const JobConfig job = Parse(
                            "    isolation: process\n"
                            "    isolation_limits: {cpu: 2m, memory: 1536KiB, wall: 1500ms}\n")
                            .jobs[0];
  const JobConfig copy = JobConfigFromJson(JobConfigToJson(job), "registry");
  EXPECT_EQ(copy.isolation, Isolation::kProcess);
  EXPECT_EQ(copy.isolation_limits, job.isolation_limits);
  EXPECT_EQ(JobConfigToJson(copy), JobConfigToJson(job));

  const JobConfig plain = Parse("").jobs[0];
  EXPECT_EQ(JobConfigFromJson(JobConfigToJson(plain), "registry").isolation, Isolation::kNone);
}

TEST(IsolationConfigTest, SizesAndDurationsReadAndPrint) {
  EXPECT_EQ(internal::ParseByteSize("1KiB"), 1024u);
  EXPECT_EQ(internal::ParseByteSize("3GiB"), 3ull << 30);
  EXPECT_THROW(internal::ParseByteSize("-1MiB"), std::invalid_argument);
  EXPECT_THROW(internal::ParseByteSize("1.5GiB"), std::invalid_argument);
  EXPECT_THROW(internal::ParseByteSize("99999999999999999999GiB"), std::invalid_argument);
  EXPECT_EQ(internal::FormatByteSize(512ull << 20), "512MiB");
  EXPECT_EQ(internal::FormatByteSize(1536ull << 10), "1536KiB");
  EXPECT_EQ(internal::FormatByteSize(2ull << 30), "2GiB");
  EXPECT_EQ(internal::FormatByteSize(100), "100B");
  EXPECT_EQ(internal::FormatDuration(std::chrono::milliseconds(5000)), "5s");
  EXPECT_EQ(internal::FormatDuration(std::chrono::milliseconds(1500)), "1500ms");
  EXPECT_EQ(internal::FormatDuration(std::chrono::milliseconds(120000)), "2m");
  EXPECT_EQ(internal::FormatDuration(std::chrono::milliseconds(0)), "0ms");
}

}  // namespace
}  // namespace shardjob::config
