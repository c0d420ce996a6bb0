#include "config/env_substitution.h"

#include <map>

#include <gtest/gtest.h>

namespace shardjob::config::internal {
namespace {

class SubstituteEnvTest : public ::testing::Test {
 protected:
  std::string Substitute(std::string_view text) {
    return SubstituteEnv(text, [this](std::string_view name) -> std::optional<std::string> {
      const auto it = env_.find(std::string(name));
      if (it == env_.end()) return std::nullopt;
      return it->second;
    });
  }

  std::map<std::string, std::string> env_ = {{"HOST", "box"}, {"EMPTY", ""}, {"N", "4"}};
};

TEST_F(SubstituteEnvTest, LeavesTextWithoutVariablesAlone) {
  EXPECT_EQ(Substitute(""), "");
  EXPECT_EQ(Substitute("plain text"), "plain text");
}

TEST_F(SubstituteEnvTest, ReplacesSetVariables) {
  EXPECT_EQ(Substitute("${HOST}"), "box");
  EXPECT_EQ(Substitute("${HOST}-a"), "box-a");
  EXPECT_EQ(Substitute("x${N}y${HOST}z${N}"), "x4yboxz4");
}

TEST_F(SubstituteEnvTest, SetButEmptyVariableIsEmpty) { EXPECT_EQ(Substitute("[${EMPTY}]"), "[]"); }

TEST_F(SubstituteEnvTest, DefaultIsUsedWhenUnsetOrEmpty) {
  EXPECT_EQ(Substitute("${MISSING:-8}"), "8");
  EXPECT_EQ(Substitute("${EMPTY:-fallback}"), "fallback");
  EXPECT_EQ(Substitute("${N:-8}"), "4");
  EXPECT_EQ(Substitute("${MISSING:-}-a"), "-a");
  EXPECT_EQ(Substitute("${MISSING:-a b:c-d}"), "a b:c-d");
}

TEST_F(SubstituteEnvTest, DoubleDollarIsALiteralDollar) {
  EXPECT_EQ(Substitute("$$"), "$");
  EXPECT_EQ(Substitute("cost $$5"), "cost $5");
  EXPECT_EQ(Substitute("$${HOST}"), "${HOST}");
  EXPECT_EQ(Substitute("$$$${HOST}"), "$${HOST}");
  EXPECT_EQ(Substitute("$$${HOST}"), "$box");
}

TEST_F(SubstituteEnvTest, OtherDollarsAreKept) {
  EXPECT_EQ(Substitute("echo $1 $HOME"), "echo $1 $HOME");
  EXPECT_EQ(Substitute("trailing $"), "trailing $");
}

TEST_F(SubstituteEnvTest, UnsetVariableWithoutDefaultIsAnErrorNamingIt) {
  try {
    Substitute("a-${NOPE}-b");
    FAIL() << "expected EnvSubstitutionError";
  } catch (const EnvSubstitutionError& e) {
    EXPECT_NE(std::string(e.what()).find("'NOPE' is not set"), std::string::npos) << e.what();
  }
}

TEST_F(SubstituteEnvTest, MalformedReferencesAreErrors) {
  EXPECT_THROW(Substitute("${HOST"), EnvSubstitutionError);
  EXPECT_THROW(Substitute("${}"), EnvSubstitutionError);
  EXPECT_THROW(Substitute("${1X}"), EnvSubstitutionError);
  EXPECT_THROW(Substitute("${A-B}"), EnvSubstitutionError);
  EXPECT_THROW(Substitute("${:-x}"), EnvSubstitutionError);
}

}  // namespace
}  // namespace shardjob::config::internal
