#include "executors/http/http_executor.h"

#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "executors/http/http_url.h"
#include "executors/http/request_headers.h"
#include "local_http_server.h"
#include "shardjob/spi/plugin.h"

namespace shardjob::executors {
namespace {

using shardjob::testing::LocalHttpServer;
using shardjob::testing::PercentDecode;
using shardjob::testing::QueryParameter;
using shardjob::testing::ReceivedRequest;
using shardjob::testing::Reply;
using ::testing::HasSubstr;
using ::testing::Not;
using Code = spi::Status::Code;

class RecordingLogger : public spi::Logger {
 public:
  void Log(spi::LogLevel /*level*/, std::string_view message) override {
    std::lock_guard<std::mutex> lock(mutex_);
    lines_.emplace_back(message);
  }
  std::vector<std::string> lines() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

// A context whose strings need escaping in JSON and encoding in a query.
spi::ShardingContext MakeContext(const spi::Cancellation* cancellation) {
  spi::ShardingContext context;
  context.job_name = "orders";
  context.fire_id = "1700000000000";
  context.task_id = "orders@-@1700000000000@-@2@-@host-1";
  context.instance_id = "host-1";
  context.sharding_total_count = 4;
  context.sharding_item = 2;
  context.sharding_parameter = "Guangzhou & \"south\"";
  context.job_parameter = "a=b&c=d e+f/é?#";
  context.fencing_token = 42;
  context.cancellation = cancellation;
  return context;
}

class HttpExecutorTest : public ::testing::Test {
 protected:
  HttpExecutor Make(std::map<std::string, std::string> props) {
    props_ = spi::Properties(std::move(props));
    return HttpExecutor(spi::PluginContext{props_, logger_, "orders"});
  }
  spi::Status Run(HttpExecutor& executor) {
    return executor.Execute(nullptr, MakeContext(&cancellation_));
  }
  // The message of the std::invalid_argument the props raise, or "" when they are accepted.
  std::string Rejection(std::map<std::string, std::string> props) {
    try {
      Make(std::move(props));
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "";
  }

  spi::Properties props_;
  RecordingLogger logger_;
  spi::Cancellation cancellation_;
};

TEST_F(HttpExecutorTest, GetSendsTheContextAsHeaderAndAsQueryParameter) {
  LocalHttpServer server;
  HttpExecutor executor = Make({{"http.uri", server.Url("/run")}, {"http.method", "GET"}});
  ASSERT_TRUE(Run(executor).ok());

  const std::vector<ReceivedRequest> requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const ReceivedRequest& request = requests[0];
  const std::string json = spi::ToJson(MakeContext(&cancellation_));
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.Header("shardingContext"), json);
  EXPECT_EQ(request.CountHeaders("shardingContext"), 1u);
  EXPECT_EQ(request.target.rfind("/run?shardingContext=", 0), 0u) << request.target;
  EXPECT_EQ(PercentDecode(QueryParameter(request.target, "shardingContext")), json);
  EXPECT_TRUE(request.body.empty());

  // ElasticJob's field names, parsed as JSON rather than compared as text.
  const nlohmann::json parsed = nlohmann::json::parse(request.Header("shardingContext"));
  EXPECT_EQ(parsed["jobName"], "orders");
  EXPECT_EQ(parsed["shardingItem"], 2);
  EXPECT_EQ(parsed["shardingTotalCount"], 4);
  EXPECT_EQ(parsed["shardingParameter"], "Guangzhou & \"south\"");
  EXPECT_EQ(parsed["jobParameter"], "a=b&c=d e+f/é?#");
  EXPECT_EQ(parsed["fencingToken"], 42);
}

TEST_F(HttpExecutorTest, GetAppendsToAnExistingQueryAndDropsTheFragment) {
  LocalHttpServer server;
  HttpExecutor executor = Make({{"http.uri", server.Url("/run?tenant=eu&x=1#part")},
                                {"http.method", "get"},
                                {"http.headers", "X-Tenant: eu; X-Trace: on"}});
  ASSERT_TRUE(Run(executor).ok());

  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].method, "GET");
  EXPECT_EQ(server.requests()[0].Header("X-Tenant"), "eu");
  EXPECT_EQ(server.requests()[0].Header("X-Trace"), "on");
  const std::string target = server.requests()[0].target;
  EXPECT_EQ(target.rfind("/run?tenant=eu&x=1&shardingContext=", 0), 0u) << target;
  EXPECT_THAT(target, Not(HasSubstr("#")));
  EXPECT_EQ(QueryParameter(target, "tenant"), "eu");
  EXPECT_EQ(PercentDecode(QueryParameter(target, "shardingContext")),
            spi::ToJson(MakeContext(&cancellation_)));
}

TEST_F(HttpExecutorTest, PostSendsBodyContentTypeAndHeaders) {
  LocalHttpServer server;
  HttpExecutor executor = Make({{"http.uri", server.Url("/jobs?tenant=eu")},
                                {"http.method", "POST"},
                                {"http.data", R"({"full":true})"},
                                {"http.content.type", "application/json; charset=utf-8"},
                                {"http.headers",
                                 "Authorization: Bearer abc123\n"
                                 "  Cookie: a=1; b=2  \r\n"
                                 "\n"
                                 "X-Empty:\n"
                                 "X-Twice: 1\n"
                                 "X-Twice: 2\n"}});
  ASSERT_TRUE(Run(executor).ok());

  ASSERT_EQ(server.requests().size(), 1u);
  const ReceivedRequest request = server.requests()[0];
  EXPECT_EQ(request.method, "POST");
  // No query parameter for anything but GET.
  EXPECT_EQ(request.target, "/jobs?tenant=eu");
  EXPECT_EQ(request.body, R"({"full":true})");
  EXPECT_EQ(request.Header("Content-Type"), "application/json; charset=utf-8");
  EXPECT_EQ(request.CountHeaders("Content-Type"), 1u);
  EXPECT_EQ(request.Header("Authorization"), "Bearer abc123");
  EXPECT_EQ(request.Header("Cookie"), "a=1; b=2");
  bool found = false;
  EXPECT_EQ(request.Header("X-Empty", &found), "");
  EXPECT_TRUE(found);
  EXPECT_EQ(request.CountHeaders("X-Twice"), 2u);
  EXPECT_EQ(request.Header("shardingContext"), spi::ToJson(MakeContext(&cancellation_)));
  // libcurl's "Expect: 100-continue" would make some servers stall the request.
  EXPECT_EQ(request.CountHeaders("Expect"), 0u);
}

TEST_F(HttpExecutorTest, EveryMethodIsSentWithItsBodyRules) {
  LocalHttpServer server;
  struct Case {
    std::string method, data, expected_body;
    bool has_length;
  };
  const std::vector<Case> cases = {
      {"PUT", "put-body", "put-body", true},
      {"PATCH", "patch-body", "patch-body", true},
      {"DELETE", "del-body", "del-body", true},
      {"DELETE", "", "", false},
      {"POST", "", "", true},
      {"HEAD", "ignored", "", false},
  };
  for (const Case& c : cases) {
    HttpExecutor executor =
        Make({{"http.uri", server.Url("/m")}, {"http.method", c.method}, {"http.data", c.data}});
    ASSERT_TRUE(Run(executor).ok()) << c.method;
  }
  const std::vector<ReceivedRequest> requests = server.requests();
  ASSERT_EQ(requests.size(), cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].method + " '" + cases[i].data + "'");
    EXPECT_EQ(requests[i].method, cases[i].method);
    EXPECT_EQ(requests[i].target, "/m");
    EXPECT_EQ(requests[i].body, cases[i].expected_body);
    EXPECT_EQ(requests[i].CountHeaders("Content-Length"), cases[i].has_length ? 1u : 0u);
    EXPECT_EQ(requests[i].CountHeaders("shardingContext"), 1u);
  }
}

TEST_F(HttpExecutorTest, DataWithGetIsNotSentAndWarnedAbout) {
  LocalHttpServer server;
  HttpExecutor executor =
      Make({{"http.uri", server.Url("/")}, {"http.method", "GET"}, {"http.data", "lost"}});
  EXPECT_THAT(logger_.lines(), ::testing::Contains(HasSubstr("http.data is not sent with GET")));
  ASSERT_TRUE(Run(executor).ok());
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].body, "");
  EXPECT_EQ(server.requests()[0].CountHeaders("Content-Length"), 0u);
}

TEST_F(HttpExecutorTest, ServerErrorFailsWithStatusUrlAndBody) {
  LocalHttpServer server(Reply{500, "database\r\n    is\tdown\n", {}, false});
  HttpExecutor executor = Make(
      {{"http.uri", server.Url("/run?token=secret")}, {"http.method", "POST"}, {"http.data", "x"}});
  const spi::Status status = Run(executor);
  EXPECT_EQ(status.code(), Code::kFailed);
  EXPECT_THAT(status.message(), HasSubstr("POST " + server.Url("/run")));
  EXPECT_THAT(status.message(), HasSubstr("HTTP 500"));
  // One line, however the body was laid out.
  EXPECT_THAT(status.message(), ::testing::EndsWith("HTTP 500: database is down"));
  // The query may carry secrets; the message goes on to error handlers and alerts.
  EXPECT_THAT(status.message(), Not(HasSubstr("secret")));
}

TEST_F(HttpExecutorTest, NotFoundIsAFailureToo) {
  LocalHttpServer server(Reply{404, "", {}, false});
  HttpExecutor executor = Make({{"http.uri", server.Url("/nope")}, {"http.method", "GET"}});
  const spi::Status status = Run(executor);
  EXPECT_EQ(status.code(), Code::kFailed);
  EXPECT_THAT(status.message(), HasSubstr("HTTP 404: (empty body)"));
}

TEST_F(HttpExecutorTest, OnlyTheFirstKibOfALongBodyIsKept) {
  LocalHttpServer server(Reply{500, std::string(5000, 'x') + "TAIL", {}, false});
  HttpExecutor executor = Make({{"http.uri", server.Url("/")}, {"http.method", "GET"}});
  const spi::Status status = Run(executor);
  EXPECT_EQ(status.code(), Code::kFailed);
  EXPECT_THAT(status.message(), HasSubstr(std::string(1024, 'x') + "... (5004 bytes in all)"));
  EXPECT_THAT(status.message(), Not(HasSubstr(std::string(1025, 'x'))));
  EXPECT_THAT(status.message(), Not(HasSubstr("TAIL")));
}

TEST_F(HttpExecutorTest, RedirectIsAFailureAndIsNotFollowed) {
  LocalHttpServer server(Reply{302, "", {"Location: /elsewhere?token=secret"}, false});
  HttpExecutor executor = Make({{"http.uri", server.Url("/old")}, {"http.method", "GET"}});
  const spi::Status status = Run(executor);
  EXPECT_EQ(status.code(), Code::kFailed);
  EXPECT_THAT(status.message(), HasSubstr("HTTP 302"));
  EXPECT_THAT(status.message(), HasSubstr("redirect to " + server.Url("/elsewhere")));
  EXPECT_THAT(status.message(), Not(HasSubstr("secret")));
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(HttpExecutorTest, SilentServerFailsAfterTheReadTimeout) {
  LocalHttpServer server(Reply{200, "", {}, /*hang=*/true});
  HttpExecutor executor = Make({{"http.uri", server.Url("/slow")},
                                {"http.method", "GET"},
                                {"http.read.timeout.milliseconds", "200"}});
  const spi::Status status = Run(executor);
  EXPECT_EQ(status.code(), Code::kTimedOut);
  EXPECT_THAT(status.message(), HasSubstr("http.read.timeout.milliseconds"));
  EXPECT_THAT(status.message(), HasSubstr(server.Url("/slow")));
  // The executor hung up rather than leaving the connection open.
  EXPECT_TRUE(server.WaitForAbandoned(1));
}

TEST_F(HttpExecutorTest, CancellationStopsAHangingRequest) {
  LocalHttpServer server(Reply{200, "", {}, /*hang=*/true});
  // No read timeout: only the cancellation can end this request.
  HttpExecutor executor = Make({{"http.uri", server.Url("/hang")},
                                {"http.method", "GET"},
                                {"http.read.timeout.milliseconds", "0"}});
  std::future<spi::Status> result = std::async(std::launch::async, [&] { return Run(executor); });
  ASSERT_TRUE(server.WaitForRequests(1));
  cancellation_.Cancel();
  // A bound, not a measurement: a broken cancellation fails here instead of hanging the suite.
  ASSERT_EQ(result.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  const spi::Status status = result.get();
  EXPECT_EQ(status.code(), Code::kCancelled) << status.ToString();
  EXPECT_TRUE(server.WaitForAbandoned(1));
}

TEST_F(HttpExecutorTest, CancelledBeforeStartSendsNothing) {
  LocalHttpServer server;
  HttpExecutor executor = Make({{"http.uri", server.Url("/")}, {"http.method", "GET"}});
  cancellation_.Cancel();
  EXPECT_EQ(Run(executor).code(), Code::kCancelled);
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpExecutorTest, RefusedConnectionIsUnavailable) {
  int port = 0;
  {
    // A port that was free a moment ago and has no listener now.
    LocalHttpServer closed;
    port = closed.port();
  }
  HttpExecutor executor = Make(
      {{"http.uri", "http://127.0.0.1:" + std::to_string(port) + "/"}, {"http.method", "GET"}});
  const spi::Status status = Run(executor);
  EXPECT_EQ(status.code(), Code::kUnavailable) << status.ToString();
  EXPECT_THAT(status.message(), HasSubstr("GET http://127.0.0.1:" + std::to_string(port)));
}

TEST_F(HttpExecutorTest, BadPropsAreRejectedNamingTheProp) {
  const std::string uri = "http://127.0.0.1:1/";
  EXPECT_THAT(Rejection({{"http.method", "GET"}}), HasSubstr("'http.uri' is required"));
  EXPECT_THAT(Rejection({{"http.uri", uri}}), HasSubstr("'http.method' is required"));
  EXPECT_THAT(
      Rejection({{"http.uri", uri}, {"http.method", "FETCH"}}),
      HasSubstr("'http.method' is 'FETCH'; expected GET, HEAD, POST, PUT, DELETE or PATCH"));
  EXPECT_THAT(Rejection({{"http.uri", "ftp://example.com/x"}, {"http.method", "GET"}}),
              HasSubstr("'http.uri': 'ftp://example.com/x' is not an http:// or https:// URL"));
  EXPECT_THAT(Rejection({{"http.uri", "example.com/x"}, {"http.method", "GET"}}),
              HasSubstr("'http.uri': 'example.com/x' is not a URL"));
  EXPECT_THAT(Rejection({{"http.uri", "http://exa mple.com/"}, {"http.method", "GET"}}),
              HasSubstr("'http.uri'"));
  EXPECT_THAT(
      Rejection(
          {{"http.uri", uri}, {"http.method", "GET"}, {"http.connect.timeout.milliseconds", "0"}}),
      HasSubstr("http.connect.timeout.milliseconds"));
  EXPECT_THAT(
      Rejection(
          {{"http.uri", uri}, {"http.method", "GET"}, {"http.read.timeout.milliseconds", "soon"}}),
      HasSubstr("http.read.timeout.milliseconds"));
  EXPECT_THAT(Rejection({{"http.uri", uri}, {"http.method", "GET"}, {"http.read.timeout", "1"}}),
              HasSubstr("'http.read.timeout' is not an HTTP job prop"));
  EXPECT_THAT(
      Rejection({{"http.uri", uri}, {"http.method", "GET"}, {"http.headers", "X-A: 1\nno colon"}}),
      HasSubstr("'http.headers': header 2 ('no colon') is not 'Name: value'"));
  EXPECT_THAT(
      Rejection(
          {{"http.uri", uri}, {"http.method", "GET"}, {"http.headers", "shardingContext: {}"}}),
      HasSubstr("'http.headers': header 1 ('shardingContext') names a header the executor"));
  EXPECT_THAT(Rejection({{"http.uri", uri}, {"http.method", "GET"}, {"http.content.type", "a\nb"}}),
              HasSubstr("'http.content.type' holds a control character"));
  // Other props belong to others (listeners, the job): they are left alone.
  EXPECT_EQ(Rejection({{"http.uri", uri}, {"http.method", "GET"}, {"record.file", "/tmp/x"}}), "");
}

TEST_F(HttpExecutorTest, TheFactoryReportsBadPropsToTheKernel) {
  spi::Properties props(std::map<std::string, std::string>{{"http.method", "GET"}});
  std::string error;
  spi::JobExecutor* executor = spi::CreatePluginObject<spi::JobExecutor, HttpExecutor>(
      spi::PluginContext{props, logger_, "orders"}, &error);
  EXPECT_EQ(executor, nullptr);
  EXPECT_THAT(error, HasSubstr("'http.uri' is required"));
}

TEST(RequestHeadersTest, OneLineEntriesAreSeparatedBySemicolons) {
  std::vector<HttpHeader> headers;
  std::string error;
  ASSERT_TRUE(ParseRequestHeaders("A: 1;  B:\t two words\t;; C:", &headers, &error)) << error;
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[0].name, "A");
  EXPECT_EQ(headers[0].value, "1");
  EXPECT_EQ(headers[1].name, "B");
  EXPECT_EQ(headers[1].value, "two words");
  EXPECT_EQ(headers[2].name, "C");
  EXPECT_EQ(headers[2].value, "");
}

TEST(RequestHeadersTest, WithALineBreakEachLineIsOneEntry) {
  std::vector<HttpHeader> headers;
  std::string error;
  ASSERT_TRUE(ParseRequestHeaders("Cookie: a=1; b=2\r\n\n  X-Id: 7  \n", &headers, &error))
      << error;
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[0].name, "Cookie");
  EXPECT_EQ(headers[0].value, "a=1; b=2");
  EXPECT_EQ(headers[1].name, "X-Id");
  EXPECT_EQ(headers[1].value, "7");
}

TEST(RequestHeadersTest, RefusesWhatWouldBreakTheRequest) {
  const std::pair<std::string, std::string> bad[] = {
      {"Bearer x", "header 1 ('Bearer x') is not 'Name: value'"},
      {"A: 1; : x", "header 2 has an empty name"},
      {"A B: x", "header 1 ('A B') has a character not allowed in a header name"},
      {"X: 1\nA\x01: x", "header 2 ('A\x01') has a character not allowed"},
      {"A: x\x01y", "header 1 ('A') has a control character in its value"},
      {"content-length: 3", "('content-length') names a header the executor sets itself"},
      {"Transfer-Encoding: chunked", "names a header the executor sets itself"},
      {"CONTENT-TYPE: text/plain", "names a header the executor sets itself"},
      {"ShardingContext: {}", "names a header the executor sets itself"},
  };
  for (const auto& [text, expected] : bad) {
    std::vector<HttpHeader> headers;
    std::string error;
    EXPECT_FALSE(ParseRequestHeaders(text, &headers, &error)) << text;
    EXPECT_THAT(error, HasSubstr(expected)) << text;
  }
  // The value is left out of the message: it is often a secret.
  std::vector<HttpHeader> headers;
  std::string error;
  EXPECT_FALSE(ParseRequestHeaders("Authorization: s3cret\x01", &headers, &error));
  EXPECT_THAT(error, Not(HasSubstr("s3cret")));
}

TEST(HttpUrlTest, AppendsTheParameterWhereverTheQueryStands) {
  EXPECT_EQ(HttpUrl("http://h/p").WithQueryParameter("k", "v"), "http://h/p?k=v");
  EXPECT_EQ(HttpUrl("http://h/p?a=1").WithQueryParameter("k", "v"), "http://h/p?a=1&k=v");
  EXPECT_EQ(HttpUrl("http://h/p?a=1#f").WithQueryParameter("k", "v"), "http://h/p?a=1&k=v#f");
  EXPECT_EQ(HttpUrl("http://h").WithQueryParameter("k", "v"), "http://h/?k=v");
  EXPECT_EQ(HttpUrl("http://h/p?").WithQueryParameter("k", "v"), "http://h/p?k=v");
  EXPECT_EQ(HttpUrl("http://h/p?a=1&").WithQueryParameter("k", "v"), "http://h/p?a=1&k=v");
  EXPECT_EQ(HttpUrl("http://h/p#f?x").WithQueryParameter("k", "v"), "http://h/p?k=v#f?x");
  EXPECT_EQ(HttpUrl("https://h:8443/p").WithQueryParameter("k", "{\"a\": 1}"),
            "https://h:8443/p?k=%7B%22a%22%3A%201%7D");
}

TEST(HttpUrlTest, RedactedDropsCredentialsQueryAndFragment) {
  const HttpUrl url("https://user:pw@example.com:8443/hook/x?token=t#frag");
  EXPECT_EQ(url.redacted(), "https://example.com:8443/hook/x");
  EXPECT_EQ(url.full(), "https://user:pw@example.com:8443/hook/x?token=t#frag");
}

TEST(HttpUrlTest, PercentEncodeKeepsOnlyUnreservedBytes) {
  EXPECT_EQ(PercentEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(PercentEncode("a b+c&d=e/f?g#h%"), "a%20b%2Bc%26d%3De%2Ff%3Fg%23h%25");
  EXPECT_EQ(PercentEncode("é"), "%C3%A9");
}

}  // namespace
}  // namespace shardjob::executors
