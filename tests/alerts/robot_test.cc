// DINGTALK and WECHAT: signing, the robots' message and reply, props (delivery is in
// alerts_e2e.py).

#include <map>
#include <stdexcept>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "plugins/error-handlers/common/robot_message.h"
#include "plugins/error-handlers/dingtalk/dingtalk_error_handler.h"
#include "plugins/error-handlers/dingtalk/dingtalk_sign.h"
#include "plugins/error-handlers/wechat/wechat_error_handler.h"
#include "tests/alerts/test_logger.h"

namespace shardjob::error_handlers {
namespace {

using ::testing::HasSubstr;

template <typename Build>
std::string RejectionOf(Build build) {
  try {
    build();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

spi::Properties MakeProps(std::map<std::string, std::string> values = {}) {
  return spi::Properties(std::move(values));
}

Alert SampleAlert() {
  return Alert{spi::JobError{"order-sync", "1700000000000", 2, "host@1@ab", "exit code 3"},
               std::chrono::system_clock::time_point{std::chrono::milliseconds(1700000000123)}};
}

// The expected values were computed independently when this test was written, with Python:
//   base64.b64encode(hmac.new(secret, f"{ts}\n{secret}", sha256).digest()), then
//   urllib.parse.quote_plus (the same rules as Java's URLEncoder).
TEST(DingTalkSignTest, MatchesAnIndependentlyComputedSignature) {
  EXPECT_EQ(DingTalkSignature("SECb0a1e2f3test", 1700000000000),
            "YvF35dyElc%2BACXQLkbGzOeBgTTVhfQ9qgazpnt94HkQ%3D");
  EXPECT_EQ(DingTalkSignature("", 0), "Q9tEPDPpqPnAbOT2fNJuW8fHBSbcKNHJA%2FiXNesb6iA%3D");
}

TEST(DingTalkSignTest, AppendsTimestampAndSignToTheQuery) {
  EXPECT_EQ(DingTalkSignedUrl("https://oapi.dingtalk.com/robot/send?access_token=t",
                              "SECb0a1e2f3test", 1700000000000),
            "https://oapi.dingtalk.com/robot/send?access_token=t&timestamp=1700000000000"
            "&sign=YvF35dyElc%2BACXQLkbGzOeBgTTVhfQ9qgazpnt94HkQ%3D");
  EXPECT_EQ(DingTalkSignedUrl("http://h/send", "", 5).substr(0, 26), "http://h/send?timestamp=5&");
}

TEST(DingTalkSignTest, FormUrlEncodeFollowsJavasUrlEncoder) {
  EXPECT_EQ(FormUrlEncode("aZ09.-*_ +/=~\xc3\xa9"), "aZ09.-*_+%2B%2F%3D%7E%C3%A9");
}

TEST(RobotMessageTest, IsElasticJobsTextMessage) {
  EXPECT_EQ(RobotTextPayload("Job 'a' failed\n\"quoted\""),
            R"({"msgtype":"text","text":{"content":"Job 'a' failed\n\"quoted\""}})");
  EXPECT_EQ(nlohmann::json::parse(RobotTextPayload("bad \xff"))["text"]["content"],
            "bad \xEF\xBF\xBD");
}

TEST(RobotMessageTest, OnlyErrcodeZeroIsSuccess) {
  EXPECT_TRUE(CheckRobotReply({200, R"({"errcode":0,"errmsg":"ok"})"}).ok());
  EXPECT_TRUE(CheckRobotReply({200, R"({"errcode":"0"})"}).ok());
  spi::Status refused =
      CheckRobotReply({200, R"({"errcode":310000,"errmsg":"keywords not in content"})"});
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.message(),
            "the robot refused the message: errcode 310000, errmsg keywords not in content");
  EXPECT_THAT(CheckRobotReply({200, "<html>"}).message(), HasSubstr("has no errcode"));
  EXPECT_THAT(CheckRobotReply({200, R"({"ok":true})"}).message(), HasSubstr("has no errcode"));
  EXPECT_THAT(CheckRobotReply({502, R"({"errcode":0})"}).message(),
              HasSubstr("the robot answered HTTP 502"));
}

TEST(DingTalkTest, TheKeywordGoesFirstWithNothingBetweenAsInElasticJob) {
  DingTalkSettings settings;
  settings.keyword = "[alarm]";
  EXPECT_EQ(DingTalkContent(settings, SampleAlert()),
            "[alarm]Job 'order-sync' exception occur in job processing, caused by exit code 3\n"
            "fire: 1700000000000, shard: 2, instance: host@1@ab, time: 2023-11-14T22:13:20.123Z");
  settings.keyword.clear();
  EXPECT_EQ(DingTalkContent(settings, SampleAlert()).substr(0, 6), "Job 'o");
}

TEST(DingTalkTest, ReadsElasticJobsPropsWithItsDefaults) {
  DingTalkSettings settings = ReadDingTalkSettings(
      MakeProps({{"dingtalk.webhook", "https://oapi.dingtalk.com/robot/send?access_token=t"},
                 {"dingtalk.keyword", "k"},
                 {"dingtalk.secret", "s"}}));
  EXPECT_EQ(settings.keyword, "k");
  EXPECT_EQ(settings.secret, "s");
  EXPECT_EQ(settings.connect_timeout, std::chrono::milliseconds(3000));
  EXPECT_EQ(settings.read_timeout, std::chrono::milliseconds(5000));
}

TEST(DingTalkTest, RejectsBadPropsNamingThem) {
  EXPECT_EQ(RejectionOf([] { ReadDingTalkSettings(MakeProps()); }),
            "prop 'dingtalk.webhook' is required");
  EXPECT_THAT(RejectionOf([] {
                ReadDingTalkSettings(MakeProps({{"dingtalk.webhook", "http://h/x"},
                                                {"dingtalk.readTimeoutMilliseconds", "0"}}));
              }),
              HasSubstr("prop 'dingtalk.readTimeoutMilliseconds' must be between 1"));
  EXPECT_THAT(RejectionOf([] {
                ReadDingTalkSettings(
                    MakeProps({{"dingtalk.webhook", "http://h/x"}, {"dingtalk.secrets", "s"}}));
              }),
              HasSubstr("unknown prop 'dingtalk.secrets'"));
  RecordingLogger logger;
  spi::Properties props =
      MakeProps({{"dingtalk.webhook", "http://h/x"}, {"dingtalk.maxAttempts", "many"}});
  spi::PluginContext context{props, logger, "order-sync"};
  EXPECT_EQ(RejectionOf([&] { DingTalkErrorHandler handler(context); }),
            "prop 'dingtalk.maxAttempts' must be an integer, got 'many'");
}

TEST(WeChatTest, ReadsElasticJobsPropsWithItsDefaults) {
  WeChatSettings settings = ReadWeChatSettings(
      MakeProps({{"wechat.webhook", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"},
                 {"wechat.connectTimeoutMilliseconds", "100"}}));
  EXPECT_EQ(settings.connect_timeout, std::chrono::milliseconds(100));
  EXPECT_EQ(settings.read_timeout, std::chrono::milliseconds(5000));
}

TEST(WeChatTest, RejectsBadPropsNamingThem) {
  EXPECT_EQ(RejectionOf([] {
              ReadWeChatSettings(MakeProps({{"wechat.webhook", ""}}));
            }),
            "prop 'wechat.webhook' is required");
  EXPECT_THAT(RejectionOf([] {
                ReadWeChatSettings(MakeProps({{"wechat.webhook", "qyapi.weixin.qq.com"}}));
              }),
              HasSubstr("prop 'wechat.webhook' must be an http:// or https:// URL"));
  RecordingLogger logger;
  spi::Properties props = MakeProps({{"wechat.webhook", "http://h/x"}, {"wechat.queueSize", "0"}});
  spi::PluginContext context{props, logger, "order-sync"};
  EXPECT_THAT(RejectionOf([&] { WeChatErrorHandler handler(context); }),
              HasSubstr("prop 'wechat.queueSize' must be between 1"));
}

}  // namespace
}  // namespace shardjob::error_handlers
