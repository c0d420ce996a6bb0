#include "config/duration.h"

#include <stdexcept>

#include <gtest/gtest.h>

namespace shardjob::config::internal {
namespace {

using std::chrono::milliseconds;

TEST(ParseDurationTest, Units) {
  EXPECT_EQ(ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(ParseDuration("15s"), milliseconds(15000));
  EXPECT_EQ(ParseDuration("2m"), milliseconds(120000));
  EXPECT_EQ(ParseDuration("1h"), milliseconds(3600000));
  EXPECT_EQ(ParseDuration("0s"), milliseconds(0));
}

TEST(ParseDurationTest, BareIntegerIsMilliseconds) {
  EXPECT_EQ(ParseDuration("1500"), milliseconds(1500));
  EXPECT_EQ(ParseDuration("0"), milliseconds(0));
}

TEST(ParseDurationTest, MalformedIsAnErrorNamingTheText) {
  for (const char* text :
       {"", "s", "-1s", "+1s", "1.5s", "10 s", " 10s", "10sec", "10S", "1d", "10ms5", "abc"}) {
    try {
      ParseDuration(text);
      ADD_FAILURE() << "'" << text << "' was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("'" + std::string(text) + "'"), std::string::npos)
          << e.what();
    }
  }
}

TEST(ParseDurationTest, OverflowIsAnError) {
  EXPECT_THROW(ParseDuration("99999999999999999999"), std::invalid_argument);
  EXPECT_THROW(ParseDuration("9999999999999999h"), std::invalid_argument);
}

}  // namespace
}  // namespace shardjob::config::internal
