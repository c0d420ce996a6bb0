#include "http/http_server.h"

#include <poll.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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

  // Only a path: "echo" would reach the /echo route past a test made on the path's prefix.
  reply = HttpGet(server.address(), "echo");
  EXPECT_EQ(reply.status, 400);
  EXPECT_THAT(reply.body, HasSubstr("must be a path starting with '/'"));
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

// A refused client does not keep its connection: a second request on it is never read.
TEST_F(HttpServerTest, ARefusalClosesTheConnection) {
  router_.Add("GET", "/refused",
              [](const Request&) { return Response::Json(401, "{\"error\": \"no\"}"); });
  Server server("127.0.0.1:0", [this](const Request& r) { return router_.Route(r); });
  const std::string address = server.address();
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_port =
      htons(static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1))));
  inet_pton(AF_INET, "127.0.0.1", &peer.sin_addr);
  ASSERT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&peer), sizeof(peer)), 0);
  const std::string two = "GET /refused HTTP/1.1\r\nHost: " + address +
                          "\r\n\r\nGET /echo HTTP/1.1\r\nHost: " + address + "\r\n\r\n";
  ASSERT_EQ(send(fd, two.data(), two.size(), MSG_NOSIGNAL), static_cast<ssize_t>(two.size()));
  std::string received;
  char buffer[4096];
  while (true) {  // until the server closes (bounded: its idle timeout would close it too)
    pollfd poll_fd{fd, POLLIN, 0};
    if (poll(&poll_fd, 1, 5000) <= 0) break;
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    received.append(buffer, static_cast<std::size_t>(n));
  }
  close(fd);
  EXPECT_THAT(received, ::testing::StartsWith("HTTP/1.1 401"));
  EXPECT_THAT(received, HasSubstr("Connection: close"));
  EXPECT_EQ(received.find("HTTP/1.1", 5), std::string::npos) << received;  // one answer only
  EXPECT_EQ(calls_, 0);                                                    // /echo was never run
}

// What the slow-request tests control: the slow handler at /slow blocks while the gate is shut,
// and every step the server takes is recorded, so that the tests wait on conditions rather than
// on time.
class SlowRequestsTest : public ::testing::Test {
 protected:
  SlowRequestsTest() {
    options_.slow = [this](const Request& request) {
      const bool slow = request.path == "/slow";
      if (slow) Update([this] { ++classified_; });
      return slow;
    };
  }

  Response Handle(const Request& request) {
    if (request.path == "/healthz") return Response::Text(200, "ok");
    if (request.path != "/slow") return Response::Text(404, "no");
    const std::string id = request.query.count("id") ? request.query.at("id") : "-";
    const int now = ++running_;
    int seen = max_running_.load();
    while (now > seen && !max_running_.compare_exchange_weak(seen, now)) {
    }
    std::unique_lock<std::mutex> lock(mutex_);
    started_.push_back(id);
    changed_.notify_all();
    changed_.wait(lock, [this] { return open_; });
    finished_.push_back(id);
    --running_;
    changed_.notify_all();
    return Response::Text(200, "slow " + id);
  }

  std::unique_ptr<Server> Start() {
    return std::make_unique<Server>(
        "127.0.0.1:0", [this](const Request& request) { return Handle(request); }, options_);
  }

  template <typename F>
  void Update(F f) {
    std::lock_guard<std::mutex> lock(mutex_);
    f();
    changed_.notify_all();
  }

  // Waits (`limit` at most) for `done` to hold; false if it never did.
  template <typename F>
  bool WaitFor(F done, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, limit, done);
  }

  void Open() {
    Update([this] { open_ = true; });
  }

  // A GET of /slow?id=`id` on a connection of its own, answered on another thread.
  std::future<testing::HttpReply> SlowGet(const std::string& address, const std::string& id) {
    return std::async(std::launch::async, [address, id] {
      return testing::HttpRequest(address, "GET", "/slow?id=" + id, "", "",
                                  std::chrono::seconds(10));
    });
  }

  ServerOptions options_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;                  // guarded by mutex_
  int classified_ = 0;                 // slow requests the server has seen; guarded by mutex_
  std::vector<std::string> started_;   // guarded by mutex_
  std::vector<std::string> finished_;  // guarded by mutex_
  std::atomic<int> running_{0};
  std::atomic<int> max_running_{0};
};

TEST_F(SlowRequestsTest, AQuickRequestIsAnsweredWhileASlowOneBlocks) {
  auto server = Start();
  auto slow = SlowGet(server->address(), "a");
  ASSERT_TRUE(WaitFor([this] { return started_.size() == 1; }));

  testing::HttpReply quick = HttpGet(server->address(), "/healthz");
  EXPECT_EQ(quick.status, 200);
  EXPECT_EQ(quick.body, "ok");
  EXPECT_EQ(HttpGet(server->address(), "/nothing").status, 404);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    EXPECT_TRUE(finished_.empty());
  }

  Open();
  testing::HttpReply reply = slow.get();
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "slow a");
}

TEST_F(SlowRequestsTest, SlowRequestsRunOneAtATimeInTheOrderTheyCame) {
  auto server = Start();
  std::vector<std::future<testing::HttpReply>> replies;
  const std::vector<std::string> ids = {"a", "b", "c", "d", "e"};
  for (std::size_t i = 0; i < ids.size(); ++i) {
    replies.push_back(SlowGet(server->address(), ids[i]));
    // The next one is sent only once the server has taken this one.
    ASSERT_TRUE(WaitFor([this, i] { return classified_ == static_cast<int>(i) + 1; }));
  }
  ASSERT_TRUE(WaitFor([this] { return started_.size() == 1; }));
  Open();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    testing::HttpReply reply = replies[i].get();
    EXPECT_EQ(reply.status, 200);
    EXPECT_EQ(reply.body, "slow " + ids[i]);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  EXPECT_EQ(started_, ids);
  EXPECT_EQ(finished_, ids);
  EXPECT_EQ(max_running_, 1);
}

TEST_F(SlowRequestsTest, AFullQueueIsAnsweredBusyAtOnce) {
  options_.max_slow_queue = 1;
  auto server = Start();
  auto running = SlowGet(server->address(), "a");
  ASSERT_TRUE(WaitFor([this] { return started_.size() == 1; }));
  auto queued = SlowGet(server->address(), "b");
  ASSERT_TRUE(WaitFor([this] { return classified_ == 2; }));

  testing::HttpReply busy = HttpGet(server->address(), "/slow?id=c");
  EXPECT_EQ(busy.status, 503);
  EXPECT_THAT(busy.headers, HasSubstr("Content-Type: application/json"));
  EXPECT_THAT(busy.body, HasSubstr("{\"error\":{\"status\":503,\"code\":\"busy\""));
  EXPECT_EQ(HttpGet(server->address(), "/healthz").status, 200);

  Open();
  EXPECT_EQ(running.get().body, "slow a");
  EXPECT_EQ(queued.get().body, "slow b");
  std::lock_guard<std::mutex> lock(mutex_);
  EXPECT_EQ(started_, (std::vector<std::string>{"a", "b"}));
}

TEST_F(SlowRequestsTest, DestroyingTheServerWaitsForTheRunningHandlerAndRunsNoOther) {
  auto server = Start();
  auto running = SlowGet(server->address(), "a");
  ASSERT_TRUE(WaitFor([this] { return started_.size() == 1; }));
  auto queued = SlowGet(server->address(), "b");
  ASSERT_TRUE(WaitFor([this] { return classified_ == 2; }));

  std::atomic<bool> destroyed{false};
  std::thread destroyer([&] {
    server.reset();
    destroyed = true;
    Update([] {});
  });
  // The destructor cannot return while "a" runs: it is still running after this wait.
  EXPECT_FALSE(WaitFor([&] { return destroyed.load(); }, std::chrono::milliseconds(500)));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    EXPECT_TRUE(finished_.empty());
  }
  Open();
  destroyer.join();
  EXPECT_EQ(running_, 0);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    EXPECT_EQ(started_, (std::vector<std::string>{"a"}));  // "b" was dropped, never run
    EXPECT_EQ(finished_, (std::vector<std::string>{"a"}));
  }
  // The connections were closed with the server: no answer on the running one; the queued one
  // was either dropped with its connection or, if the server was already stopping when it came
  // to be queued, refused at once.
  EXPECT_EQ(running.get().status, 0);
  testing::HttpReply refused = queued.get();
  EXPECT_TRUE(refused.status == 0 ||
              (refused.status == 503 && refused.body.find("\"stopping\"") != std::string::npos))
      << refused.status << " " << refused.body;
}

TEST_F(SlowRequestsTest, TheIdleTimeoutDoesNotCloseAConnectionWaitingForItsAnswer) {
  options_.idle_timeout_seconds = 1;
  auto server = Start();
  auto slow = SlowGet(server->address(), "a");
  ASSERT_TRUE(WaitFor([this] { return started_.size() == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // past the idle timeout
  Open();
  testing::HttpReply reply = slow.get();
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "slow a");
}

TEST_F(SlowRequestsTest, AnAnswerNotReadyWithinTheSlowTimeoutIs504AndAQueuedRequestIsDropped) {
  options_.slow_timeout_seconds = 1;
  auto server = Start();
  auto running = SlowGet(server->address(), "a");
  ASSERT_TRUE(WaitFor([this] { return started_.size() == 1; }));
  auto queued = SlowGet(server->address(), "b");
  ASSERT_TRUE(WaitFor([this] { return classified_ == 2; }));

  for (auto* future : {&running, &queued}) {
    testing::HttpReply reply = future->get();
    EXPECT_EQ(reply.status, 504);
    EXPECT_THAT(reply.body, HasSubstr("\"code\":\"timeout\""));
  }
  Open();
  // The worker is free again once "a" returns; "b" was taken out of the queue and never runs.
  testing::HttpReply next = SlowGet(server->address(), "c").get();
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, "slow c");
  std::lock_guard<std::mutex> lock(mutex_);
  EXPECT_EQ(started_, (std::vector<std::string>{"a", "c"}));
}

}  // namespace
}  // namespace shardjob::http
