// EMAIL: props, addresses and the mail as sent (delivery is in alerts_e2e.py).

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plugins/error-handlers/email/email_error_handler.h"
#include "plugins/error-handlers/email/mail_message.h"
#include "tests/alerts/test_logger.h"

namespace shardjob::error_handlers {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

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
  values.emplace("email.host", "smtp.example.com");
  values.emplace("email.from", "shardjob@example.com");
  values.emplace("email.to", "ops@example.com");
  return spi::Properties(std::move(values));
}

TEST(EmailSettingsTest, ElasticJobsDefaults) {
  EmailSettings settings = ReadEmailSettings(Props({}));
  EXPECT_TRUE(settings.smtp.use_ssl);
  EXPECT_EQ(settings.smtp.port, 465);
  EXPECT_EQ(settings.subject, "ElasticJob error message");
  EXPECT_FALSE(settings.smtp.debug);
  EXPECT_TRUE(settings.smtp.username.empty());
  EXPECT_EQ(settings.smtp.connect_timeout, std::chrono::milliseconds(3000));
  EXPECT_EQ(settings.smtp.timeout, std::chrono::milliseconds(13000));
  EXPECT_EQ(ReadEmailSettings(Props({{"email.useSsl", "false"}})).smtp.port, 25);
}

TEST(EmailSettingsTest, CommaSeparatedRecipients) {
  EmailSettings settings = ReadEmailSettings(Props({{"email.to", "a@x.io, Ops Team <b@y.io>,"},
                                                    {"email.cc", "c@x.io"},
                                                    {"email.bcc", " d@x.io ,e@x.io"}}));
  EXPECT_EQ(settings.to, (std::vector<std::string>{"a@x.io", "Ops Team <b@y.io>"}));
  EXPECT_EQ(settings.cc, (std::vector<std::string>{"c@x.io"}));
  EXPECT_EQ(settings.bcc, (std::vector<std::string>{"d@x.io", "e@x.io"}));
}

TEST(EmailSettingsTest, RejectsBadPropsNamingThem) {
  EXPECT_EQ(RejectionOf([] { ReadEmailSettings(spi::Properties()); }),
            "prop 'email.host' is required");
  EXPECT_EQ(RejectionOf([] {
              ReadEmailSettings(spi::Properties({{"email.host", "h"}, {"email.from", "a@b"}}));
            }),
            "prop 'email.to' is required");
  EXPECT_EQ(RejectionOf([] {
              ReadEmailSettings(Props({{"email.to", " , "}}));
            }),
            "prop 'email.to' is required");
  EXPECT_THAT(RejectionOf([] {
                ReadEmailSettings(Props({{"email.cc", "ops, b@c"}}));
              }),
              HasSubstr("prop 'email.cc': 'ops' is not a mail address"));
  EXPECT_THAT(RejectionOf([] {
                ReadEmailSettings(Props({{"email.from", "a@b\r\nBcc: x@y"}}));
              }),
              HasSubstr("prop 'email.from' has a control character"));
  EXPECT_EQ(RejectionOf([] {
              ReadEmailSettings(Props({{"email.useSsl", "yes"}}));
            }),
            "prop 'email.useSsl' must be true or false, got 'yes'");
  EXPECT_THAT(RejectionOf([] {
                ReadEmailSettings(Props({{"email.port", "70000"}}));
              }),
              HasSubstr("prop 'email.port' must be between 1 and 65535"));
  EXPECT_THAT(RejectionOf([] {
                ReadEmailSettings(Props({{"email.host", "smtp://h"}}));
              }),
              HasSubstr("prop 'email.host' must be a host name or address"));
  EXPECT_EQ(RejectionOf([] {
              ReadEmailSettings(Props({{"email.password", "p"}}));
            }),
            "prop 'email.password' is set but 'email.username' is not");
  EXPECT_THAT(RejectionOf([] {
                ReadEmailSettings(Props({{"email.ssl.trust", "*"}}));
              }),
              HasSubstr("prop 'email.ssl.trust' is not supported"));
  EXPECT_THAT(RejectionOf([] {
                ReadEmailSettings(Props({{"email.subjct", "x"}}));
              }),
              HasSubstr("unknown prop 'email.subjct'"));
  RecordingLogger logger;
  spi::Properties props = Props({{"email.backoffMilliseconds", "x"}});
  spi::PluginContext context{props, logger, "order-sync"};
  EXPECT_EQ(RejectionOf([&] { EmailErrorHandler handler(context); }),
            "prop 'email.backoffMilliseconds' must be an integer, got 'x'");
}

TEST(MailAddressTest, EnvelopeTakesTheAngleBracketPart) {
  EXPECT_EQ(EnvelopeAddress("a@x.io"), "<a@x.io>");
  EXPECT_EQ(EnvelopeAddress("Ops Team <b@y.io>"), "<b@y.io>");
  EXPECT_EQ(SplitAddresses(""), std::vector<std::string>{});
}

TEST(MailMessageTest, HeadersAndBody) {
  EmailSettings settings = ReadEmailSettings(Props({{"email.to", "a@x.io, b@x.io"},
                                                    {"email.cc", "c@x.io"},
                                                    {"email.bcc", "secret@x.io"},
                                                    {"email.subject", "Job failed"}}));
  Alert alert{spi::JobError{"order-sync", "1700000000000", 2, "host@1@ab", "exit code 3"},
              std::chrono::system_clock::time_point{std::chrono::milliseconds(1700000000123)}};
  MailMessage mail = AlertMail(settings, alert, "<1.2@example.com>");
  mail.date = std::chrono::system_clock::time_point{std::chrono::seconds(1700000000)};
  EXPECT_EQ(FormatMailMessage(mail),
            "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
            "From: shardjob@example.com\r\n"
            "To: a@x.io, b@x.io\r\n"
            "Cc: c@x.io\r\n"
            "Subject: Job failed\r\n"
            "Message-ID: <1.2@example.com>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=UTF-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n"
            "\r\n"
            "Job 'order-sync' exception occur in job processing, caused by exit code 3\r\n"
            "fire: 1700000000000, shard: 2, instance: host@1@ab, time: 2023-11-14T22:13:=\r\n"
            "20.123Z\r\n");
}

TEST(MailMessageTest, DatesAreEnglishAndUtc) {
  EXPECT_EQ(FormatMailDate(std::chrono::system_clock::time_point{std::chrono::seconds(0)}),
            "Thu, 01 Jan 1970 00:00:00 +0000");
}

TEST(QuotedPrintableTest, EncodesWhatSevenBitRelaysWouldMangle) {
  EXPECT_EQ(QuotedPrintable("a=b"), "a=3Db");
  EXPECT_EQ(QuotedPrintable("h\xc3\xa9llo"), "h=C3=A9llo");
  EXPECT_EQ(QuotedPrintable("trailing \nnext\t"), "trailing=20\r\nnext=09");
  EXPECT_EQ(QuotedPrintable("one\r\ntwo\n"), "one\r\ntwo\r\n");
  EXPECT_EQ(QuotedPrintable(".starts with a dot"), ".starts with a dot");  // libcurl dot-stuffs
}

TEST(QuotedPrintableTest, BreaksLongLinesSoftlyAt76) {
  std::string encoded = QuotedPrintable(std::string(100, 'a') + "\xff");
  EXPECT_EQ(encoded, std::string(75, 'a') + "=\r\n" + std::string(25, 'a') + "=FF");
  // An escape is never cut by a soft break.
  encoded = QuotedPrintable(std::string(74, 'a') + "=");
  EXPECT_EQ(encoded, std::string(74, 'a') + "=\r\n=3D");
}

TEST(HeaderTextTest, PlainAsciiStaysAsIs) {
  EXPECT_EQ(EncodeHeaderText("ElasticJob error message"), "ElasticJob error message");
}

TEST(HeaderTextTest, OtherTextBecomesEncodedWordsSplitOnCharacterBoundaries) {
  EXPECT_EQ(EncodeHeaderText("\xe4\xbd\x9c\xe4\xb8\x9a\xe5\xa4\xb1\xe8\xb4\xa5"),  // 作业失败
            "=?UTF-8?B?5L2c5Lia5aSx6LSl?=");
  // "a" + 20 three-byte characters: the first word holds 43 bytes, not 45, so that no
  // character is cut (values computed with Python's base64).
  std::string text = "a";
  for (int i = 0; i < 2; ++i) {
    text +=
        "\xe4\xbd\x9c\xe4\xb8\x9a\xe5\xa4\xb1\xe8\xb4\xa5\xe4\xba\x86"
        "\xe8\xaf\xb7\xe6\xa3\x80\xe6\x9f\xa5\xe6\x97\xa5\xe5\xbf\x97";
  }
  EXPECT_EQ(EncodeHeaderText(text),
            "=?UTF-8?B?YeS9nOS4muWksei0peS6huivt+ajgOafpeaXpeW/l+S9nOS4muWksei0pQ==?=\r\n"
            " =?UTF-8?B?5LqG6K+35qOA5p+l5pel5b+X?=");
}

TEST(HeaderTextTest, ALineBreakCannotStartANewHeader) {
  std::string encoded = EncodeHeaderText("x\r\nBcc: victim@example.com");
  EXPECT_THAT(encoded, Not(HasSubstr("\n")));
  EXPECT_THAT(encoded, HasSubstr("=?UTF-8?B?"));
}

}  // namespace
}  // namespace shardjob::error_handlers
