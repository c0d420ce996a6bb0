// What only the embedded store has: sessions ended by ExpireSession(). Its ZooKeeper semantics
// (versions, error codes, sequential names, zxids, ephemerals, atomic multi, one-shot watches)
// are the shared conformance tests, run against it and against a real ZooKeeper
// (registry_conformance.cc: Registries/RegistryConformanceTest.*/Embedded).

#include "registry/embedded_registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "registry/registry.h"
#include "registry_conformance.h"

namespace shardjob::registry {
namespace {

using conformance::kTimeout;
using conformance::Recorder;

class RegistryTest : public ::testing::Test {
 protected:
  RegistryTest() : a_(store_.OpenSession()), b_(store_.OpenSession()) {}

  // Returns once every event queued before the call has been delivered: events go out in order on
  // one thread, so a watch triggered now fires after all of them.
  void Drain() {
    struct Flag {
      std::mutex mutex;
      std::condition_variable fired_cv;
      bool fired = false;
    };
    auto flag = std::make_shared<Flag>();
    std::unique_ptr<Registry> session = store_.OpenSession();
    std::string path = "/drain-" + std::to_string(++drains_);
    ASSERT_EQ(session->Exists(path, nullptr,
                              [flag](const WatchEvent&) {
                                std::lock_guard<std::mutex> lock(flag->mutex);
                                flag->fired = true;
                                flag->fired_cv.notify_all();
                              }),
              Code::kNoNode);
    ASSERT_EQ(session->Create(path, "", NodeMode::kPersistent, nullptr), Code::kOk);
    {
      std::unique_lock<std::mutex> lock(flag->mutex);
      ASSERT_TRUE(flag->fired_cv.wait_for(lock, kTimeout, [&] { return flag->fired; }));
    }
    ASSERT_EQ(session->Delete(path, kAnyVersion), Code::kOk);
  }

  Stat StatOf(const std::string& path) {
    Stat stat;
    EXPECT_EQ(b_->Exists(path, &stat, nullptr), Code::kOk) << path;
    return stat;
  }

  std::string DataOf(const std::string& path) {
    std::string data;
    EXPECT_EQ(b_->Get(path, &data, nullptr, nullptr), Code::kOk) << path;
    return data;
  }

  std::vector<std::string> ChildrenOf(const std::string& path) {
    std::vector<std::string> children;
    EXPECT_EQ(b_->GetChildren(path, &children, nullptr), Code::kOk) << path;
    return children;
  }

  Recorder recorder_;  // outlives the store, whose event thread calls it
  EmbeddedStore store_;
  std::unique_ptr<Registry> a_;
  std::unique_ptr<Registry> b_;
  int drains_ = 0;
};

TEST_F(RegistryTest, AnExpiredSessionLosesItsEphemeralsAndRefusesEveryCall) {
  std::unique_ptr<Registry> session = store_.OpenSession();
  session->AddSessionListener(recorder_.Listen());
  ASSERT_EQ(session->Create("/e", "", NodeMode::kEphemeral, nullptr), Code::kOk);
  ASSERT_EQ(session->Create("/p", "", NodeMode::kPersistent, nullptr), Code::kOk);
  ASSERT_EQ(b_->Exists("/e", nullptr, recorder_.Watch("e")), Code::kOk);

  store_.ExpireSession(session->SessionId());

  EXPECT_EQ(session->State(), SessionState::kExpired);
  EXPECT_EQ(b_->Exists("/e", nullptr, nullptr), Code::kNoNode);
  EXPECT_EQ(b_->Exists("/p", nullptr, nullptr), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(1));
  EXPECT_EQ(recorder_.Events()[0].event.type, EventType::kDeleted);
  EXPECT_EQ(recorder_.Events()[0].event.path, "/e");
  ASSERT_TRUE(recorder_.WaitForStates(1));
  EXPECT_EQ(recorder_.States()[0], SessionState::kExpired);

  std::string data;
  std::vector<std::string> children;
  std::vector<OpResult> results;
  EXPECT_EQ(session->Create("/x", "", NodeMode::kPersistent, nullptr), Code::kSessionExpired);
  EXPECT_EQ(session->Create("/x", "", NodeMode::kEphemeral, nullptr), Code::kSessionExpired);
  EXPECT_EQ(session->Get("/p", &data, nullptr, nullptr), Code::kSessionExpired);
  EXPECT_EQ(session->Exists("/p", nullptr, nullptr), Code::kSessionExpired);
  EXPECT_EQ(session->Set("/p", "", kAnyVersion, nullptr), Code::kSessionExpired);
  EXPECT_EQ(session->Delete("/p", kAnyVersion), Code::kSessionExpired);
  EXPECT_EQ(session->GetChildren("/p", &children, nullptr), Code::kSessionExpired);
  EXPECT_EQ(session->Multi({Op::Create("/x", "")}, &results), Code::kSessionExpired);
  EXPECT_EQ(b_->Exists("/x", nullptr, nullptr), Code::kNoNode);
  EXPECT_EQ(b_->Exists("/p", nullptr, nullptr), Code::kOk);

  // Expiring again, or an unknown session, changes nothing; closing afterwards is harmless.
  store_.ExpireSession(session->SessionId());
  store_.ExpireSession(987654);
  EXPECT_EQ(session->State(), SessionState::kExpired);
  session.reset();
  Drain();
  EXPECT_EQ(recorder_.States().size(), 1u);
  EXPECT_EQ(b_->State(), SessionState::kConnected);
}

TEST_F(RegistryTest, AnEndedSessionsWatchesNeverFire) {
  for (bool expire : {true, false}) {
    SCOPED_TRACE(expire ? "expired" : "closed");
    std::string suffix = expire ? "1" : "2";
    ASSERT_EQ(b_->Create("/a" + suffix, "", NodeMode::kPersistent, nullptr), Code::kOk);
    ASSERT_EQ(b_->Create("/p" + suffix, "", NodeMode::kPersistent, nullptr), Code::kOk);
    std::unique_ptr<Registry> session = store_.OpenSession();
    std::string data;
    std::vector<std::string> children;
    ASSERT_EQ(session->Get("/a" + suffix, &data, nullptr, recorder_.Watch("get")), Code::kOk);
    ASSERT_EQ(session->Exists("/missing" + suffix, nullptr, recorder_.Watch("exists")),
              Code::kNoNode);
    ASSERT_EQ(session->GetChildren("/p" + suffix, &children, recorder_.Watch("children")),
              Code::kOk);
    if (expire) {
      store_.ExpireSession(session->SessionId());
    } else {
      session.reset();
    }
    ASSERT_EQ(b_->Set("/a" + suffix, "changed", kAnyVersion, nullptr), Code::kOk);
    ASSERT_EQ(b_->Create("/missing" + suffix, "", NodeMode::kPersistent, nullptr), Code::kOk);
    ASSERT_EQ(b_->Create("/p" + suffix + "/c", "", NodeMode::kPersistent, nullptr), Code::kOk);
    Drain();
    EXPECT_TRUE(recorder_.Events().empty());
  }
}

}  // namespace
}  // namespace shardjob::registry
