// WEBHOOK: props, header parsing and the JSON payload (delivery is in alerts_e2e.py).

#include "plugins/error-handlers/webhook/webhook_error_handler.h"

#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/alerts/test_logger.h"

namespace shardjob::error_handlers {
namespace {

using ::testing::HasSubstr;

// The message of the std::invalid_argument that `build` throws, or "" when it throws none.
template <typename Build>
std::string RejectionOf(Build build) {
  try {
    build();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

spi::Properties Props(std::map<std::string, std::string> values) {
  values.emplace("webhook.url", "http://127.0.0.1:1/hook");
  return spi::Properties(std::move(values));
}

TEST(WebhookPayloadTest, CarriesEveryFieldOfTheError) {
  Alert alert{spi::JobError{"order-sync", "1700000000000", 2, "host@1@ab", "exit code 3"},
              std::chrono::system_clock::time_point{std::chrono::milliseconds(1700000000123)}};
  nlohmann::json payload = nlohmann::json::parse(WebhookPayload(alert));
  EXPECT_EQ(payload, nlohmann::json::parse(R"({"job":"order-sync","fire":"1700000000000",
      "shard":2,"instance":"host@1@ab","error":"exit code 3",
      "time":"2023-11-14T22:13:20.123Z","time_ms":1700000000123})"));
}

TEST(WebhookPayloadTest, FireAndShardAreNullWhenTheErrorIsNotAboutOne) {
  Alert alert{spi::JobError{"order-sync", "", -1, "host@1@ab", "clock check failed"},
              std::chrono::system_clock::now()};
  nlohmann::json payload = nlohmann::json::parse(WebhookPayload(alert));
  EXPECT_TRUE(payload["fire"].is_null());
  EXPECT_TRUE(payload["shard"].is_null());
}

TEST(WebhookPayloadTest, BytesThatAreNotUtf8DoNotLoseTheAlert) {
  Alert alert{spi::JobError{"j", "1", 0, "i", "bad \xff byte and a \"quote\"\n"},
              std::chrono::system_clock::now()};
  nlohmann::json payload = nlohmann::json::parse(WebhookPayload(alert));
  EXPECT_EQ(payload["error"], "bad \xEF\xBF\xBD byte and a \"quote\"\n");
}

TEST(WebhookHeadersTest, SplitsOnSemicolons) {
  EXPECT_EQ(ParseWebhookHeaders("Authorization: Bearer x; X-Team: ops;"),
            (std::vector<std::string>{"Authorization: Bearer x", "X-Team: ops"}));
  EXPECT_TRUE(ParseWebhookHeaders("").empty());
  EXPECT_TRUE(ParseWebhookHeaders(" ; ").empty());
}

TEST(WebhookHeadersTest, OneHeaderPerLineWhenThereAreLineBreaksSoValuesMayHoldSemicolons) {
  EXPECT_EQ(ParseWebhookHeaders("Cookie: a=1; b=2\r\nX-Team:ops\n\n"),
            (std::vector<std::string>{"Cookie: a=1; b=2", "X-Team: ops"}));
}

TEST(WebhookHeadersTest, RejectsMalformedEntriesNamingTheProp) {
  EXPECT_EQ(RejectionOf([] { ParseWebhookHeaders("X-Team: ops; Bearer x"); }),
            "prop 'webhook.headers': header 2 is not 'Name: value'");
  EXPECT_THAT(RejectionOf([] { ParseWebhookHeaders("X Team: ops"); }),
              HasSubstr("has an invalid name"));
  EXPECT_THAT(RejectionOf([] { ParseWebhookHeaders(": ops"); }), HasSubstr("has no name"));
  EXPECT_THAT(RejectionOf([] { ParseWebhookHeaders("X-Team:"); }), HasSubstr("has no value"));
  // Values are often credentials: a message never repeats one.
  EXPECT_EQ(RejectionOf([] { ParseWebhookHeaders("Authorization: Bearer s3cret\x01"); }),
            "prop 'webhook.headers': header 1 ('Authorization') has a control character in its "
            "value");
}

TEST(WebhookSettingsTest, Defaults) {
  WebhookSettings settings = ReadWebhookSettings(Props({}));
  EXPECT_EQ(settings.url, "http://127.0.0.1:1/hook");
  EXPECT_TRUE(settings.headers.empty());
  EXPECT_EQ(settings.timeout, std::chrono::milliseconds(5000));
}

TEST(WebhookSettingsTest, RejectsBadPropsNamingThem) {
  EXPECT_EQ(RejectionOf([] { ReadWebhookSettings(spi::Properties()); }),
            "prop 'webhook.url' is required");
  EXPECT_THAT(RejectionOf([] {
                ReadWebhookSettings(Props({{"webhook.url", "ftp://x/y"}}));
              }),
              HasSubstr("prop 'webhook.url' must be an http:// or https:// URL"));
  EXPECT_THAT(RejectionOf([] {
                ReadWebhookSettings(Props({{"webhook.url", "http:///y"}}));
              }),
              HasSubstr("prop 'webhook.url' has no host"));
  EXPECT_THAT(RejectionOf([] {
                ReadWebhookSettings(Props({{"webhook.url", "http://a b/"}}));
              }),
              HasSubstr("prop 'webhook.url' must not contain spaces"));
  EXPECT_EQ(RejectionOf([] {
              ReadWebhookSettings(Props({{"webhook.timeout_ms", "soon"}}));
            }),
            "prop 'webhook.timeout_ms' must be an integer, got 'soon'");
  EXPECT_THAT(RejectionOf([] {
                ReadWebhookSettings(Props({{"webhook.timeout", "100"}}));
              }),
              HasSubstr("unknown prop 'webhook.timeout' (known: webhook.url, "));
  // Props outside webhook.* belong to the executor: not looked at.
  EXPECT_EQ(RejectionOf([] { ReadWebhookSettings(Props({{"script.command.line", "x"}})); }), "");
}

TEST(WebhookHandlerTest, TheConstructorRejectsBadSenderPropsNamingThem) {
  RecordingLogger logger;
  for (const auto& [key, value, expected] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"webhook.max_attempts", "0",
            "prop 'webhook.max_attempts' must be between 1 and 100, got 0"},
           {"webhook.queue_size", "x", "prop 'webhook.queue_size' must be an integer, got 'x'"},
           {"webhook.backoff_ms", "-1", "prop 'webhook.backoff_ms' must be between 0"},
           {"webhook.shutdown_timeout_ms", "1.5",
            "prop 'webhook.shutdown_timeout_ms' must be an integer"},
       }) {
    spi::Properties props = Props({{key, value}});
    spi::PluginContext context{props, logger, "order-sync"};
    EXPECT_THAT(RejectionOf([&] { WebhookErrorHandler handler(context); }), HasSubstr(expected));
  }
}

TEST(WebhookHandlerTest, BuildsAndStopsWithGoodProps) {
  RecordingLogger logger;
  spi::Properties props = Props({{"webhook.headers", "X-Team: ops"},
                                 {"webhook.max_attempts", "5"},
                                 {"webhook.backoff_ms", "10"},
                                 {"webhook.queue_size", "7"},
                                 {"webhook.shutdown_timeout_ms", "100"},
                                 {"webhook.timeout_ms", "250"}});
  spi::PluginContext context{props, logger, "order-sync"};
  WebhookErrorHandler handler(context);
}

}  // namespace
}  // namespace shardjob::error_handlers
