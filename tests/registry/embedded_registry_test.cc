// The embedded store's ZooKeeper semantics: versions, error codes, sequential names, zxids,
// ephemeral nodes and sessions, atomic multi, one-shot watches on one event thread.

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

namespace shardjob::registry {
namespace {

constexpr auto kTimeout = std::chrono::seconds(5);

// Collects watch events and session states as they are delivered, and waits for them (bounded).
class Recorder {
 public:
  struct Record {
    std::string tag;
    WatchEvent event;
    std::thread::id thread;
  };

  Watcher Watch(std::string tag) {
    return [this, tag](const WatchEvent& event) {
      std::lock_guard<std::mutex> lock(mutex_);
      records_.push_back(Record{tag, event, std::this_thread::get_id()});
      changed_.notify_all();
    };
  }

  SessionListener Listen() {
    return [this](SessionState state) {
      std::lock_guard<std::mutex> lock(mutex_);
      states_.push_back(state);
      changed_.notify_all();
    };
  }

  bool WaitForEvents(std::size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, kTimeout, [&] { return records_.size() >= count; });
  }

  bool WaitForStates(std::size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, kTimeout, [&] { return states_.size() >= count; });
  }

  std::vector<Record> Events() {
    std::lock_guard<std::mutex> lock(mutex_);
    return records_;
  }

  std::size_t CountOf(const std::string& tag) {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<std::size_t>(std::count_if(records_.begin(), records_.end(),
                                                  [&](const Record& r) { return r.tag == tag; }));
  }

  std::vector<SessionState> States() {
    std::lock_guard<std::mutex> lock(mutex_);
    return states_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Record> records_;
  std::vector<SessionState> states_;
};

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

TEST_F(RegistryTest, CreateGetSetDeleteFollowVersions) {
  std::string created;
  ASSERT_EQ(a_->Create("/a", "x", NodeMode::kPersistent, &created), Code::kOk);
  EXPECT_EQ(created, "/a");
  std::string data;
  Stat stat;
  ASSERT_EQ(a_->Get("/a", &data, &stat, nullptr), Code::kOk);
  EXPECT_EQ(data, "x");
  EXPECT_EQ(stat.version, 0);

  ASSERT_EQ(a_->Set("/a", "y", 0, &stat), Code::kOk);
  EXPECT_EQ(stat.version, 1);
  EXPECT_EQ(a_->Set("/a", "z", 0, &stat), Code::kBadVersion);
  EXPECT_EQ(DataOf("/a"), "y");
  EXPECT_EQ(StatOf("/a").version, 1);
  ASSERT_EQ(a_->Set("/a", "z", kAnyVersion, &stat), Code::kOk);
  EXPECT_EQ(stat.version, 2);
  EXPECT_EQ(DataOf("/a"), "z");

  EXPECT_EQ(a_->Delete("/a", 1), Code::kBadVersion);
  EXPECT_EQ(DataOf("/a"), "z");
  EXPECT_EQ(a_->Delete("/a", 2), Code::kOk);
  EXPECT_EQ(a_->Get("/a", &data, nullptr, nullptr), Code::kNoNode);
  EXPECT_EQ(a_->Exists("/a", nullptr, nullptr), Code::kNoNode);
  EXPECT_EQ(a_->Delete("/a", kAnyVersion), Code::kNoNode);
  EXPECT_EQ(a_->Set("/a", "w", kAnyVersion, nullptr), Code::kNoNode);

  // A deleted node can be created again, from version 0.
  ASSERT_EQ(a_->Create("/a", "again", NodeMode::kPersistent, nullptr), Code::kOk);
  EXPECT_EQ(StatOf("/a").version, 0);
}

TEST_F(RegistryTest, ErrorCodes) {
  EXPECT_EQ(a_->Create("/missing/child", "", NodeMode::kPersistent, nullptr), Code::kNoNode);

  ASSERT_EQ(a_->Create("/p", "first", NodeMode::kPersistent, nullptr), Code::kOk);
  EXPECT_EQ(a_->Create("/p", "second", NodeMode::kPersistent, nullptr), Code::kNodeExists);
  EXPECT_EQ(a_->Create("/p", "second", NodeMode::kEphemeral, nullptr), Code::kNodeExists);
  EXPECT_EQ(DataOf("/p"), "first");

  ASSERT_EQ(a_->Create("/p/c", "", NodeMode::kPersistent, nullptr), Code::kOk);
  EXPECT_EQ(a_->Delete("/p", kAnyVersion), Code::kNotEmpty);
  EXPECT_EQ(a_->Exists("/p", nullptr, nullptr), Code::kOk);

  ASSERT_EQ(a_->Create("/e", "", NodeMode::kEphemeral, nullptr), Code::kOk);
  EXPECT_EQ(a_->Create("/e/c", "", NodeMode::kPersistent, nullptr), Code::kNoChildrenForEphemerals);
  EXPECT_EQ(b_->Create("/e/c", "", NodeMode::kEphemeralSequential, nullptr),
            Code::kNoChildrenForEphemerals);
  EXPECT_TRUE(ChildrenOf("/e").empty());

  std::string data;
  std::vector<std::string> children;
  for (const std::string bad : {"", "a", "a/b", "/a/", "/p/", "//", "/a//b"}) {
    SCOPED_TRACE("path '" + bad + "'");
    EXPECT_EQ(a_->Create(bad, "", NodeMode::kPersistent, nullptr), Code::kBadArguments);
    EXPECT_EQ(a_->Create(bad, "", NodeMode::kPersistentSequential, nullptr), Code::kBadArguments);
    EXPECT_EQ(a_->Get(bad, &data, nullptr, nullptr), Code::kBadArguments);
    EXPECT_EQ(a_->Exists(bad, nullptr, nullptr), Code::kBadArguments);
    EXPECT_EQ(a_->Set(bad, "", kAnyVersion, nullptr), Code::kBadArguments);
    EXPECT_EQ(a_->Delete(bad, kAnyVersion), Code::kBadArguments);
    EXPECT_EQ(a_->GetChildren(bad, &children, nullptr), Code::kBadArguments);
    std::vector<OpResult> results;
    EXPECT_EQ(a_->Multi({Op::Check(bad, kAnyVersion)}, &results), Code::kBadArguments);
  }
  EXPECT_EQ(a_->Create("/", "", NodeMode::kPersistent, nullptr), Code::kBadArguments);
  EXPECT_EQ(a_->Delete("/", kAnyVersion), Code::kBadArguments);
  EXPECT_EQ(a_->Exists("/", nullptr, nullptr), Code::kOk);
}

TEST_F(RegistryTest, SequentialNamesHaveTenDigitsAndIncreasePerParent) {
  ASSERT_EQ(EnsurePath(*a_, "/p1"), Code::kOk);
  ASSERT_EQ(EnsurePath(*a_, "/p2"), Code::kOk);
  std::vector<std::string> names;
  for (int i = 0; i < 3; ++i) {
    std::string created;
    ASSERT_EQ(a_->Create("/p1/n-", "", NodeMode::kPersistentSequential, &created), Code::kOk);
    ASSERT_EQ(created.substr(0, 6), "/p1/n-");
    std::string suffix = created.substr(6);
    EXPECT_EQ(suffix.size(), 10u) << created;
    EXPECT_TRUE(std::all_of(suffix.begin(), suffix.end(), [](char c) {
      return c >= '0' && c <= '9';
    })) << created;
    names.push_back(created);
  }
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_LT(names[0], names[1]);
  EXPECT_LT(names[1], names[2]);

  // Another parent counts on its own.
  std::string other;
  ASSERT_EQ(a_->Create("/p2/n-", "", NodeMode::kEphemeralSequential, &other), Code::kOk);
  EXPECT_EQ(other, "/p2/n-0000000000");

  // A deleted node's number is never handed out again; ephemeral ones count the same way.
  ASSERT_EQ(a_->Delete(names[2], kAnyVersion), Code::kOk);
  std::string next;
  ASSERT_EQ(b_->Create("/p1/n-", "", NodeMode::kEphemeralSequential, &next), Code::kOk);
  EXPECT_GT(next, names[2]);
  EXPECT_EQ(StatOf(next).ephemeral_owner, b_->SessionId());

  std::vector<std::string> children = ChildrenOf("/p1");
  EXPECT_TRUE(std::is_sorted(children.begin(), children.end()));
  EXPECT_EQ(children.size(), 3u);
}

TEST_F(RegistryTest, ZxidsIncreaseStrictly) {
  ASSERT_EQ(a_->Create("/a", "", NodeMode::kPersistent, nullptr), Code::kOk);
  ASSERT_EQ(b_->Create("/b", "", NodeMode::kPersistent, nullptr), Code::kOk);
  Stat a = StatOf("/a");
  Stat b = StatOf("/b");
  EXPECT_GT(a.czxid, 0);
  EXPECT_EQ(a.mzxid, a.czxid);
  EXPECT_GT(b.czxid, a.czxid);

  Stat set;
  ASSERT_EQ(a_->Set("/a", "1", kAnyVersion, &set), Code::kOk);
  EXPECT_EQ(set.czxid, a.czxid);
  EXPECT_GT(set.mzxid, b.czxid);
  Stat reread = StatOf("/a");
  EXPECT_EQ(reread.mzxid, set.mzxid);
  EXPECT_EQ(reread.version, set.version);

  std::int64_t last = set.mzxid;
  for (int i = 0; i < 20; ++i) {
    Stat step;
    Registry& session = (i % 2 == 0) ? *a_ : *b_;
    ASSERT_EQ(session.Set(i % 3 == 0 ? "/a" : "/b", std::to_string(i), kAnyVersion, &step),
              Code::kOk);
    EXPECT_GT(step.mzxid, last);
    last = step.mzxid;
  }
  std::string created;
  ASSERT_EQ(a_->Create("/c", "", NodeMode::kEphemeral, &created), Code::kOk);
  EXPECT_GT(StatOf("/c").czxid, last);
}

TEST_F(RegistryTest, StatFields) {
  ASSERT_EQ(a_->Create("/p", "data", NodeMode::kPersistent, nullptr), Code::kOk);
  Stat p = StatOf("/p");
  EXPECT_EQ(p.version, 0);
  EXPECT_EQ(p.cversion, 0);
  EXPECT_EQ(p.num_children, 0);
  EXPECT_EQ(p.ephemeral_owner, 0);
  EXPECT_GT(p.ctime_ms, 0);
  EXPECT_EQ(p.mtime_ms, p.ctime_ms);

  ASSERT_EQ(a_->Create("/p/x", "", NodeMode::kPersistent, nullptr), Code::kOk);
  ASSERT_EQ(a_->Create("/p/e", "", NodeMode::kEphemeral, nullptr), Code::kOk);
  p = StatOf("/p");
  EXPECT_EQ(p.num_children, 2);
  EXPECT_EQ(p.cversion, 2);
  EXPECT_EQ(p.version, 0);  // children do not change the data version
  EXPECT_EQ(StatOf("/p/e").ephemeral_owner, a_->SessionId());
  EXPECT_EQ(StatOf("/p/x").ephemeral_owner, 0);
  EXPECT_NE(a_->SessionId(), b_->SessionId());

  ASSERT_EQ(a_->Delete("/p/x", kAnyVersion), Code::kOk);
  p = StatOf("/p");
  EXPECT_EQ(p.num_children, 1);
  EXPECT_EQ(p.cversion, 3);

  ASSERT_EQ(a_->Set("/p", "new", kAnyVersion, nullptr), Code::kOk);
  Stat after = StatOf("/p");
  EXPECT_EQ(after.version, 1);
  EXPECT_EQ(after.ctime_ms, p.ctime_ms);
  EXPECT_GE(after.mtime_ms, p.ctime_ms);
  EXPECT_EQ(after.czxid, p.czxid);
}

TEST_F(RegistryTest, EphemeralNodesVanishWhenTheSessionCloses) {
  {
    std::unique_ptr<Registry> session = store_.OpenSession();
    session->AddSessionListener(recorder_.Listen());
    EXPECT_EQ(session->State(), SessionState::kConnected);
    ASSERT_EQ(session->Create("/e", "", NodeMode::kEphemeral, nullptr), Code::kOk);
    ASSERT_EQ(session->Create("/kept", "", NodeMode::kPersistent, nullptr), Code::kOk);
    ASSERT_EQ(session->Create("/kept/e-", "", NodeMode::kEphemeralSequential, nullptr), Code::kOk);
    ASSERT_EQ(b_->Exists("/e", nullptr, recorder_.Watch("e")), Code::kOk);
  }
  EXPECT_EQ(b_->Exists("/e", nullptr, nullptr), Code::kNoNode);
  EXPECT_EQ(b_->Exists("/kept", nullptr, nullptr), Code::kOk);
  EXPECT_TRUE(ChildrenOf("/kept").empty());
  EXPECT_EQ(StatOf("/kept").num_children, 0);
  ASSERT_TRUE(recorder_.WaitForEvents(1));
  EXPECT_EQ(recorder_.Events()[0].event.type, EventType::kDeleted);
  ASSERT_TRUE(recorder_.WaitForStates(1));
  EXPECT_EQ(recorder_.States(), std::vector<SessionState>{SessionState::kClosed});
}

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

TEST_F(RegistryTest, AFailedMultiLeavesNoTraceAndFiresNoWatch) {
  ASSERT_EQ(b_->Create("/a", "a0", NodeMode::kPersistent, nullptr), Code::kOk);
  ASSERT_EQ(b_->Create("/p", "", NodeMode::kPersistent, nullptr), Code::kOk);
  ASSERT_EQ(b_->Create("/p/d", "d0", NodeMode::kPersistent, nullptr), Code::kOk);
  std::string last_sequential;
  ASSERT_EQ(b_->Create("/p/s-", "", NodeMode::kPersistentSequential, &last_sequential), Code::kOk);
  Stat a_before = StatOf("/a");
  Stat p_before = StatOf("/p");
  Stat d_before = StatOf("/p/d");
  std::vector<std::string> children_before = ChildrenOf("/p");

  std::string data;
  std::vector<std::string> children;
  ASSERT_EQ(b_->Get("/a", &data, nullptr, recorder_.Watch("a")), Code::kOk);
  ASSERT_EQ(b_->GetChildren("/p", &children, recorder_.Watch("p children")), Code::kOk);
  ASSERT_EQ(b_->Exists("/p/e", nullptr, recorder_.Watch("e")), Code::kNoNode);
  ASSERT_EQ(b_->Exists("/p/d", nullptr, recorder_.Watch("d")), Code::kOk);

  std::vector<OpResult> results;
  Code code = a_->Multi(
      {Op::SetData("/a", "a1"), Op::Create("/p/s-", "", NodeMode::kPersistentSequential),
       Op::Create("/p/e", "", NodeMode::kEphemeral), Op::Delete("/p/d"), Op::Create("/p/new", ""),
       Op::SetData("/a", "a2", 1), Op::Check("/a", 7),  // fails: /a is at version 2 here
       Op::Create("/p/after", "")},
      &results);
  EXPECT_EQ(code, Code::kBadVersion);
  ASSERT_EQ(results.size(), 8u);
  EXPECT_EQ(results[6].code, Code::kBadVersion);

  Stat a_after = StatOf("/a");
  EXPECT_EQ(DataOf("/a"), "a0");
  EXPECT_EQ(a_after.version, a_before.version);
  EXPECT_EQ(a_after.mzxid, a_before.mzxid);
  EXPECT_EQ(DataOf("/p/d"), "d0");
  Stat d_after = StatOf("/p/d");
  EXPECT_EQ(d_after.czxid, d_before.czxid);
  EXPECT_EQ(d_after.version, d_before.version);
  EXPECT_EQ(ChildrenOf("/p"), children_before);
  Stat p_after = StatOf("/p");
  EXPECT_EQ(p_after.cversion, p_before.cversion);
  EXPECT_EQ(p_after.num_children, p_before.num_children);
  EXPECT_EQ(b_->Exists("/p/e", nullptr, nullptr), Code::kNoNode);
  EXPECT_EQ(b_->Exists("/p/new", nullptr, nullptr), Code::kNoNode);
  EXPECT_EQ(b_->Exists("/p/after", nullptr, nullptr), Code::kNoNode);
  Drain();
  EXPECT_TRUE(recorder_.Events().empty());

  // The sequence counter did not move: the next number follows the last real one.
  std::string next_sequential;
  ASSERT_EQ(b_->Create("/p/s-", "", NodeMode::kPersistentSequential, &next_sequential), Code::kOk);
  EXPECT_EQ(std::stoll(next_sequential.substr(5)), std::stoll(last_sequential.substr(5)) + 1);

  // The undone ephemeral is not the session's: the session's end must not take another node
  // that now has its path.
  ASSERT_EQ(b_->Create("/p/e", "persistent now", NodeMode::kPersistent, nullptr), Code::kOk);
  store_.ExpireSession(a_->SessionId());
  EXPECT_EQ(DataOf("/p/e"), "persistent now");

  // Every watch is still armed, and fires once, for the real change.
  ASSERT_TRUE(recorder_.WaitForEvents(2));  // the creates of /p/s- and /p/e: "p children", "e"
  ASSERT_EQ(b_->Set("/a", "real", kAnyVersion, nullptr), Code::kOk);
  ASSERT_EQ(b_->Delete("/p/d", kAnyVersion), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(4));
  Drain();
  EXPECT_EQ(recorder_.CountOf("a"), 1u);
  EXPECT_EQ(recorder_.CountOf("p children"), 1u);
  EXPECT_EQ(recorder_.CountOf("e"), 1u);
  EXPECT_EQ(recorder_.CountOf("d"), 1u);
  for (const Recorder::Record& record : recorder_.Events()) {
    EventType expected = record.tag == "a"   ? EventType::kDataChanged
                         : record.tag == "e" ? EventType::kCreated
                         : record.tag == "d" ? EventType::kDeleted
                                             : EventType::kChildrenChanged;
    EXPECT_EQ(record.event.type, expected) << record.tag;
  }
}

TEST_F(RegistryTest, MultiOpsSeeEarlierOpsAndShareOneZxid) {
  ASSERT_EQ(a_->Create("/a", "", NodeMode::kPersistent, nullptr), Code::kOk);
  std::int64_t before = StatOf("/a").czxid;
  std::vector<OpResult> results;
  ASSERT_EQ(
      a_->Multi(
          {Op::Create("/m", "parent"), Op::Create("/m/c", "v0"), Op::SetData("/m/c", "v1", 0),
           Op::Check("/m/c", 1), Op::SetData("/m/c", "v2", 1), Op::Delete("/m/c", 2),
           Op::Create("/m/c", "again", NodeMode::kEphemeral),
           Op::Create("/m/s-", "", NodeMode::kPersistentSequential), Op::SetData("/a", "touched")},
          &results),
      Code::kOk);
  ASSERT_EQ(results.size(), 9u);
  for (const OpResult& result : results) EXPECT_EQ(result.code, Code::kOk);
  EXPECT_EQ(results[0].created_path, "/m");
  EXPECT_EQ(results[7].created_path.substr(0, 5), "/m/s-");
  EXPECT_EQ(results[2].stat.version, 1);
  EXPECT_EQ(results[4].stat.version, 2);

  EXPECT_EQ(DataOf("/m/c"), "again");
  Stat m = StatOf("/m");
  Stat c = StatOf("/m/c");
  Stat s = StatOf(results[7].created_path);
  Stat a = StatOf("/a");
  EXPECT_EQ(c.version, 0);
  EXPECT_EQ(c.ephemeral_owner, a_->SessionId());
  EXPECT_GT(m.czxid, before);
  EXPECT_EQ(c.czxid, m.czxid);
  EXPECT_EQ(s.czxid, m.czxid);
  EXPECT_EQ(a.mzxid, m.czxid);
  EXPECT_EQ(results[8].stat.mzxid, m.czxid);
  EXPECT_EQ(results[2].stat.mzxid, m.czxid);

  // The next transaction gets a larger zxid.
  Stat after;
  ASSERT_EQ(a_->Set("/a", "", kAnyVersion, &after), Code::kOk);
  EXPECT_GT(after.mzxid, m.czxid);

  // Ephemerals made by a multi belong to the session like any other.
  store_.ExpireSession(a_->SessionId());
  EXPECT_EQ(b_->Exists("/m/c", nullptr, nullptr), Code::kNoNode);
  EXPECT_EQ(b_->Exists("/m", nullptr, nullptr), Code::kOk);
}

TEST_F(RegistryTest, DataWatchFiresOnceOnSetAndOnDelete) {
  ASSERT_EQ(a_->Create("/a", "", NodeMode::kPersistent, nullptr), Code::kOk);
  std::string data;
  ASSERT_EQ(b_->Get("/a", &data, nullptr, recorder_.Watch("set")), Code::kOk);
  ASSERT_EQ(a_->Set("/a", "1", kAnyVersion, nullptr), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(1));
  ASSERT_EQ(a_->Set("/a", "2", kAnyVersion, nullptr), Code::kOk);  // the watch is spent
  Drain();
  ASSERT_EQ(recorder_.Events().size(), 1u);
  EXPECT_EQ(recorder_.Events()[0].event.type, EventType::kDataChanged);
  EXPECT_EQ(recorder_.Events()[0].event.path, "/a");

  ASSERT_EQ(b_->Exists("/a", nullptr, recorder_.Watch("delete")), Code::kOk);
  ASSERT_EQ(b_->Get("/a", &data, nullptr, recorder_.Watch("delete")), Code::kOk);
  ASSERT_EQ(a_->Delete("/a", kAnyVersion), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(3));
  ASSERT_EQ(a_->Create("/a", "", NodeMode::kPersistent, nullptr), Code::kOk);
  Drain();
  std::vector<Recorder::Record> events = recorder_.Events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].event.type, EventType::kDeleted);
  EXPECT_EQ(events[2].event.type, EventType::kDeleted);
}

TEST_F(RegistryTest, ExistsWatchOnAMissingNodeFiresOnCreate) {
  std::string data;
  // getData on a missing node sets no watch, as in ZooKeeper; exists does.
  ASSERT_EQ(b_->Get("/n", &data, nullptr, recorder_.Watch("get")), Code::kNoNode);
  ASSERT_EQ(b_->Exists("/n", nullptr, recorder_.Watch("exists")), Code::kNoNode);
  ASSERT_EQ(a_->Create("/n", "", NodeMode::kEphemeral, nullptr), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(1));
  ASSERT_EQ(a_->Set("/n", "x", kAnyVersion, nullptr), Code::kOk);
  Drain();
  std::vector<Recorder::Record> events = recorder_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].tag, "exists");
  EXPECT_EQ(events[0].event.type, EventType::kCreated);
  EXPECT_EQ(events[0].event.path, "/n");
}

TEST_F(RegistryTest, ChildWatchFiresOnChildCreateAndDelete) {
  ASSERT_EQ(a_->Create("/p", "", NodeMode::kPersistent, nullptr), Code::kOk);
  std::vector<std::string> children;
  ASSERT_EQ(b_->GetChildren("/p", &children, recorder_.Watch("create")), Code::kOk);
  ASSERT_EQ(a_->Create("/p/c", "", NodeMode::kPersistent, nullptr), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(1));
  ASSERT_EQ(a_->Create("/p/d", "", NodeMode::kPersistent, nullptr), Code::kOk);  // spent

  ASSERT_EQ(b_->GetChildren("/p", &children, recorder_.Watch("delete")), Code::kOk);
  EXPECT_EQ(children, (std::vector<std::string>{"c", "d"}));
  ASSERT_EQ(a_->Set("/p/c", "data", kAnyVersion, nullptr), Code::kOk);  // not a child change
  ASSERT_EQ(a_->Set("/p", "data", kAnyVersion, nullptr), Code::kOk);    // nor is this
  ASSERT_EQ(a_->Delete("/p/c", kAnyVersion), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(2));

  ASSERT_EQ(b_->GetChildren("/p", &children, recorder_.Watch("self")), Code::kOk);
  ASSERT_EQ(a_->Delete("/p/d", kAnyVersion), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(3));
  ASSERT_EQ(b_->GetChildren("/p", &children, recorder_.Watch("self deleted")), Code::kOk);
  ASSERT_EQ(a_->Delete("/p", kAnyVersion), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(4));
  Drain();

  std::vector<Recorder::Record> events = recorder_.Events();
  ASSERT_EQ(events.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(events[i].event.type, EventType::kChildrenChanged);
    EXPECT_EQ(events[i].event.path, "/p");
  }
  EXPECT_EQ(events[0].tag, "create");
  EXPECT_EQ(events[1].tag, "delete");
  EXPECT_EQ(events[3].tag, "self deleted");
  EXPECT_EQ(events[3].event.type, EventType::kDeleted);
}

TEST_F(RegistryTest, EveryWatcherOfAPathFiresOnItsOneEventThread) {
  ASSERT_EQ(a_->Create("/a", "", NodeMode::kPersistent, nullptr), Code::kOk);
  std::string data;
  ASSERT_EQ(a_->Get("/a", &data, nullptr, recorder_.Watch("a1")), Code::kOk);
  ASSERT_EQ(b_->Get("/a", &data, nullptr, recorder_.Watch("b1")), Code::kOk);
  ASSERT_EQ(b_->Exists("/a", nullptr, recorder_.Watch("b2")), Code::kOk);
  ASSERT_EQ(a_->Set("/a", "1", kAnyVersion, nullptr), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(3));
  std::vector<Recorder::Record> events = recorder_.Events();
  ASSERT_EQ(events.size(), 3u);
  for (const Recorder::Record& record : events) {
    EXPECT_NE(record.thread, std::this_thread::get_id());
    EXPECT_EQ(record.thread, events[0].thread);
  }
}

TEST_F(RegistryTest, AWatcherMayCallBackIntoTheRegistry) {
  ASSERT_EQ(a_->Create("/a", "0", NodeMode::kPersistent, nullptr), Code::kOk);
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> seen;
  // Re-arms itself by reading again, and writes, from the event thread.
  std::function<void(const WatchEvent&)> watcher;
  watcher = [&](const WatchEvent&) {
    std::string data;
    Code code = b_->Get("/a", &data, nullptr, watcher);
    Code mirrored = b_->Create("/mirror-" + data, "", NodeMode::kEphemeral, nullptr);
    std::lock_guard<std::mutex> lock(mutex);
    seen.push_back(code == Code::kOk && mirrored == Code::kOk ? data : "error");
    changed.notify_all();
  };
  std::string data;
  ASSERT_EQ(b_->Get("/a", &data, nullptr, watcher), Code::kOk);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_EQ(a_->Set("/a", std::to_string(i), kAnyVersion, nullptr), Code::kOk);
    std::unique_lock<std::mutex> lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, kTimeout, [&] { return seen.size() == std::size_t(i); }));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(a_->Exists("/mirror-3", nullptr, nullptr), Code::kOk);
  // Stop the chain before `watcher` goes out of scope.
  b_.reset();
  Drain();
}

TEST_F(RegistryTest, RequestCountCountsEveryRequest) {
  std::unique_ptr<Registry> session = store_.OpenSession();
  EXPECT_EQ(session->RequestCount(), 0u);
  std::string data;
  std::vector<std::string> children;
  std::vector<OpResult> results;
  ASSERT_EQ(session->Create("/a", "", NodeMode::kPersistent, nullptr), Code::kOk);
  EXPECT_EQ(session->Create("/a", "", NodeMode::kPersistent, nullptr), Code::kNodeExists);
  ASSERT_EQ(session->Get("/a", &data, nullptr, nullptr), Code::kOk);
  ASSERT_EQ(session->Exists("/a", nullptr, nullptr), Code::kOk);
  ASSERT_EQ(session->Set("/a", "", kAnyVersion, nullptr), Code::kOk);
  ASSERT_EQ(session->GetChildren("/a", &children, nullptr), Code::kOk);
  ASSERT_EQ(session->Multi({Op::Create("/a/1", ""), Op::Create("/a/2", ""), Op::Check("/a", 1)},
                           &results),
            Code::kOk);
  ASSERT_EQ(session->Delete("/a/1", kAnyVersion), Code::kOk);
  EXPECT_EQ(session->RequestCount(), 8u);
  ASSERT_EQ(b_->Exists("/a", nullptr, nullptr), Code::kOk);  // another session's
  EXPECT_EQ(session->RequestCount(), 8u);
  ASSERT_EQ(EnsurePath(*session, "/a"), Code::kOk);  // exists: one request
  EXPECT_EQ(session->RequestCount(), 9u);
}

TEST_F(RegistryTest, EnsurePathCreatesMissingParents) {
  ASSERT_EQ(EnsurePath(*a_, "/x/y/z"), Code::kOk);
  EXPECT_EQ(ChildrenOf("/x"), std::vector<std::string>{"y"});
  EXPECT_EQ(ChildrenOf("/x/y"), std::vector<std::string>{"z"});
  EXPECT_EQ(StatOf("/x/y/z").ephemeral_owner, 0);
  EXPECT_EQ(EnsurePath(*a_, "/x/y/z"), Code::kOk);
  EXPECT_EQ(EnsurePath(*b_, "/x/y/w"), Code::kOk);
  EXPECT_EQ(ChildrenOf("/x/y"), (std::vector<std::string>{"w", "z"}));
  EXPECT_EQ(EnsurePath(*a_, "/"), Code::kOk);
  EXPECT_EQ(EnsurePath(*a_, ""), Code::kBadArguments);
  EXPECT_EQ(EnsurePath(*a_, "x/y"), Code::kBadArguments);
  EXPECT_EQ(EnsurePath(*a_, "/x/"), Code::kBadArguments);
  ASSERT_EQ(a_->Create("/eph", "", NodeMode::kEphemeral, nullptr), Code::kOk);
  EXPECT_EQ(EnsurePath(*a_, "/eph/child"), Code::kNoChildrenForEphemerals);
  store_.ExpireSession(a_->SessionId());
  EXPECT_EQ(EnsurePath(*a_, "/q"), Code::kSessionExpired);
}

TEST_F(RegistryTest, GuardedWritesFromManyThreadsLoseNoUpdate) {
  ASSERT_EQ(a_->Create("/counter", "0", NodeMode::kPersistent, nullptr), Code::kOk);
  constexpr int kThreads = 4;
  constexpr int kIncrements = 100;
  std::vector<std::unique_ptr<Registry>> sessions;
  for (int i = 0; i < kThreads; ++i) sessions.push_back(store_.OpenSession());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Registry& session = *sessions[t];
      for (int done = 0; done < kIncrements;) {
        std::string data;
        Stat stat;
        if (session.Get("/counter", &data, &stat, nullptr) != Code::kOk) return;
        std::vector<OpResult> results;
        // Half through Set, half through Multi, each with an ephemeral made and dropped.
        Code code =
            (done % 2 == 0)
                ? session.Set("/counter", std::to_string(std::stoi(data) + 1), stat.version,
                              nullptr)
                : session.Multi(
                      {Op::SetData("/counter", std::to_string(std::stoi(data) + 1), stat.version),
                       Op::Create("/lease-" + std::to_string(t), "", NodeMode::kEphemeral),
                       Op::Delete("/lease-" + std::to_string(t))},
                      &results);
        if (code == Code::kOk) ++done;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(DataOf("/counter"), std::to_string(kThreads * kIncrements));
  EXPECT_EQ(StatOf("/counter").version, kThreads * kIncrements);
  EXPECT_EQ(ChildrenOf("/"), (std::vector<std::string>{"counter"}));
}

}  // namespace
}  // namespace shardjob::registry
