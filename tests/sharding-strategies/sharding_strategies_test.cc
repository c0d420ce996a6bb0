#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sharding-strategies/average/average_allocation_strategy.h"
#include "sharding-strategies/common/java_string_hash.h"
#include "sharding-strategies/odevity/odevity_strategy.h"
#include "sharding-strategies/round-robin/round_robin_strategy.h"
#include "sharding-strategies/single-balance/single_sharding_balance_strategy.h"

namespace shardjob::strategies {
namespace {

using spi::ShardingPlan;
using spi::ShardingRequest;
using spi::ShardingStrategy;
using Items = std::vector<int>;

// The reference's instances, handed over in ElasticJob's descending order [C, B, A].
const std::string kA = "192.168.0.1@-@100";
const std::string kB = "192.168.0.2@-@200";
const std::string kC = "192.168.0.3@-@300";
const std::vector<std::string> kCba = {kC, kB, kA};

ShardingPlan ShardOrDie(const ShardingStrategy& strategy, const std::string& job_name, int total,
                        const std::vector<std::string>& instances = kCba) {
  ShardingPlan plan;
  const spi::Status status = strategy.Shard(ShardingRequest{job_name, total, instances}, &plan);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return plan;
}

TEST(JavaStringHashTest, MatchesTheReferenceHashes) {
  EXPECT_EQ(JavaStringHash("jobA"), 3267620);
  EXPECT_EQ(JavaStringHash("orderJob"), 1234284943);
  EXPECT_EQ(JavaStringHash("javaSimpleJob"), -694093655);
  EXPECT_EQ(JavaStringHash("myJob"), 104343153);
  EXPECT_EQ(JavaStringHash(""), 0);
}

TEST(JavaStringHashTest, WrapsAt32BitsToIntMin) {
  // A well-known Java string whose hashCode() is exactly Integer.MIN_VALUE.
  EXPECT_EQ(JavaStringHash("polygenelubricants"), INT32_MIN);
}

TEST(JavaStringHashTest, HashesUtf16CodeUnits) {
  EXPECT_EQ(JavaStringHash("\xC3\xA9"), 233);                     // U+00E9, one unit
  EXPECT_EQ(JavaStringHash("\xE6\x97\xA5\xE6\x9C\xAC"), 835047);  // U+65E5 U+672C
  // U+1F600 is the surrogate pair D83D DE00 in Java.
  EXPECT_EQ(JavaStringHash("\xF0\x9F\x98\x80"), 1772899);
  EXPECT_EQ(JavaStringHash("a\xF0\x9F\x98\x80"
                           "b"),
            57849694);
}

TEST(JavaStringHashTest, CountsInvalidBytesAsReplacementCharacters) {
  EXPECT_EQ(JavaStringHash("\xFF"), 0xFFFD);
  EXPECT_EQ(JavaStringHash("\xC3"), 0xFFFD);                    // truncated sequence
  EXPECT_EQ(JavaStringHash("\xC0\x80"), 0xFFFD * 31 + 0xFFFD);  // overlong NUL
  EXPECT_EQ(JavaStringHash("\xED\xA0\x80"), JavaStringHash("\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));
}

TEST(AverageAllocationTest, TenItemsOverThree) {
  EXPECT_EQ(ShardOrDie(AverageAllocationStrategy(), "anyJob", 10),
            (ShardingPlan{{kC, Items{0, 1, 2, 9}}, {kB, Items{3, 4, 5}}, {kA, Items{6, 7, 8}}}));
}

TEST(AverageAllocationTest, EightItemsOverThree) {
  EXPECT_EQ(ShardOrDie(AverageAllocationStrategy(), "anyJob", 8),
            (ShardingPlan{{kC, Items{0, 1, 6}}, {kB, Items{2, 3, 7}}, {kA, Items{4, 5}}}));
}

TEST(AverageAllocationTest, TwoItemsOverThreeListsTheIdleInstance) {
  EXPECT_EQ(ShardOrDie(AverageAllocationStrategy(), "anyJob", 2),
            (ShardingPlan{{kC, Items{0}}, {kB, Items{1}}, {kA, Items{}}}));
}

TEST(AverageAllocationTest, SingleInstanceGetsEverything) {
  EXPECT_EQ(ShardOrDie(AverageAllocationStrategy(), "anyJob", 5, {kB}),
            (ShardingPlan{{kB, Items{0, 1, 2, 3, 4}}}));
}

TEST(AverageAllocationTest, OneItemGoesToTheFirstInstance) {
  EXPECT_EQ(ShardOrDie(AverageAllocationStrategy(), "anyJob", 1),
            (ShardingPlan{{kC, Items{0}}, {kB, Items{}}, {kA, Items{}}}));
}

TEST(AverageAllocationTest, MoreInstancesThanItems) {
  const std::vector<std::string> five = {"e", "d", "c", "b", "a"};
  EXPECT_EQ(
      ShardOrDie(AverageAllocationStrategy(), "anyJob", 3, five),
      (ShardingPlan{
          {"e", Items{0}}, {"d", Items{1}}, {"c", Items{2}}, {"b", Items{}}, {"a", Items{}}}));
}

TEST(AverageAllocationTest, EveryItemExactlyOnceAndListsAscending) {
  const std::vector<std::string> seven = {"g", "f", "e", "d", "c", "b", "a"};
  for (int total = 1; total <= 40; ++total) {
    const ShardingPlan plan = ShardOrDie(AverageAllocationStrategy(), "anyJob", total, seven);
    ASSERT_EQ(plan.size(), seven.size());
    std::vector<int> seen(total, 0);
    for (const auto& [instance, items] : plan) {
      EXPECT_TRUE(std::is_sorted(items.begin(), items.end())) << instance;
      for (int item : items) ++seen.at(item);
    }
    EXPECT_EQ(seen, std::vector<int>(total, 1)) << "total " << total;
  }
}

TEST(AverageAllocationTest, RejectsWhatCannotBeSharded) {
  ShardingPlan plan;
  EXPECT_EQ(AverageAllocationStrategy().Shard(ShardingRequest{"j", 3, {}}, &plan).code(),
            spi::Status::Code::kInvalidArgument);
  EXPECT_EQ(AverageAllocationStrategy().Shard(ShardingRequest{"j", 0, kCba}, &plan).code(),
            spi::Status::Code::kInvalidArgument);
  EXPECT_EQ(AverageAllocationStrategy().Shard(ShardingRequest{"j", 3, {kA, kA}}, &plan).code(),
            spi::Status::Code::kInvalidArgument);
  EXPECT_EQ(OdevityStrategy().Shard(ShardingRequest{"j", -1, kCba}, &plan).code(),
            spi::Status::Code::kInvalidArgument);
  EXPECT_EQ(RoundRobinStrategy().Shard(ShardingRequest{"j", 3, {}}, &plan).code(),
            spi::Status::Code::kInvalidArgument);
}

TEST(AverageAllocationTest, ReplacesWhatThePlanHeld) {
  ShardingPlan plan = {{"stale", Items{42}}};
  ASSERT_TRUE(AverageAllocationStrategy().Shard(ShardingRequest{"j", 1, {kA}}, &plan).ok());
  EXPECT_EQ(plan, (ShardingPlan{{kA, Items{0}}}));
}

TEST(OdevityTest, EvenHashReversesTheList) {
  ASSERT_EQ(JavaStringHash("jobA") % 2, 0);
  EXPECT_EQ(ShardOrDie(OdevityStrategy(), "jobA", 10),
            (ShardingPlan{{kA, Items{0, 1, 2, 9}}, {kB, Items{3, 4, 5}}, {kC, Items{6, 7, 8}}}));
}

TEST(OdevityTest, OddHashKeepsTheList) {
  EXPECT_EQ(ShardOrDie(OdevityStrategy(), "orderJob", 10),
            (ShardingPlan{{kC, Items{0, 1, 2, 9}}, {kB, Items{3, 4, 5}}, {kA, Items{6, 7, 8}}}));
}

TEST(OdevityTest, NegativeOddHashCountsAsOdd) {
  ASSERT_LT(JavaStringHash("javaSimpleJob"), 0);
  EXPECT_EQ(ShardOrDie(OdevityStrategy(), "javaSimpleJob", 10),
            ShardOrDie(AverageAllocationStrategy(), "javaSimpleJob", 10));
}

TEST(OdevityTest, IntMinIsEven) {
  EXPECT_EQ(ShardOrDie(OdevityStrategy(), "polygenelubricants", 1),
            (ShardingPlan{{kA, Items{0}}, {kB, Items{}}, {kC, Items{}}}));
}

TEST(OdevityTest, SingleInstanceAndOneItem) {
  EXPECT_EQ(ShardOrDie(OdevityStrategy(), "jobA", 3, {kB}), (ShardingPlan{{kB, Items{0, 1, 2}}}));
  EXPECT_EQ(ShardOrDie(OdevityStrategy(), "jobA", 1),
            (ShardingPlan{{kA, Items{0}}, {kB, Items{}}, {kC, Items{}}}));
  EXPECT_EQ(ShardOrDie(OdevityStrategy(), "orderJob", 1),
            (ShardingPlan{{kC, Items{0}}, {kB, Items{}}, {kA, Items{}}}));
}

TEST(OdevityTest, MoreInstancesThanItems) {
  const std::vector<std::string> four = {"d", "c", "b", "a"};
  EXPECT_EQ(ShardOrDie(OdevityStrategy(), "jobA", 2, four),
            (ShardingPlan{{"a", Items{0}}, {"b", Items{1}}, {"c", Items{}}, {"d", Items{}}}));
}

TEST(RoundRobinTest, OrderJobRotatesByOne) {
  EXPECT_EQ(RoundRobinOffset(JavaStringHash("orderJob"), 3), 1);
  EXPECT_EQ(ShardOrDie(RoundRobinStrategy(), "orderJob", 10),
            (ShardingPlan{{kB, Items{0, 1, 2, 9}}, {kA, Items{3, 4, 5}}, {kC, Items{6, 7, 8}}}));
}

TEST(RoundRobinTest, JavaSimpleJobRotatesByTwo) {
  EXPECT_EQ(RoundRobinOffset(JavaStringHash("javaSimpleJob"), 3), 2);
  EXPECT_EQ(ShardOrDie(RoundRobinStrategy(), "javaSimpleJob", 10),
            (ShardingPlan{{kA, Items{0, 1, 2, 9}}, {kC, Items{3, 4, 5}}, {kB, Items{6, 7, 8}}}));
}

TEST(RoundRobinTest, MyJobIsTheSameAsAverage) {
  EXPECT_EQ(RoundRobinOffset(JavaStringHash("myJob"), 3), 0);
  EXPECT_EQ(ShardOrDie(RoundRobinStrategy(), "myJob", 10),
            ShardOrDie(AverageAllocationStrategy(), "myJob", 10));
}

TEST(RoundRobinTest, SingleInstanceAndOneItem) {
  EXPECT_EQ(ShardOrDie(RoundRobinStrategy(), "orderJob", 4, {kA}),
            (ShardingPlan{{kA, Items{0, 1, 2, 3}}}));
  EXPECT_EQ(ShardOrDie(RoundRobinStrategy(), "orderJob", 1),
            (ShardingPlan{{kB, Items{0}}, {kA, Items{}}, {kC, Items{}}}));
}

TEST(RoundRobinTest, MoreInstancesThanItems) {
  // |1234284943| % 4 == 3: [d, c, b, a] becomes [a, d, c, b].
  const std::vector<std::string> four = {"d", "c", "b", "a"};
  ASSERT_EQ(RoundRobinOffset(JavaStringHash("orderJob"), 4), 3);
  EXPECT_EQ(ShardOrDie(RoundRobinStrategy(), "orderJob", 2, four),
            (ShardingPlan{{"a", Items{0}}, {"d", Items{1}}, {"c", Items{}}, {"b", Items{}}}));
}

TEST(RoundRobinTest, IntMinHashUsesTheTrueAbsoluteValue) {
  // Java: Math.abs(MIN_VALUE) % n. With n a power of two that is 0 and Java shards normally; the
  // rule agrees. Otherwise Java's negative offset makes its rotation throw; the rule takes
  // 2^31 mod n instead.
  EXPECT_EQ(RoundRobinOffset(INT32_MIN, 1), 0);
  EXPECT_EQ(RoundRobinOffset(INT32_MIN, 2), 0);
  EXPECT_EQ(RoundRobinOffset(INT32_MIN, 4), 0);
  EXPECT_EQ(RoundRobinOffset(INT32_MIN, 3), 2);
  EXPECT_EQ(RoundRobinOffset(INT32_MIN, 5), 3);
  EXPECT_EQ(RoundRobinOffset(INT32_MIN, 7), 2);
  EXPECT_EQ(RoundRobinOffset(INT32_MAX, 3), 1);
  EXPECT_EQ(RoundRobinOffset(-7, 3), 1);

  // Offset 2 over [C, B, A] gives [A, C, B].
  EXPECT_EQ(ShardOrDie(RoundRobinStrategy(), "polygenelubricants", 10),
            (ShardingPlan{{kA, Items{0, 1, 2, 9}}, {kC, Items{3, 4, 5}}, {kB, Items{6, 7, 8}}}));
  const std::vector<std::string> four = {"d", "c", "b", "a"};
  EXPECT_EQ(ShardOrDie(RoundRobinStrategy(), "polygenelubricants", 4, four),
            ShardOrDie(AverageAllocationStrategy(), "polygenelubricants", 4, four));
}

}  // namespace
}  // namespace shardjob::strategies

namespace shardjob::strategies {
namespace {

TEST(SingleShardingBalanceTest, OffsetIsJavasAbsOfTheWrappedIntSum) {
  // Math.abs(hash + (int) now) % n, with Java's 32-bit wrap-around in the sum.
  EXPECT_EQ(SingleShardingBalanceOffset(1234284943, 0, 3), 1234284943 % 3);
  EXPECT_EQ(SingleShardingBalanceOffset(10, 5, 7), 15 % 7);
  // (int) of 2^32 + 4 is 4.
  EXPECT_EQ(SingleShardingBalanceOffset(3, (std::int64_t{1} << 32) + 4, 5), 7 % 5);
  // INT_MAX + 1 wraps to INT_MIN, whose true |.| is 2^31.
  EXPECT_EQ(SingleShardingBalanceOffset(INT32_MAX, 1, 3),
            static_cast<int>((std::int64_t{1} << 31) % 3));
  EXPECT_EQ(SingleShardingBalanceOffset(-10, 3, 4), 7 % 4);
}

TEST(SingleShardingBalanceTest, GivesEveryItemToExactlyOneInstance) {
  spi::ShardingRequest request;
  request.job_name = "orderJob";
  request.sharding_total_count = 10;
  request.instances = {"c", "b", "a"};
  spi::ShardingPlan plan;
  ASSERT_TRUE(SingleShardingBalanceStrategy().Shard(request, &plan).ok());
  std::vector<int> all;
  for (const auto& [instance, items] : plan) all.insert(all.end(), items.begin(), items.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(plan.size(), 3u);
  EXPECT_FALSE(SingleShardingBalanceStrategy().Shard(spi::ShardingRequest{}, &plan).ok());
}

}  // namespace
}  // namespace shardjob::strategies
