// A real server with the /api routes under a seeded barrage of malformed requests: every answer
// must be a 2xx or 4xx with a JSON body (an error document for a 4xx), never a 5xx or silence,
// and the server must still answer afterwards.

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/api_routes.h"
#include "api/fake_history.h"
#include "http/http_server.h"
#include "http/router.h"
#include "registry/embedded_registry.h"
#include "support/http_client.h"

namespace shardjob::api {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxBody = 256 * 1024;
constexpr int kRequests = 2000;
constexpr auto kTimeBudget = std::chrono::seconds(20);

struct Reply {
  int status = 0;  // 0: no answer
  std::string body;
  std::string raw;  // everything received
};

// Sends `raw` as is (half-closing after it when `half_close`), reading the answer while
// sending, so that a server that answers before the body is in (a 413) is still heard.
Reply Exchange(const std::string& address, const std::string& raw, bool half_close) {
  Reply reply;
  const std::size_t colon = address.rfind(':');
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
  peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return reply;
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  if (connect(fd, reinterpret_cast<const sockaddr*>(&peer), sizeof(peer)) != 0) return reply;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  std::size_t sent = 0;
  bool shut = false;
  std::string received;
  while (Clock::now() < deadline) {
    if (sent == raw.size() && half_close && !shut) {
      shutdown(fd, SHUT_WR);
      shut = true;
    }
    pollfd poll_fd{fd, static_cast<short>(POLLIN | (sent < raw.size() ? POLLOUT : 0)), 0};
    if (poll(&poll_fd, 1, 100) < 0) break;
    if (poll_fd.revents & POLLIN || poll_fd.revents & (POLLHUP | POLLERR)) {
      char buffer[16384];
      const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
      if (n > 0) {
        received.append(buffer, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) break;
    }
    if (sent < raw.size() && (poll_fd.revents & POLLOUT)) {
      const ssize_t n = send(fd, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        sent = raw.size();  // the server stopped reading: wait for its answer
      }
    }
  }
  reply.raw = received;
  const std::size_t end_of_headers = received.find("\r\n\r\n");
  if (received.compare(0, 9, "HTTP/1.1 ") != 0 || end_of_headers == std::string::npos) {
    return reply;
  }
  reply.status = std::stoi(received.substr(9, 3));
  reply.body = received.substr(end_of_headers + 4);
  return reply;
}

std::string Request(const std::string& method, const std::string& target, const std::string& body,
                    const std::string& host, const std::string& extra = "",
                    const char* content_type = "application/json") {
  std::string raw =
      method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n";
  if (!body.empty() && content_type != nullptr) {
    raw += std::string("Content-Type: ") + content_type + "\r\n";
  }
  raw += "Content-Length: " + std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
  return raw;
}

json BaseConfig(const std::string& name) {
  return json{{"name", name},
              {"type", "SCRIPT"},
              {"cron", "0/5 * * * * ?"},
              {"sharding_total_count", 2},
              {"props", {{"script.command.line", "/bin/true"}}}};
}

// Every key the loader knows: a key added later is fuzzed too.
const std::vector<std::string> kConfigKeys = config::JobConfigKeys();

// Values of every JSON type, and numbers at and past the edges.
const std::vector<std::string> kOddValues = {"null",
                                             "true",
                                             "false",
                                             "0",
                                             "-1",
                                             "1.5",
                                             "-0",
                                             "1e308",
                                             "-1e308",
                                             "1e999",
                                             "2147483648",
                                             "-2147483649",
                                             "9223372036854775807",
                                             "-9223372036854775809",
                                             "18446744073709551616",
                                             "123456789012345678901234567890",
                                             "\"\"",
                                             "\"x\"",
                                             "\"-5\"",
                                             "\"1e9\"",
                                             "\"P1D\"",
                                             "\"99999999999999999999ms\"",
                                             "\"-1s\"",
                                             "[]",
                                             "[1,\"a\"]",
                                             "{}",
                                             "{\"a\":{\"b\":[]}}",
                                             "\"\\u0000\"",
                                             "\"\\ud800\"",
                                             "\"$\"",
                                             "\"${X}\"",
                                             "\"a\\nb\"",
                                             "[[[[[[[[[[]]]]]]]]]]"};

class Fuzzer {
 public:
  Fuzzer(std::string address, std::uint64_t seed) : address_(std::move(address)), random_(seed) {}

  void Run() {
    const std::vector<std::pair<std::string, std::function<void()>>> classes = {
        {"malformed_json", [this] { MalformedJson(); }},
        {"truncated_body", [this] { TruncatedBody(); }},
        {"oversized_body", [this] { OversizedBody(); }},
        {"deep_nesting", [this] { DeepNesting(); }},
        {"wrong_types", [this] { WrongTypes(); }},
        {"unknown_fields", [this] { UnknownFields(); }},
        {"bad_utf8", [this] { BadUtf8(); }},
        {"huge_numbers", [this] { HugeNumbers(); }},
        {"path_traversal", [this] { PathTraversal(); }},
        {"bad_methods", [this] { BadMethods(); }},
        {"bad_queries", [this] { BadQueries(); }},
        {"malformed_http", [this] { MalformedHttp(); }},
        {"valid_calls", [this] { ValidCalls(); }},
    };
    const auto start = Clock::now();
    for (int i = 0; i < kRequests && Clock::now() - start < kTimeBudget; ++i) {
      const auto& [name, send] = classes[Pick(classes.size())];
      current_ = name;
      send();
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("api fuzz: %d requests in %.1f s\n", total_, seconds);
    for (const auto& [name, count] : sent_) std::printf("  %-16s %5d\n", name.c_str(), count);
    for (const auto& [status, count] : statuses_)
      std::printf("  status %3d       %5d\n", status, count);
  }

  int total() const { return total_; }
  const std::map<std::string, int>& sent() const { return sent_; }

 private:
  std::size_t Pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(random_);
  }
  template <typename T>
  const T& OneOf(const std::vector<T>& options) {
    return options[Pick(options.size())];
  }

  std::string JobTarget() {
    return OneOf<std::string>({"/api/jobs", "/api/jobs/fuzz-a", "/api/jobs/fuzz-b"});
  }

  // Sends and checks one request.
  void Send(const std::string& raw, bool half_close = false) {
    ++sent_[current_];
    ++total_;
    const Reply reply = Exchange(address_, raw, half_close);
    ++statuses_[reply.status];
    const std::string shown = raw.substr(0, 300);
    ASSERT_NE(reply.status, 0) << current_ << ": no answer to\n" << shown;
    ASSERT_TRUE((reply.status >= 200 && reply.status < 300) ||
                (reply.status >= 400 && reply.status < 500))
        << current_ << ": status " << reply.status << " for\n"
        << shown << "\nanswer: " << reply.body.substr(0, 500);
    if (raw.compare(0, 5, "HEAD ") == 0) return;
    // Paths outside /api ("//api/jobs") get the router's plain 404.
    const std::size_t space = raw.find(' ');
    const bool api_path = space != std::string::npos && raw.compare(space + 1, 4, "/api") == 0;
    if (!api_path && reply.status == 404) return;
    const json body = json::parse(reply.body, nullptr, false);
    ASSERT_FALSE(body.is_discarded())
        << current_ << ": not JSON: " << reply.body.substr(0, 300) << "\nfor\n"
        << shown;
    if (reply.status >= 400) {
      ASSERT_TRUE(body.contains("error") && body["error"]["code"].is_string() &&
                  body["error"]["message"].is_string() && body["error"]["status"] == reply.status)
          << current_ << ": not an error document: " << reply.body.substr(0, 300);
    }
  }

  void SendJson(const std::string& body) {
    const std::string target = JobTarget();
    Send(Request(target == "/api/jobs" ? "POST" : "PUT", target, body, host_));
  }

  void MalformedJson() {
    std::string text = BaseConfig("fuzz-a").dump();
    switch (Pick(4)) {
      case 0:  // truncated
        text.resize(Pick(text.size()));
        break;
      case 1:  // a byte changed
        text[Pick(text.size())] = static_cast<char>(Pick(256));
        break;
      case 2:  // a piece doubled
        text.insert(Pick(text.size()), text.substr(Pick(text.size()), 1 + Pick(8)));
        break;
      default:
        text = OneOf<std::string>({"{", "}", "{\"name\"}", "{'name': 'a'}", "{\"a\":1,}", "nul",
                                   "{\"a\" 1}", "\"unterminated", "[1,2", "{}{}", "{\"a\":01}",
                                   "{\"a\":.5}", "{\"a\":+1}", "{\"a\":NaN}", "{\"a\":Infinity}",
                                   "/* */{}", "\xef\xbb\xbf{}", " "});
    }
    SendJson(text);
  }

  void TruncatedBody() {
    // Content-Length promises more than arrives before the sender half-closes.
    const std::string body = BaseConfig("fuzz-a").dump();
    std::string raw = Request("POST", "/api/jobs", body, host_);
    raw.resize(raw.size() - 1 - Pick(body.size()));
    Send(raw, true);
  }

  void OversizedBody() {
    const std::size_t size = kMaxBody + 1 + Pick(3 * kMaxBody);
    std::string body = "{\"name\":\"" + std::string(size, 'x') + "\"}";
    if (Pick(2) == 0) {
      Send(Request("POST", "/api/jobs", body, host_));
    } else {
      // Chunked: no Content-Length to refuse on sight.
      std::string raw = "POST /api/jobs HTTP/1.1\r\nHost: " + host_ +
                        "\r\nConnection: close\r\nContent-Type: application/json\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n";
      for (std::size_t at = 0; at < body.size(); at += 65536) {
        const std::string chunk = body.substr(at, 65536);
        char size_line[32];
        std::snprintf(size_line, sizeof(size_line), "%zx\r\n", chunk.size());
        raw += size_line + chunk + "\r\n";
      }
      raw += "0\r\n\r\n";
      Send(raw);
    }
  }

  void DeepNesting() {
    const std::size_t depth = 60 + Pick(100000);
    std::string body;
    switch (Pick(3)) {
      case 0:
        body = std::string(depth, '[');
        break;
      case 1:
        body = std::string(depth, '[') + std::string(depth, ']');
        break;
      default: {
        json config = BaseConfig("fuzz-a");
        std::string nested;
        for (std::size_t i = 0; i < depth % 2000; ++i) nested += "{\"a\":";
        nested += "1" + std::string(depth % 2000, '}');
        body = config.dump();
        body.insert(body.size() - 1, ",\"props\":" + nested);
      }
    }
    SendJson(body);
  }

  void WrongTypes() {
    std::string body = BaseConfig("fuzz-" + std::to_string(Pick(50))).dump();
    body.pop_back();
    body += ",\"" + OneOf(kConfigKeys) + "\":" + OneOf(kOddValues) + "}";
    Send(Request("POST", "/api/jobs", body, host_));
  }

  void UnknownFields() {
    const std::string key =
        OneOf<std::string>({"shardingTotalCount", "Name", "name ", "", "__proto__", "props.x",
                            "\\u0000", "nämé", "instance", "jobs"});
    switch (Pick(3)) {
      case 0: {
        std::string body = BaseConfig("fuzz-a").dump();
        body.pop_back();
        Send(Request("POST", "/api/jobs", body + ",\"" + key + "\":1}", host_));
        break;
      }
      case 1:
        Send(Request("POST", "/api/jobs/fuzz-a/shutdown",
                     "{\"instance\":\"x@1@00000000\",\"" + key + "\":true}", host_));
        break;
      default:
        Send(Request("POST",
                     OneOf<std::string>({"/api/jobs/fuzz-a/trigger", "/api/jobs/fuzz-a/enable",
                                         "/api/plugins/rescan", "/api/instances/x/disable"}),
                     "{\"" + key + "\":1}", host_));
    }
  }

  void BadUtf8() {
    const std::string bad = OneOf<std::string>(
        {"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\x80", "\xfe\xfe"});
    switch (Pick(4)) {
      case 0:
        Send(
            Request("POST", "/api/jobs", "{\"name\":\"a" + bad + "\",\"type\":\"SCRIPT\"}", host_));
        break;
      case 1:
        Send(Request("GET", "/api/jobs/a" + bad, "", host_));
        break;
      case 2: {
        std::string encoded;
        for (unsigned char c : bad) {
          char hex[4];
          std::snprintf(hex, sizeof(hex), "%%%02X", c);
          encoded += hex;
        }
        Send(Request("GET",
                     OneOf<std::string>({"/api/jobs/", "/api/history/executions?job=",
                                         "/api/history/status?state="}) +
                         encoded,
                     "", host_));
        break;
      }
      default:
        Send(Request("POST", "/api/jobs/fuzz-a/shutdown", "{\"instance\":\"" + bad + "\"}", host_));
    }
  }

  void HugeNumbers() {
    const std::string number =
        OneOf<std::string>({"-1", "0", "2147483647", "2147483648", "-2147483648", "4294967296",
                            "9223372036854775808", "1e400", "-1e400", "1.0000000000000000001",
                            "0.1e-400", "99999999999999999999999999999999999999"});
    switch (Pick(3)) {
      case 0:
        Send(Request("POST", "/api/jobs",
                     "{\"name\":\"fuzz-n\",\"type\":\"SCRIPT\",\"cron\":\"0/5 * * * * ?\","
                     "\"sharding_total_count\":" +
                         number + "}",
                     host_));
        break;
      case 1:
        Send(Request("POST", "/api/jobs/fuzz-a/shards/" + number + "/disable", "", host_));
        break;
      default:
        Send(Request("GET",
                     "/api/history/executions?" +
                         OneOf<std::string>({"limit=", "offset=", "item=", "since=", "until="}) +
                         number,
                     "", host_));
    }
  }

  void PathTraversal() {
    const std::string target = OneOf<std::string>({"/api/jobs/..%2F..%2Fetc%2Fpasswd",
                                                   "/api/jobs/%2e%2e",
                                                   "/api/jobs/%2E%2E/trigger",
                                                   "/api/jobs/a%2Fb/trigger",
                                                   "/api/jobs/a%2ftrigger",
                                                   "/api/../api/jobs",
                                                   "/api/jobs/%00",
                                                   "/api/jobs/a%00b",
                                                   "/api/jobs/%252F",
                                                   "/api/jobs/.",
                                                   "/api/jobs/..;/x",
                                                   "/api//jobs",
                                                   "/api/jobs/",
                                                   "/api/jobs//trigger",
                                                   "/api/instances/..%2F..%2Fjobs/disable",
                                                   "/api/instances/%2F/shutdown",
                                                   "/api/jobs/fuzz-a/shards/..%2F1/disable",
                                                   "//api/jobs",
                                                   "/api/jobs/%",
                                                   "/api/jobs/%zz",
                                                   "/api/jobs/a%",
                                                   "/API/JOBS",
                                                   "/api/jobs\\..\\x",
                                                   "/api/jobs/" + std::string(300, 'a')});
    Send(Request(OneOf<std::string>({"GET", "POST", "PUT", "DELETE"}), target, "", host_));
  }

  void BadMethods() {
    const std::string method =
        OneOf<std::string>({"PATCH", "OPTIONS", "HEAD", "TRACE", "CONNECT", "FOO", "get", "Post",
                            "PROPFIND", "GETT", "M-SEARCH"});
    Send(Request(method,
                 OneOf<std::string>({"/api", "/api/jobs", "/api/jobs/fuzz-a",
                                     "/api/jobs/fuzz-a/trigger", "/api/history/status"}),
                 Pick(2) ? "" : "{}", host_));
  }

  void BadQueries() {
    const std::string query = OneOf<std::string>({"limit=abc",
                                                  "limit=12abc",
                                                  "limit=-1",
                                                  "limit=1001",
                                                  "limit=",
                                                  "limit=%20",
                                                  "&&&=",
                                                  "=x",
                                                  "%ZZ",
                                                  "limit=1&limit=2",
                                                  "job=%FF",
                                                  "job=..%2F",
                                                  "since=2025-02-30T00:00:00Z",
                                                  "since=2025-11-22T10:00:00",
                                                  "until=0x10",
                                                  "success=TRUE",
                                                  "item=1.0",
                                                  "state=ok",
                                                  "offset=1e3",
                                                  "x",
                                                  "job=a&unknown=1",
                                                  "instance=%2F",
                                                  "fire=" + std::string(300, 'f'),
                                                  "since=99999-01-01T00:00:00Z",
                                                  "since=2025-11-22T10:00:00+25:00"});
    Send(Request("GET",
                 OneOf<std::string>(
                     {"/api/history/executions", "/api/history/status", "/api/jobs", "/api"}) +
                     "?" + query,
                 "", host_));
  }

  void MalformedHttp() {
    std::string raw;
    switch (Pick(8)) {
      case 0:
        raw = "GET /api/jobs HTTP/1.1\r\nHost: " + host_ + "\r\nNo-Colon-Here\r\n\r\n";
        break;
      case 1:
        raw = "GET /api/jobs HTTP/9.9\r\nHost: " + host_ + "\r\n\r\n";
        break;
      case 2:
        raw = "GET /api/jobs HTTP/1.1\r\nHost: " + host_ +
              "\r\nX-Big: " + std::string(20000 + Pick(20000), 'h') + "\r\n\r\n";
        break;
      case 3:
        raw = "POST /api/jobs HTTP/1.1\r\nHost: " + host_ + "\r\nContent-Length: 12abc\r\n\r\n{}";
        break;
      case 4:
        raw = "POST /api/jobs HTTP/1.1\r\nHost: " + host_ +
              "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}"
              "\r\n0\r\n\r\n";
        break;
      case 5:
        raw = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";  // a TLS hello
        break;
      case 6:
        raw = "GET /api/jobs HTTP/1.1\r\nHost: " + host_ +
              "\r\nContent-Length: 1\r\n"
              "Content-Length: 2\r\n\r\nab";
        break;
      default:
        raw = "GET /api" + std::string(1 + Pick(30000), '/') + " HTTP/1.1\r\nHost: " + host_ +
              "\r\n\r\n";
    }
    Send(raw, true);
  }

  void ValidCalls() {
    switch (Pick(6)) {
      case 0:
        Send(Request("POST", "/api/jobs", BaseConfig("fuzz-" + std::to_string(Pick(5))).dump(),
                     host_));
        break;
      case 1:
        Send(Request("POST", "/api/jobs/fuzz-" + std::to_string(Pick(5)) + "/trigger", "", host_));
        break;
      case 2:
        Send(Request("DELETE", "/api/jobs/fuzz-" + std::to_string(Pick(5)), "", host_));
        break;
      case 3:
        Send(Request("GET", "/api/jobs", "", host_));
        break;
      case 4:
        Send(Request("GET", "/api/history/executions?limit=5&since=0", "", host_));
        break;
      default:
        Send(Request("POST", "/api/jobs", BaseConfig("fuzz-a").dump(), host_, "",
                     Pick(2) == 0 ? "text/plain" : nullptr));
    }
  }

  std::string address_;
  std::string host_ = address_;
  std::mt19937_64 random_;
  std::string current_;
  int total_ = 0;
  std::map<std::string, int> sent_;
  std::map<int, int> statuses_;
};

TEST(ApiFuzzTest, MalformedRequestsGetJsonErrorsAndTheServerKeepsServing) {
  registry::EmbeddedStore store;
  std::unique_ptr<registry::Registry> session = store.OpenSession();
  ASSERT_EQ(registry::EnsurePath(*session, "/ns"), registry::Code::kOk);
  operations::ClusterOperations operations(*session, "/ns");
  testing::FakeHistory history;
  http::Router router;
  LocalInstance local;
  local.instance_id = "fuzz@1@00000001";
  AddApiRoutes(router, operations, &history, std::move(local), AccessRules{});
  http::ServerOptions options;
  options.max_body_bytes = kMaxBody;
  http::Server server(
      "127.0.0.1:0", [&router](const http::Request& r) { return router.Route(r); }, options);

  // SHARDJOB_FUZZ_SEED picks another corpus (the default keeps the test deterministic).
  std::uint64_t seed = 20251122;
  if (const char* chosen = std::getenv("SHARDJOB_FUZZ_SEED"))
    seed = std::strtoull(chosen, nullptr, 10);
  std::printf("api fuzz: seed %llu\n", static_cast<unsigned long long>(seed));
  Fuzzer fuzzer(server.address(), seed);
  fuzzer.Run();
  EXPECT_GE(fuzzer.total(), 500) << "the time budget ran out early";
  EXPECT_EQ(fuzzer.sent().size(), 13u) << "every class was sent";

  const shardjob::testing::HttpReply after =
      shardjob::testing::HttpRequest(server.address(), "GET", "/api/jobs");
  EXPECT_EQ(after.status, 200);
  EXPECT_TRUE(json::parse(after.body, nullptr, false).is_array()) << after.body;
}

// What the server answers itself: JSON errors, heard by a client that sends its whole body
// first, and a bound on the requests of one connection.
TEST(ApiServerBoundsTest, TheServerAnswersItsOwnRefusalsInJson) {
  http::Router router;
  router.Add("GET", "/ping", [](const http::Request&) { return http::Response::Json(200, "{}"); });
  http::ServerOptions options;
  options.max_body_bytes = 64 * 1024;
  options.max_header_bytes = 4096;
  options.max_requests_per_connection = 2;
  http::Server server(
      "127.0.0.1:0", [&router](const http::Request& r) { return router.Route(r); }, options);

  // The blocking client sends all 2 MiB before reading: the server must still be heard.
  const shardjob::testing::HttpReply too_large =
      shardjob::testing::HttpRequest(server.address(), "POST", "/ping", std::string(2 << 20, 'x'),
                                     "Content-Type: application/json\r\n");
  EXPECT_EQ(too_large.status, 413);
  const json body = json::parse(too_large.body, nullptr, false);
  EXPECT_EQ(body["error"]["code"], "too_large") << too_large.body;

  const Reply header = Exchange(
      server.address(),
      "GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8192, 'h') + "\r\n\r\n", false);
  EXPECT_EQ(header.status, 431);
  EXPECT_EQ(json::parse(header.body, nullptr, false)["error"]["code"], "header_too_large");

  const Reply garbage = Exchange(server.address(), "GET /ping HTTP/1.1\r\nNo colon\r\n\r\n", false);
  EXPECT_EQ(garbage.status, 400);
  EXPECT_EQ(json::parse(garbage.body, nullptr, false)["error"]["code"], "bad_request");

  // Three requests on one connection: two answers, the second closing it.
  const std::string ping = "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n";
  const Reply pipelined = Exchange(server.address(), ping + ping + ping, false);
  std::size_t answers = 0;
  for (std::size_t at = pipelined.raw.find("HTTP/1.1 200"); at != std::string::npos;
       at = pipelined.raw.find("HTTP/1.1 200", at + 1)) {
    ++answers;
  }
  EXPECT_EQ(answers, 2u) << pipelined.raw;
  EXPECT_NE(pipelined.raw.find("Connection: close"), std::string::npos) << pipelined.raw;
}

}  // namespace
}  // namespace shardjob::api
