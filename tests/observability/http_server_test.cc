#include "http/http_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "http/router.h"
#include "support/http_client.h"

namespace shardjob::http {
namespace {

using ::testing::HasSubstr;
using testing::HttpGet;
using testing::HttpRequest;

TEST(RouterTest, MatchesMethodAndPathAndCapturesParams) {
  Router router;
  router.Add("GET", "/api/jobs/{job}/shards/{item}", [](const Request& request) {
    return Response::Text(200, request.params.at("job") + "#" + request.params.at("item"));
  });
  router.Add("GET", "/api/jobs", [](const Request&) { return Response::Text(200, "list"); });

  Request request;
  request.method = "GET";
  request.path = "/api/jobs/order-sync/shards/3";
  EXPECT_EQ(router.Route(request).body, "order-sync#3");
  request.path = "/api/jobs";
  EXPECT_EQ(router.Route(request).body, "list");
  request.path = "/api/jobs//shards/3";  // an empty segment fills no parameter
  EXPECT_EQ(router.Route(request).status, 404);
  request.path = "/api/jobs/x/shards";
  EXPECT_EQ(router.Route(request).status, 404);
  request.method = "DELETE";
  request.path = "/api/jobs";
  EXPECT_EQ(router.Route(request).status, 405);
}

class HttpServerTest : public ::testing::Test {
 protected:
  HttpServerTest() {
    router_.Add("GET", "/echo", [this](const Request& request) {
      ++calls_;
      std::string body = request.path +
                         " q=" + (request.query.count("q") ? request.query.at("q") : "-") +
                         " loopback=" + (request.from_loopback ? "yes" : "no");
      return Response::Text(200, body);
    });
    router_.Add("POST", "/echo",
                [](const Request& request) { return Response::Json(201, request.body); });
    router_.Add("GET", "/throws",
                [](const Request&) -> Response { throw std::runtime_error("the handler broke"); });
  }

  Router router_;
  std::atomic<int> calls_{0};
};

TEST_F(HttpServerTest, ServesRoutesOnAPickedLoopbackPort) {
  ServerOptions options;
  options.max_body_bytes = 64;
  Server server(
      "127.0.0.1:0", [this](const Request& r) { return router_.Route(r); }, options);
  ASSERT_THAT(server.address(), ::testing::StartsWith("127.0.0.1:"));
  EXPECT_NE(server.address(), "127.0.0.1:0");

  testing::HttpReply reply = HttpGet(server.address(), "/echo?q=a%20b&x");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "/echo q=a b loopback=yes");
  EXPECT_THAT(reply.headers, HasSubstr("Content-Type: text/plain"));

  reply = HttpRequest(server.address(), "POST", "/echo", "{\"a\":1}");
  EXPECT_EQ(reply.status, 201);
  EXPECT_EQ(reply.body, "{\"a\":1}");
  EXPECT_THAT(reply.headers, HasSubstr("Content-Type: application/json"));

  EXPECT_EQ(HttpGet(server.address(), "/nothing").status, 404);
  EXPECT_EQ(HttpRequest(server.address(), "PUT", "/echo").status, 405);
  EXPECT_EQ(HttpRequest(server.address(), "POST", "/echo", std::string(65, 'x')).status, 413);

  reply = HttpGet(server.address(), "/throws");
  EXPECT_EQ(reply.status, 500);
  EXPECT_THAT(reply.body, HasSubstr("the handler broke"));
  EXPECT_EQ(calls_, 1);
}

TEST_F(HttpServerTest, AnAddressInUseIsAnErrorNamingIt) {
  Server first("127.0.0.1:0", [this](const Request& r) { return router_.Route(r); });
  try {
    Server second(first.address(), [this](const Request& r) { return router_.Route(r); });
    FAIL() << "a second server bound " << first.address();
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot listen on '" + first.address() + "'"));
  }
}

TEST_F(HttpServerTest, AnAddressThatIsNotAnIpIsAnError) {
  try {
    Server server("example.invalid:80", [this](const Request& r) { return router_.Route(r); });
    FAIL() << "bound a host name";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("'example.invalid' is not an IP address"));
  }
}

TEST_F(HttpServerTest, APortOutOfRangeIsAnError) {
  try {
    Server server("127.0.0.1:70000", [this](const Request& r) { return router_.Route(r); });
    FAIL() << "bound port 70000";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("'70000' is not a port"));
  }
}

TEST_F(HttpServerTest, StoppingWithAnIdleConnectionOpenReturns) {
  auto server = std::make_unique<Server>("127.0.0.1:0",
                                         [this](const Request& r) { return router_.Route(r); });
  const std::string address = server->address();
  const std::size_t colon = address.rfind(':');
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, "127.0.0.1", &peer.sin_addr);
  ASSERT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&peer), sizeof(peer)), 0);
  server.reset();  // must not wait for the idle connection's timeout
  close(fd);
}

}  // namespace
}  // namespace shardjob::http
