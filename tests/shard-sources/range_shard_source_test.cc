// RANGE, compiled in directly (no dlopen), so that a failure points at the code.

#include "shard-sources/range/range_shard_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace shardjob::shard_sources {
namespace {

using ::testing::HasSubstr;
using Props = std::map<std::string, std::string>;

constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

class NullLogger : public spi::Logger {
 public:
  void Log(spi::LogLevel, std::string_view) override {}
};

std::unique_ptr<RangeShardSource> Make(const Props& values) {
  spi::Properties props(values);
  NullLogger logger;
  return std::make_unique<RangeShardSource>(spi::PluginContext{props, logger, "job"});
}

// The constructor's message, or "" when it accepted the props.
std::string Refusal(const Props& values) {
  try {
    Make(values);
    return "";
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
}

std::vector<spi::ShardSpec> GenerateOrDie(RangeShardSource& source, int count) {
  std::vector<spi::ShardSpec> shards;
  spi::Status status = source.Generate({"job", "1000", count}, &shards);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return shards;
}

// The shards as "[a, b)" labels, each checked against its params.
std::vector<std::string> Labels(const std::vector<spi::ShardSpec>& shards) {
  std::vector<std::string> labels;
  for (const spi::ShardSpec& shard : shards) {
    EXPECT_EQ(shard.params.size(), 2u);
    EXPECT_EQ(shard.label, "[" + shard.params.at("start") + ", " + shard.params.at("end") + ")");
    labels.push_back(shard.label);
  }
  return labels;
}

spi::Status GenerateStatus(RangeShardSource& source, int count) {
  std::vector<spi::ShardSpec> shards;
  return source.Generate({"job", "1000", count}, &shards);
}

TEST(RangeShardSourceTest, IsDeterministic) {
  EXPECT_TRUE(Make({{"range.start", "0"}, {"range.end", "10"}})->Deterministic());
}

TEST(RangeShardSourceTest, SplitsEvenly) {
  auto source = Make({{"range.start", "0"}, {"range.end", "100"}});
  EXPECT_EQ(Labels(GenerateOrDie(*source, 4)),
            (std::vector<std::string>{"[0, 25)", "[25, 50)", "[50, 75)", "[75, 100)"}));
  EXPECT_EQ(GenerateOrDie(*source, 4)[1].params.at("start"), "25");
  EXPECT_EQ(GenerateOrDie(*source, 4)[1].params.at("end"), "50");
}

TEST(RangeShardSourceTest, GivesTheRemainderToTheFirstShards) {
  auto source = Make({{"range.start", "-5"}, {"range.end", "6"}});  // 11 values
  EXPECT_EQ(Labels(GenerateOrDie(*source, 4)),
            (std::vector<std::string>{"[-5, -2)", "[-2, 1)", "[1, 4)", "[4, 6)"}));
}

TEST(RangeShardSourceTest, OneShardPerValueAtMost) {
  auto source = Make({{"range.start", "0"}, {"range.end", "3"}});
  EXPECT_EQ(Labels(GenerateOrDie(*source, 3)),
            (std::vector<std::string>{"[0, 1)", "[1, 2)", "[2, 3)"}));
  spi::Status status = GenerateStatus(*source, 4);
  EXPECT_EQ(status.code(), spi::Status::Code::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("[0, 3) holds 3 values, fewer than the 4 shards"));
  EXPECT_THAT(status.message(), HasSubstr("at most 3"));
}

TEST(RangeShardSourceTest, RefusesANonPositiveCount) {
  auto source = Make({{"range.start", "0"}, {"range.end", "3"}});
  EXPECT_EQ(GenerateStatus(*source, 0).code(), spi::Status::Code::kInvalidArgument);
  EXPECT_EQ(GenerateStatus(*source, -1).code(), spi::Status::Code::kInvalidArgument);
}

TEST(RangeShardSourceTest, PagesWhenThePageCountMatches) {
  auto source = Make({{"range.start", "0"}, {"range.end", "1050"}, {"range.page_size", "100"}});
  std::vector<std::string> labels = Labels(GenerateOrDie(*source, 11));
  ASSERT_EQ(labels.size(), 11u);
  EXPECT_EQ(labels[0], "[0, 100)");
  EXPECT_EQ(labels[9], "[900, 1000)");
  EXPECT_EQ(labels[10], "[1000, 1050)");  // the last page is shorter
}

TEST(RangeShardSourceTest, PagesOfAnExactMultiple) {
  auto source = Make({{"range.start", "10"}, {"range.end", "40"}, {"range.page_size", "10"}});
  EXPECT_EQ(Labels(GenerateOrDie(*source, 3)),
            (std::vector<std::string>{"[10, 20)", "[20, 30)", "[30, 40)"}));
}

TEST(RangeShardSourceTest, SaysWhichCountToSetWhenThePagesDoNotMatch) {
  auto source = Make({{"range.start", "0"}, {"range.end", "1050"}, {"range.page_size", "100"}});
  for (int count : {10, 12}) {
    spi::Status status = GenerateStatus(*source, count);
    EXPECT_EQ(status.code(), spi::Status::Code::kInvalidArgument);
    EXPECT_EQ(status.message(),
              "range.page_size 100 over [0, 1050) makes 11 shards; set sharding_total_count: 11");
  }
}

TEST(RangeShardSourceTest, LeavesNoShardsBehindWhenRefusing) {
  auto source = Make({{"range.start", "0"}, {"range.end", "10"}, {"range.page_size", "3"}});
  std::vector<spi::ShardSpec> shards(2);
  EXPECT_FALSE(source->Generate({"job", "1", 5}, &shards).ok());
  EXPECT_TRUE(shards.empty());
}

TEST(RangeShardSourceTest, RefusesMissingProps) {
  EXPECT_THAT(Refusal({{"range.end", "10"}}), HasSubstr("prop 'range.start' is required"));
  EXPECT_THAT(Refusal({{"range.start", "0"}}), HasSubstr("prop 'range.end' is required"));
  EXPECT_THAT(Refusal({}), HasSubstr("range.start"));
}

TEST(RangeShardSourceTest, RefusesMalformedProps) {
  EXPECT_THAT(Refusal({{"range.start", "zero"}, {"range.end", "10"}}),
              HasSubstr("prop 'range.start' must be an integer, got 'zero'"));
  EXPECT_THAT(Refusal({{"range.start", "0"}, {"range.end", "1e3"}}),
              HasSubstr("prop 'range.end' must be an integer"));
  EXPECT_THAT(Refusal({{"range.start", "0"}, {"range.end", "99999999999999999999"}}),
              HasSubstr("prop 'range.end' must be an integer"));
  EXPECT_THAT(Refusal({{"range.start", "0"}, {"range.end", "10"}, {"range.page_size", "0"}}),
              HasSubstr("prop 'range.page_size' must be between 1 and"));
  EXPECT_THAT(Refusal({{"range.start", "0"}, {"range.end", "10"}, {"range.page_size", "-3"}}),
              HasSubstr("range.page_size"));
}

TEST(RangeShardSourceTest, RefusesAnEmptyOrReversedRange) {
  EXPECT_THAT(Refusal({{"range.start", "10"}, {"range.end", "10"}}),
              HasSubstr("prop 'range.end' (10) must be greater than range.start (10)"));
  EXPECT_THAT(Refusal({{"range.start", "10"}, {"range.end", "-1"}}),
              HasSubstr("prop 'range.end' (-1) must be greater than range.start (10)"));
}

TEST(RangeShardSourceTest, RefusesAnUnknownRangeProp) {
  EXPECT_THAT(Refusal({{"range.start", "0"}, {"range.end", "10"}, {"range.pagesize", "2"}}),
              HasSubstr("unknown prop 'range.pagesize'"));
  // Props of other plugins share the job's map.
  EXPECT_EQ(Refusal({{"range.start", "0"}, {"range.end", "10"}, {"script.command", "x"}}), "");
}

TEST(RangeShardSourceTest, SplitsTheWholeInt64RangeWithoutOverflow) {
  // [INT64_MIN, INT64_MAX) holds 2^64 - 1 values: more than int64_t, so end - start overflows.
  auto source = Make({{"range.start", std::to_string(kMin)}, {"range.end", std::to_string(kMax)}});
  std::vector<spi::ShardSpec> shards = GenerateOrDie(*source, 3);
  ASSERT_EQ(shards.size(), 3u);
  // 2^64 - 1 = 3 * 6148914691236517205: three equal shards, contiguous, covering it all.
  EXPECT_EQ(shards[0].params.at("start"), std::to_string(kMin));
  EXPECT_EQ(shards[0].params.at("end"), "-3074457345618258603");
  EXPECT_EQ(shards[1].params.at("start"), "-3074457345618258603");
  EXPECT_EQ(shards[1].params.at("end"), "3074457345618258602");
  EXPECT_EQ(shards[2].params.at("start"), "3074457345618258602");
  EXPECT_EQ(shards[2].params.at("end"), std::to_string(kMax));
}

TEST(RangeShardSourceTest, PagesNearTheInt64Limits) {
  // Pages whose next start would pass INT64_MAX: the last page stops at range.end.
  auto source = Make({{"range.start", std::to_string(kMax - 10)},
                      {"range.end", std::to_string(kMax)},
                      {"range.page_size", std::to_string(kMax)}});
  EXPECT_EQ(Labels(GenerateOrDie(*source, 1)),
            (std::vector<std::string>{"[" + std::to_string(kMax - 10) + ", " +
                                      std::to_string(kMax) + ")"}));

  auto whole = Make({{"range.start", std::to_string(kMin)},
                     {"range.end", std::to_string(kMax)},
                     {"range.page_size", std::to_string(kMax)}});
  // 2^64 - 1 values in pages of 2^63 - 1: two full pages and one of a single value.
  std::vector<spi::ShardSpec> shards = GenerateOrDie(*whole, 3);
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_EQ(shards[0].params.at("end"), "-1");
  EXPECT_EQ(shards[1].params.at("end"), std::to_string(kMax - 1));
  EXPECT_EQ(shards[2].label, "[" + std::to_string(kMax - 1) + ", " + std::to_string(kMax) + ")");

  auto tiny_pages = Make({{"range.start", std::to_string(kMin)},
                          {"range.end", std::to_string(kMax)},
                          {"range.page_size", "1"}});
  spi::Status status = GenerateStatus(*tiny_pages, 4);
  EXPECT_EQ(status.code(), spi::Status::Code::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("makes 18446744073709551615 shards"));
}

TEST(RangeShardSourceTest, TheSameShardsEveryTime) {
  auto one = Make({{"range.start", "7"}, {"range.end", "1000"}});
  auto other = Make({{"range.start", "7"}, {"range.end", "1000"}});
  EXPECT_EQ(Labels(GenerateOrDie(*one, 6)), Labels(GenerateOrDie(*other, 6)));
}

}  // namespace
}  // namespace shardjob::shard_sources
