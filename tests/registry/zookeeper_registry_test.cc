// The ZooKeeper registry against a real server: the behaviour every registry shares (the
// conformance suite, run here against both the embedded store and ZooKeeper), and what only
// ZooKeeper has: connect timeouts, negotiated session timeouts, its own path rules, digest auth,
// session expiry and a new session after it, a server restart under a live session.

#include "registry/zookeeper_registry.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "registry/embedded_registry.h"
#include "registry/registry.h"
#include "registry_conformance.h"
#include "support/free_port.h"
#include "support/test_support.h"
#include "support/zookeeper_server.h"

namespace shardjob::registry {
namespace {

using conformance::kTimeout;
using conformance::Recorder;
using conformance::RegistryConformanceTest;
using shardjob::testing::ZookeeperServer;
using std::chrono::milliseconds;

// One server for the whole binary, started on first use and stopped after the last test.
std::unique_ptr<ZookeeperServer>& SharedServerSlot() {
  static std::unique_ptr<ZookeeperServer> server;
  return server;
}

ZookeeperServer& SharedServer() {
  auto& server = SharedServerSlot();
  if (!server) server = std::make_unique<ZookeeperServer>();
  return *server;
}

class SharedServerEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { SharedServerSlot().reset(); }
};
[[maybe_unused]] ::testing::Environment* const kSharedServerEnvironment =
    ::testing::AddGlobalTestEnvironment(new SharedServerEnvironment);

// Log lines a registry wrote, for tests that check what it says.
class LogCapture {
 public:
  ZookeeperLogger Logger() {
    return [this](ZookeeperLogLevel level, const std::string& message) {
      auto ms = std::chrono::duration_cast<milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count() %
                100000;
      std::lock_guard<std::mutex> lock(mutex_);
      lines_.emplace_back(level, std::to_string(ms) + " " + message);
    };
  }
  bool Contains(ZookeeperLogLevel level, const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [line_level, message] : lines_) {
      if (line_level == level && message.find(text) != std::string::npos) return true;
    }
    return false;
  }
  std::string All() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string all;
    for (const auto& line : lines_) all += line.second + "\n";
    return all;
  }

 private:
  std::mutex mutex_;
  std::vector<std::pair<ZookeeperLogLevel, std::string>> lines_;
};

ZookeeperOptions OptionsFor(const std::string& connect_string) {
  ZookeeperOptions options;
  options.connect_string = connect_string;
  options.session_timeout = milliseconds(4000);
  options.connect_timeout = std::chrono::seconds(10);
  options.reconnect_backoff_initial = milliseconds(20);
  options.reconnect_backoff_max = milliseconds(500);
  options.logger = [](ZookeeperLogLevel, const std::string&) {};
  return options;
}

std::unique_ptr<ZookeeperRegistry> MustConnect(const ZookeeperOptions& options) {
  std::string error;
  std::unique_ptr<ZookeeperRegistry> registry = ZookeeperRegistry::Connect(options, &error);
  EXPECT_NE(registry, nullptr) << error;
  return registry;
}

// ---- The conformance suite, against both implementations.

class EmbeddedBackend : public conformance::Backend {
 public:
  std::unique_ptr<Registry> OpenSession() override { return store_.OpenSession(); }

 private:
  EmbeddedStore store_;
};

class ZookeeperBackend : public conformance::Backend {
 public:
  std::unique_ptr<Registry> OpenSession() override {
    return MustConnect(OptionsFor(SharedServer().connect_string()));
  }
};

INSTANTIATE_TEST_SUITE_P(
    Registries, RegistryConformanceTest,
    ::testing::Values(
        conformance::BackendFactory{"Embedded", [] { return std::make_unique<EmbeddedBackend>(); },
                                    100},
        conformance::BackendFactory{"ZooKeeper",
                                    [] { return std::make_unique<ZookeeperBackend>(); }, 50}),
    [](const ::testing::TestParamInfo<conformance::BackendFactory>& info) {
      return info.param.name;
    });

// ---- ZooKeeper only.

class ZookeeperRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = &SharedServer();
    registry_ = MustConnect(Options());
    observer_ = MustConnect(Options());
    ASSERT_NE(registry_, nullptr);
    ASSERT_NE(observer_, nullptr);
    static int runs = 0;  // the shared server keeps its tree across --gtest_repeat iterations
    root_ = std::string("/zookeeper/") +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" +
            std::to_string(++runs);
    ASSERT_EQ(EnsurePath(*observer_, root_), Code::kOk);
  }

  ZookeeperOptions Options() const {
    ZookeeperOptions options = OptionsFor(server_->connect_string());
    options.logger = logs_.Logger();
    return options;
  }

  std::string P(const std::string& relative) const { return root_ + relative; }

  // Every watch event `session` was owed before the call has been delivered (see conformance).
  void Drain(Registry& session) {
    auto fired = std::make_shared<std::atomic<bool>>(false);
    std::string path = P("/drain-" + std::to_string(++drains_));
    ASSERT_EQ(session.Exists(path, nullptr, [fired](const WatchEvent&) { *fired = true; }),
              Code::kNoNode);
    ASSERT_EQ(session.Create(path, "", NodeMode::kPersistent, nullptr), Code::kOk);
    ASSERT_TRUE(shardjob::testing::WaitUntil([&] { return fired->load(); }, kTimeout));
    ASSERT_EQ(session.Delete(path, kAnyVersion), Code::kOk);
  }

  mutable LogCapture logs_;
  Recorder recorder_;  // outlives the registries, whose event threads call it
  ZookeeperServer* server_ = nullptr;
  std::unique_ptr<ZookeeperRegistry> registry_;
  std::unique_ptr<ZookeeperRegistry> observer_;
  std::string root_;
  int drains_ = 0;
};

TEST(ZookeeperConnectTest, ATimeoutNamesTheServersAndTheBound) {
  const std::string servers = "127.0.0.1:" + std::to_string(testing::FreeLoopbackPort());
  ZookeeperOptions options = OptionsFor(servers);
  options.connect_timeout = milliseconds(600);
  std::string error;
  const auto started = std::chrono::steady_clock::now();
  std::unique_ptr<ZookeeperRegistry> registry = ZookeeperRegistry::Connect(options, &error);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(registry, nullptr);
  EXPECT_NE(error.find(servers), std::string::npos) << error;
  EXPECT_NE(error.find("600 ms"), std::string::npos) << error;
  EXPECT_GE(elapsed, milliseconds(550));
  EXPECT_LT(elapsed, milliseconds(600 + 2000));
}

TEST(ZookeeperConnectTest, BadOptionsFailAtOnce) {
  std::string error;
  EXPECT_EQ(ZookeeperRegistry::Connect(OptionsFor(""), &error), nullptr);
  EXPECT_NE(error.find("connect string"), std::string::npos) << error;
  ZookeeperOptions options = OptionsFor("127.0.0.1:1");
  options.digest_auth = "no-colon";
  EXPECT_EQ(ZookeeperRegistry::Connect(options, &error), nullptr);
  EXPECT_NE(error.find("user:password"), std::string::npos) << error;
}

TEST_F(ZookeeperRegistryTest, TheNegotiatedSessionTimeoutIsLoggedAndDifferencesWarned) {
  EXPECT_EQ(registry_->NegotiatedSessionTimeout(), milliseconds(4000));
  EXPECT_TRUE(logs_.Contains(ZookeeperLogLevel::kInfo, "session timeout 4000 ms")) << logs_.All();
  EXPECT_FALSE(logs_.Contains(ZookeeperLogLevel::kWarning, "granted")) << logs_.All();

  LogCapture clamped_logs;
  ZookeeperOptions options = Options();
  options.session_timeout = milliseconds(60000);  // above the server's maxSessionTimeout
  options.logger = clamped_logs.Logger();
  std::unique_ptr<ZookeeperRegistry> clamped = MustConnect(options);
  ASSERT_NE(clamped, nullptr);
  EXPECT_EQ(clamped->NegotiatedSessionTimeout(), milliseconds(4000));
  EXPECT_TRUE(clamped_logs.Contains(ZookeeperLogLevel::kWarning,
                                    "granted a session timeout of 4000 ms instead of the 60000 ms"))
      << clamped_logs.All();
}

TEST_F(ZookeeperRegistryTest, ZooKeepersOwnPathRules) {
  // The root exists; a sequential create may end in a slash (the number follows it).
  EXPECT_EQ(registry_->Create("/", "", NodeMode::kPersistent, nullptr), Code::kNodeExists);
  ASSERT_EQ(registry_->Create(P("/p"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  std::string created;
  ASSERT_EQ(registry_->Create(P("/p/"), "", NodeMode::kPersistentSequential, &created), Code::kOk);
  EXPECT_EQ(created, P("/p/0000000000"));
  for (const std::string& bad : {P("/a/./b"), P("/a/../b"), P("/a/\x01")}) {
    EXPECT_EQ(registry_->Create(bad, "", NodeMode::kPersistent, nullptr), Code::kBadArguments);
    std::vector<OpResult> results;
    EXPECT_EQ(registry_->Multi({Op::Create(P("/ok"), ""), Op::Create(bad, "")}, &results),
              Code::kBadArguments);
    ASSERT_EQ(results.size(), 2u);
    EXPECT_EQ(results[0].code, Code::kOk);
    EXPECT_EQ(results[1].code, Code::kBadArguments);
  }
  EXPECT_EQ(observer_->Exists(P("/ok"), nullptr, nullptr), Code::kNoNode);

  // A multi refused for a bad path was never sent.
  const std::uint64_t before = registry_->RequestCount();
  std::vector<OpResult> results;
  EXPECT_EQ(registry_->Multi({Op::Check("relative", kAnyVersion)}, &results), Code::kBadArguments);
  EXPECT_EQ(registry_->RequestCount(), before);
}

TEST_F(ZookeeperRegistryTest, AFailedMultiNamesTheFailingOpOnly) {
  ASSERT_EQ(registry_->Create(P("/a"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  std::vector<OpResult> results;
  EXPECT_EQ(
      registry_->Multi({Op::Create(P("/b"), ""), Op::Check(P("/a"), 0), Op::Delete(P("/missing")),
                        Op::SetData(P("/a"), "x"), Op::Create(P("/c"), "")},
                       &results),
      Code::kNoNode);
  ASSERT_EQ(results.size(), 5u);
  EXPECT_EQ(results[0].code, Code::kOk);
  EXPECT_EQ(results[1].code, Code::kOk);
  EXPECT_EQ(results[2].code, Code::kNoNode);
  EXPECT_EQ(results[3].code, Code::kOk);  // ZooKeeper: ZRUNTIMEINCONSISTENCY, rolled back
  EXPECT_EQ(results[4].code, Code::kOk);
  EXPECT_TRUE(results[0].created_path.empty());
  EXPECT_EQ(observer_->Exists(P("/b"), nullptr, nullptr), Code::kNoNode);
  EXPECT_EQ(observer_->Exists(P("/c"), nullptr, nullptr), Code::kNoNode);
  Stat a;
  ASSERT_EQ(observer_->Exists(P("/a"), &a, nullptr), Code::kOk);
  EXPECT_EQ(a.version, 0);
}

TEST_F(ZookeeperRegistryTest, LargeDataIsReadWhole) {
  std::string large(300 * 1024, '\0');
  for (std::size_t i = 0; i < large.size(); ++i) large[i] = static_cast<char>('a' + i % 26);
  ASSERT_EQ(registry_->Create(P("/large"), large, NodeMode::kPersistent, nullptr), Code::kOk);
  const std::uint64_t before = observer_->RequestCount();
  std::string data;
  Stat stat;
  ASSERT_EQ(observer_->Get(P("/large"), &data, &stat, recorder_.Watch("large")), Code::kOk);
  EXPECT_EQ(data, large);
  EXPECT_EQ(observer_->RequestCount(), before + 2);  // the second read sized from the first
  // The watch from the first read is armed, once.
  ASSERT_EQ(registry_->Set(P("/large"), "small", kAnyVersion, nullptr), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(1));
  ASSERT_EQ(registry_->Set(P("/large"), "again", kAnyVersion, nullptr), Code::kOk);
  Drain(*observer_);
  EXPECT_EQ(recorder_.Events().size(), 1u);
  ASSERT_EQ(observer_->Get(P("/large"), &data, nullptr, nullptr), Code::kOk);
  EXPECT_EQ(data, "again");
}

TEST_F(ZookeeperRegistryTest, DigestAuthKeepsOtherIdentitiesOut) {
  ZookeeperOptions alice_options = Options();
  alice_options.digest_auth = "alice:secret";
  std::unique_ptr<ZookeeperRegistry> alice = MustConnect(alice_options);
  ASSERT_NE(alice, nullptr);
  ASSERT_EQ(alice->Create(P("/secret"), "x", NodeMode::kPersistent, nullptr), Code::kOk);

  // No auth: refused for good (ZNOAUTH), and said so in the log.
  std::string data;
  EXPECT_EQ(registry_->Get(P("/secret"), &data, nullptr, nullptr), Code::kNoAuth);
  EXPECT_EQ(registry_->Set(P("/secret"), "y", kAnyVersion, nullptr), Code::kNoAuth);
  EXPECT_EQ(registry_->Create(P("/secret/child"), "", NodeMode::kPersistent, nullptr),
            Code::kNoAuth);
  EXPECT_EQ(registry_->Exists(P("/secret"), nullptr, nullptr), Code::kOk);  // no ACL on exists
  EXPECT_TRUE(logs_.Contains(ZookeeperLogLevel::kWarning, "not authenticated")) << logs_.All();

  // The wrong password is another identity.
  ZookeeperOptions mallory_options = Options();
  mallory_options.digest_auth = "alice:guess";
  std::unique_ptr<ZookeeperRegistry> mallory = MustConnect(mallory_options);
  ASSERT_NE(mallory, nullptr);
  EXPECT_EQ(mallory->Set(P("/secret"), "y", kAnyVersion, nullptr), Code::kNoAuth);

  // The same credentials are the same identity, in any session.
  std::unique_ptr<ZookeeperRegistry> alice_again = MustConnect(alice_options);
  ASSERT_NE(alice_again, nullptr);
  ASSERT_EQ(alice_again->Set(P("/secret"), "y", kAnyVersion, nullptr), Code::kOk);
  ASSERT_EQ(alice_again->Create(P("/secret/child"), "", NodeMode::kEphemeral, nullptr), Code::kOk);
  ASSERT_EQ(alice->Get(P("/secret"), &data, nullptr, nullptr), Code::kOk);
  EXPECT_EQ(data, "y");
  EXPECT_EQ(alice->Get(P("/secret/child"), &data, nullptr, nullptr), Code::kOk);
}

TEST_F(ZookeeperRegistryTest, ForcedExpiryOpensANewSession) {
  // On kExpired there is no session: a call is refused unsent. On the new kConnected, calls work:
  // the kernel re-registers right there.
  std::atomic<int> refused_code{-1};
  std::atomic<int> reregistered_code{-1};
  std::atomic<bool> expired_seen{false};
  registry_->AddSessionListener([&](SessionState state) {
    if (state == SessionState::kExpired) {
      expired_seen = true;
      refused_code = static_cast<int>(registry_->Exists(P("/eph"), nullptr, nullptr));
    } else if (state == SessionState::kConnected && expired_seen) {
      reregistered_code = static_cast<int>(
          registry_->Create(P("/reregistered"), "", NodeMode::kEphemeral, nullptr));
    }
    recorder_.AddState(state);
  });

  ASSERT_EQ(registry_->Create(P("/eph"), "", NodeMode::kEphemeral, nullptr), Code::kOk);
  // Watches of the old session must not leak, and never run once kExpired was reported. (Before
  // that they may: if the client got back onto its session just before the server ended it, the
  // deletion of its own ephemerals fires its watches first. ZooKeeper allows that.)
  auto held = std::make_shared<int>(0);
  std::atomic<int> old_after_expiry{0};
  // Runs on the old session's event thread, as does the kExpired listener: the order is exact.
  auto old_watcher = [held, &expired_seen, &old_after_expiry](const WatchEvent&) {
    if (expired_seen) ++old_after_expiry;
  };
  std::vector<std::string> children;
  ASSERT_EQ(registry_->Exists(P("/later"), nullptr, old_watcher), Code::kNoNode);
  ASSERT_EQ(registry_->GetChildren(root_, &children, old_watcher), Code::kOk);
  EXPECT_EQ(held.use_count(), 4);  // here, and in the two watches
  const std::int64_t old_id = registry_->SessionId();
  const std::uint64_t requests_before = registry_->RequestCount();

  ASSERT_TRUE(registry_->ForceExpiryForTest());
  const SessionState expired = SessionState::kExpired;
  ASSERT_TRUE(recorder_.WaitForStateAfter(SessionState::kConnected, &expired))
      << ::testing::PrintToString(recorder_.States());
  EXPECT_EQ(registry_->State(), SessionState::kConnected);
  EXPECT_NE(registry_->SessionId(), old_id);
  EXPECT_NE(registry_->SessionId(), 0);
  EXPECT_EQ(refused_code.load(), static_cast<int>(Code::kConnectionLoss));
  EXPECT_EQ(reregistered_code.load(), static_cast<int>(Code::kOk));
  EXPECT_GE(registry_->RequestCount(), requests_before + 1);

  // The old session's ephemeral is gone; the new session's belong to the new id.
  EXPECT_EQ(observer_->Exists(P("/eph"), nullptr, nullptr), Code::kNoNode);
  Stat stat;
  ASSERT_EQ(observer_->Exists(P("/reregistered"), &stat, nullptr), Code::kOk);
  EXPECT_EQ(stat.ephemeral_owner, registry_->SessionId());
  ASSERT_EQ(registry_->Create(P("/eph"), "", NodeMode::kEphemeral, nullptr), Code::kOk);
  ASSERT_EQ(observer_->Exists(P("/eph"), &stat, nullptr), Code::kOk);
  EXPECT_EQ(stat.ephemeral_owner, registry_->SessionId());

  // The old watchers were released, and never ran after the expiry.
  EXPECT_TRUE(shardjob::testing::WaitUntil([&] { return held.use_count() == 2; }, kTimeout));
  ASSERT_EQ(observer_->Create(P("/later"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  Drain(*registry_);
  EXPECT_EQ(old_after_expiry.load(), 0) << logs_.All();
  EXPECT_TRUE(logs_.Contains(ZookeeperLogLevel::kWarning, "expired")) << logs_.All();
}

TEST_F(ZookeeperRegistryTest, ExpiringWithAWrongPasswordLeavesTheSessionAlone) {
  ASSERT_EQ(registry_->Create(P("/eph"), "", NodeMode::kEphemeral, nullptr), Code::kOk);
  const std::int64_t id = registry_->SessionId();
  EXPECT_EQ(registry_->SessionPasswordForTest().size(), 16u);
  EXPECT_FALSE(ZookeeperRegistry::ExpireSessionForTest(server_->connect_string(), id,
                                                       std::string(16, 'x'), milliseconds(3000)));
  EXPECT_FALSE(ZookeeperRegistry::ExpireSessionForTest(server_->connect_string(), id, "short"));
  // The server drops the owner's connection when anyone presents its session id; it comes back.
  ASSERT_TRUE(shardjob::testing::WaitUntil(
      [&] { return registry_->Exists(P("/eph"), nullptr, nullptr) == Code::kOk; }, kTimeout));
  EXPECT_EQ(registry_->SessionId(), id);
  Stat stat;
  ASSERT_EQ(observer_->Exists(P("/eph"), &stat, nullptr), Code::kOk);
  EXPECT_EQ(stat.ephemeral_owner, id);
}

TEST_F(ZookeeperRegistryTest, DestructionFreesPendingWatchersAndSaysClosed) {
  auto held = std::make_shared<int>(0);
  std::string data;
  std::vector<std::string> children;
  ASSERT_EQ(registry_->Exists(P("/missing"), nullptr, [held](const WatchEvent&) {}), Code::kNoNode);
  ASSERT_EQ(registry_->GetChildren(root_, &children, [held](const WatchEvent&) {}), Code::kOk);
  ASSERT_EQ(registry_->Get(root_, &data, nullptr, [held](const WatchEvent&) {}), Code::kOk);
  // A watch that was never set (the call failed) is freed at once.
  ASSERT_EQ(registry_->Get(P("/missing"), &data, nullptr, [held](const WatchEvent&) {}),
            Code::kNoNode);
  EXPECT_EQ(held.use_count(), 4);
  registry_->AddSessionListener(recorder_.Listen());
  registry_.reset();
  EXPECT_EQ(held.use_count(), 1);
  EXPECT_EQ(recorder_.States(), std::vector<SessionState>{SessionState::kClosed});
}

// A server of its own: this test stops it.
TEST(ZookeeperRestartTest, AServerRestartKeepsTheSessionItsEphemeralsAndItsWatches) {
  // A client that connects while the restarted server is still loading its database may hang
  // until its own timeout (2/3 of the session timeout) before it retries: ZooKeeper 3.8.0 means to
  // close such a connection but fails (NullPointerException, zkDb is null). The restored session's
  // deadline starts when the server loads it, so the margin is about a third of the timeout.
  shardjob::testing::ZookeeperServerOptions server_options;
  server_options.max_session_timeout_ms = 6000;
  ZookeeperServer server(server_options);
  LogCapture logs;
  Recorder recorder;  // outlives the registry, which tells it kClosed
  ZookeeperOptions options = OptionsFor(server.connect_string());
  options.session_timeout = milliseconds(6000);
  options.logger = logs.Logger();
  std::unique_ptr<ZookeeperRegistry> registry = MustConnect(options);
  ASSERT_NE(registry, nullptr);
  registry->AddSessionListener(recorder.Listen());
  ASSERT_EQ(registry->Create("/eph", "x", NodeMode::kEphemeral, nullptr), Code::kOk);
  ASSERT_EQ(registry->Exists("/later", nullptr, recorder.Watch("later")), Code::kNoNode);
  const std::int64_t id = registry->SessionId();

  server.Stop();
  ASSERT_TRUE(recorder.WaitForStateAfter(SessionState::kConnecting));
  EXPECT_EQ(registry->State(), SessionState::kConnecting);
  // Not sent while there is no connection, and not counted.
  const std::uint64_t requests = registry->RequestCount();
  EXPECT_EQ(registry->Exists("/eph", nullptr, nullptr), Code::kConnectionLoss);
  EXPECT_EQ(registry->RequestCount(), requests);

  server.Restart();
  ASSERT_TRUE(recorder.WaitForStateAfter(SessionState::kConnected));
  EXPECT_EQ(recorder.States(),
            (std::vector<SessionState>{SessionState::kConnecting, SessionState::kConnected}));
  EXPECT_EQ(registry->SessionId(), id);
  Stat stat;
  ASSERT_EQ(registry->Exists("/eph", &stat, nullptr), Code::kOk);
  EXPECT_EQ(stat.ephemeral_owner, id);
  // The client set the watch again on the new connection.
  ASSERT_EQ(registry->Create("/later", "", NodeMode::kPersistent, nullptr), Code::kOk);
  ASSERT_TRUE(recorder.WaitForEvents(1));
  EXPECT_EQ(recorder.Events()[0].event.type, EventType::kCreated);
  EXPECT_TRUE(logs.Contains(ZookeeperLogLevel::kWarning, "lost its connection")) << logs.All();
  std::cerr << "[zookeeper] restart took " << server.last_start_time().count() << " ms\n";
}

}  // namespace
}  // namespace shardjob::registry
