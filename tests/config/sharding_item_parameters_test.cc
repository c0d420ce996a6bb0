#include "config/sharding_item_parameters.h"

#include <stdexcept>

#include <gtest/gtest.h>

namespace shardjob::config::internal {
namespace {

using Parameters = std::map<int, std::string>;

std::string ErrorOf(std::string_view text, int total) {
  try {
    ParseShardingItemParameters(text, total);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

TEST(ShardingItemParametersTest, ParsesElasticJobForm) {
  EXPECT_EQ(ParseShardingItemParameters("0=A,1=B,2=C", 3),
            (Parameters{{0, "A"}, {1, "B"}, {2, "C"}}));
}

TEST(ShardingItemParametersTest, TrimsAroundSeparators) {
  EXPECT_EQ(ParseShardingItemParameters(" 0 = Beijing , 2=Shanghai ", 3),
            (Parameters{{0, "Beijing"}, {2, "Shanghai"}}));
}

TEST(ShardingItemParametersTest, BlankIsEmptyAndTrailingCommaIsAccepted) {
  EXPECT_EQ(ParseShardingItemParameters("", 1), Parameters{});
  EXPECT_EQ(ParseShardingItemParameters("  ", 1), Parameters{});
  EXPECT_EQ(ParseShardingItemParameters("0=A,", 1), (Parameters{{0, "A"}}));
}

TEST(ShardingItemParametersTest, BadEntriesAreErrorsNamingTheEntry) {
  EXPECT_NE(ErrorOf("0=A,1", 2).find("bad entry '1'"), std::string::npos);
  EXPECT_NE(ErrorOf("0=", 2).find("bad entry '0='"), std::string::npos);
  EXPECT_NE(ErrorOf("=A", 2).find("bad entry '=A'"), std::string::npos);
  EXPECT_NE(ErrorOf("0=A=B", 2).find("bad entry '0=A=B'"), std::string::npos);
  EXPECT_NE(ErrorOf("0=A,,1=B", 2).find("bad entry ''"), std::string::npos);
  EXPECT_NE(ErrorOf("x=A", 2).find("'x' is not an integer"), std::string::npos);
  EXPECT_NE(ErrorOf("1.5=A", 2).find("'1.5' is not an integer"), std::string::npos);
  EXPECT_NE(ErrorOf("+-1=A", 2).find("'+-1' is not an integer"), std::string::npos);
}

TEST(ShardingItemParametersTest, ItemsOutsideTheTotalAreErrors) {
  EXPECT_NE(ErrorOf("2=C", 2).find("sharding item 2 is out of range"), std::string::npos);
  EXPECT_NE(ErrorOf("-1=C", 2).find("sharding item -1 is out of range"), std::string::npos);
  EXPECT_NE(ErrorOf("99999999999=C", 2).find("99999999999 is out of range"), std::string::npos);
}

TEST(ShardingItemParametersTest, RepeatedItemIsAnError) {
  EXPECT_NE(ErrorOf("0=A,1=B,0=C", 2).find("sharding item 0 is given twice"), std::string::npos);
}

}  // namespace
}  // namespace shardjob::config::internal
