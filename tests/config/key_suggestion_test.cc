#include "config/key_suggestion.h"

#include <array>

#include <gtest/gtest.h>

namespace shardjob::config::internal {
namespace {

constexpr std::array<std::string_view, 4> kKeys = {"sharding_total_count", "cron", "failover",
                                                   "fixed_rate"};

TEST(EditDistanceTest, Basics) {
  EXPECT_EQ(EditDistance("", ""), 0u);
  EXPECT_EQ(EditDistance("abc", ""), 3u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("shardng_total_count", "sharding_total_count"), 1u);
}

TEST(SuggestKeyTest, SuggestsWithinTwoEdits) {
  EXPECT_EQ(SuggestKey("shardng_total_count", kKeys), "sharding_total_count");
  EXPECT_EQ(SuggestKey("corn", kKeys), "cron");
  EXPECT_EQ(SuggestKey("failovr", kKeys), "failover");
}

TEST(SuggestKeyTest, SuggestsSnakeCaseForElasticJobCamelCase) {
  EXPECT_EQ(SuggestKey("shardingTotalCount", kKeys), "sharding_total_count");
  EXPECT_EQ(SuggestKey("fixed-rate", kKeys), "fixed_rate");
}

TEST(SuggestKeyTest, NothingWhenFarAway) {
  EXPECT_EQ(SuggestKey("schedule", kKeys), std::nullopt);
  EXPECT_EQ(SuggestKey("zzz", kKeys), std::nullopt);
}

}  // namespace
}  // namespace shardjob::config::internal
