#include "executors/script/command_line.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace shardjob::executors {
namespace {

using Words = std::vector<std::string>;

Words Split(const std::string& command_line) {
  Words words;
  std::string error;
  EXPECT_TRUE(TokenizeCommandLine(command_line, &words, &error)) << command_line << ": " << error;
  return words;
}

std::string SplitError(const std::string& command_line) {
  Words words;
  std::string error;
  EXPECT_FALSE(TokenizeCommandLine(command_line, &words, &error)) << command_line;
  return error;
}

TEST(CommandLineTest, WhitespaceSeparates) {
  EXPECT_EQ(Split("/bin/echo  a\tb\nc "), (Words{"/bin/echo", "a", "b", "c"}));
  EXPECT_EQ(Split(""), Words{});
  EXPECT_EQ(Split(" \t "), Words{});
}

TEST(CommandLineTest, QuotesGroup) {
  EXPECT_EQ(Split("cmd 'a b' \"c d\""), (Words{"cmd", "a b", "c d"}));
  EXPECT_EQ(Split("cmd a'b c'd\"e f\"g"), (Words{"cmd", "ab cde fg"}));
  EXPECT_EQ(Split("cmd '' \"\""), (Words{"cmd", "", ""}));
}

TEST(CommandLineTest, NothingIsExpanded) {
  EXPECT_EQ(Split("cmd $HOME \"$HOME\" '$HOME' `id` $(id) ~ * a|b;c&d>e"),
            (Words{"cmd", "$HOME", "$HOME", "$HOME", "`id`", "$(id)", "~", "*", "a|b;c&d>e"}));
}

TEST(CommandLineTest, BackslashEscapesOutsideQuotes) {
  EXPECT_EQ(Split(R"(cmd a\ b \' \" \\ \$x)"), (Words{"cmd", "a b", "'", "\"", "\\", "$x"}));
  EXPECT_EQ(Split("cmd a\\\nb"), (Words{"cmd", "ab"}));
}

TEST(CommandLineTest, BackslashInsideDoubleQuotesFollowsSh) {
  EXPECT_EQ(Split(R"(cmd "a\"b" "c\\d" "e\$f" "g\nh")"),
            (Words{"cmd", "a\"b", "c\\d", "e$f", "g\\nh"}));
}

TEST(CommandLineTest, BackslashInsideSingleQuotesIsLiteral) {
  EXPECT_EQ(Split(R"(cmd 'a\b' 'c\')"), (Words{"cmd", "a\\b", "c\\"}));
}

TEST(CommandLineTest, RejectsUnterminatedInput) {
  EXPECT_NE(SplitError("cmd 'abc").find("unterminated single quote"), std::string::npos);
  EXPECT_NE(SplitError("cmd \"abc").find("unterminated double quote"), std::string::npos);
  EXPECT_NE(SplitError("cmd \"abc\\\"").find("unterminated double quote"), std::string::npos);
  EXPECT_NE(SplitError("cmd abc\\").find("trailing backslash"), std::string::npos);
}

}  // namespace
}  // namespace shardjob::executors
