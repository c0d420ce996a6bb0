// The shared Registry behaviour (see registry_conformance.h). Instantiated per implementation by
// the test files that link this one.

#include "registry_conformance.h"

#include <cstdint>
#include <set>

namespace shardjob::registry::conformance {

void RegistryConformanceTest::SetUp() {
  backend_ = GetParam().make();
  ASSERT_NE(backend_, nullptr);
  a_ = backend_->OpenSession();
  b_ = backend_->OpenSession();
  ASSERT_NE(a_, nullptr);
  ASSERT_NE(b_, nullptr);
  std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::replace(name.begin(), name.end(), '/', '-');
  // Unique per run too: a real server keeps its tree across --gtest_repeat iterations.
  static int runs = 0;
  root_ = "/conformance/" + name + "-" + std::to_string(++runs);
  ASSERT_EQ(EnsurePath(*b_, root_), Code::kOk);
}

void RegistryConformanceTest::TearDown() {
  a_.reset();
  b_.reset();
  backend_.reset();
}

void RegistryConformanceTest::Drain(Registry& session) {
  struct Flag {
    std::mutex mutex;
    std::condition_variable fired_cv;
    bool fired = false;
  };
  auto flag = std::make_shared<Flag>();
  std::string path = P("/drain-" + std::to_string(++drains_));
  ASSERT_EQ(session.Exists(path, nullptr,
                           [flag](const WatchEvent&) {
                             std::lock_guard<std::mutex> lock(flag->mutex);
                             flag->fired = true;
                             flag->fired_cv.notify_all();
                           }),
            Code::kNoNode);
  ASSERT_EQ(session.Create(path, "", NodeMode::kPersistent, nullptr), Code::kOk);
  {
    std::unique_lock<std::mutex> lock(flag->mutex);
    ASSERT_TRUE(flag->fired_cv.wait_for(lock, kTimeout, [&] { return flag->fired; }));
  }
  ASSERT_EQ(session.Delete(path, kAnyVersion), Code::kOk);
}

Stat RegistryConformanceTest::StatOf(const std::string& path) {
  Stat stat;
  EXPECT_EQ(b_->Exists(path, &stat, nullptr), Code::kOk) << path;
  return stat;
}

std::string RegistryConformanceTest::DataOf(const std::string& path) {
  std::string data;
  EXPECT_EQ(b_->Get(path, &data, nullptr, nullptr), Code::kOk) << path;
  return data;
}

std::vector<std::string> RegistryConformanceTest::ChildrenOf(const std::string& path) {
  std::vector<std::string> children;
  EXPECT_EQ(b_->GetChildren(path, &children, nullptr), Code::kOk) << path;
  return children;
}

namespace {

bool AllDigits(const std::string& text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

TEST_P(RegistryConformanceTest, CreateGetSetDeleteFollowVersions) {
  std::string created;
  ASSERT_EQ(a_->Create(P("/a"), "x", NodeMode::kPersistent, &created), Code::kOk);
  EXPECT_EQ(created, P("/a"));
  std::string data;
  Stat stat;
  ASSERT_EQ(a_->Get(P("/a"), &data, &stat, nullptr), Code::kOk);
  EXPECT_EQ(data, "x");
  EXPECT_EQ(stat.version, 0);

  ASSERT_EQ(a_->Set(P("/a"), "y", 0, &stat), Code::kOk);
  EXPECT_EQ(stat.version, 1);
  EXPECT_EQ(a_->Set(P("/a"), "z", 0, &stat), Code::kBadVersion);
  EXPECT_EQ(DataOf(P("/a")), "y");
  EXPECT_EQ(StatOf(P("/a")).version, 1);
  ASSERT_EQ(a_->Set(P("/a"), "z", kAnyVersion, &stat), Code::kOk);
  EXPECT_EQ(stat.version, 2);
  EXPECT_EQ(DataOf(P("/a")), "z");

  EXPECT_EQ(a_->Delete(P("/a"), 1), Code::kBadVersion);
  EXPECT_EQ(DataOf(P("/a")), "z");
  EXPECT_EQ(a_->Delete(P("/a"), 2), Code::kOk);
  EXPECT_EQ(a_->Get(P("/a"), &data, nullptr, nullptr), Code::kNoNode);
  EXPECT_EQ(a_->Exists(P("/a"), nullptr, nullptr), Code::kNoNode);
  EXPECT_EQ(a_->Delete(P("/a"), kAnyVersion), Code::kNoNode);
  EXPECT_EQ(a_->Set(P("/a"), "w", kAnyVersion, nullptr), Code::kNoNode);

  // A deleted node can be created again, from version 0; empty and binary data round-trip.
  ASSERT_EQ(a_->Create(P("/a"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  EXPECT_EQ(StatOf(P("/a")).version, 0);
  EXPECT_EQ(DataOf(P("/a")), "");
  const std::string binary("\0\1\2\xff", 4);
  ASSERT_EQ(a_->Set(P("/a"), binary, kAnyVersion, nullptr), Code::kOk);
  EXPECT_EQ(DataOf(P("/a")), binary);
}

TEST_P(RegistryConformanceTest, ErrorCodes) {
  EXPECT_EQ(a_->Create(P("/missing/child"), "", NodeMode::kPersistent, nullptr), Code::kNoNode);

  ASSERT_EQ(a_->Create(P("/p"), "first", NodeMode::kPersistent, nullptr), Code::kOk);
  EXPECT_EQ(a_->Create(P("/p"), "second", NodeMode::kPersistent, nullptr), Code::kNodeExists);
  EXPECT_EQ(a_->Create(P("/p"), "second", NodeMode::kEphemeral, nullptr), Code::kNodeExists);
  EXPECT_EQ(DataOf(P("/p")), "first");

  ASSERT_EQ(a_->Create(P("/p/c"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  EXPECT_EQ(a_->Delete(P("/p"), kAnyVersion), Code::kNotEmpty);
  EXPECT_EQ(a_->Exists(P("/p"), nullptr, nullptr), Code::kOk);

  ASSERT_EQ(a_->Create(P("/e"), "", NodeMode::kEphemeral, nullptr), Code::kOk);
  EXPECT_EQ(a_->Create(P("/e/c"), "", NodeMode::kPersistent, nullptr),
            Code::kNoChildrenForEphemerals);
  EXPECT_EQ(b_->Create(P("/e/c"), "", NodeMode::kEphemeralSequential, nullptr),
            Code::kNoChildrenForEphemerals);
  EXPECT_TRUE(ChildrenOf(P("/e")).empty());

  std::string data;
  std::vector<std::string> children;
  // Malformed for every call. (A trailing slash is fine for a sequential create in ZooKeeper: the
  // number follows it.)
  for (const std::string bad : {"", "a", "a/b", "//", "/a//b"}) {
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
  for (const std::string& bad : {P("/p/"), P("/a/")}) {
    SCOPED_TRACE("path '" + bad + "'");
    EXPECT_EQ(a_->Create(bad, "", NodeMode::kPersistent, nullptr), Code::kBadArguments);
    EXPECT_EQ(a_->Exists(bad, nullptr, nullptr), Code::kBadArguments);
    EXPECT_EQ(a_->Set(bad, "", kAnyVersion, nullptr), Code::kBadArguments);
    EXPECT_EQ(a_->Delete(bad, kAnyVersion), Code::kBadArguments);
  }
  EXPECT_EQ(a_->Delete("/", kAnyVersion), Code::kBadArguments);
  EXPECT_EQ(a_->Exists("/", nullptr, nullptr), Code::kOk);
}

TEST_P(RegistryConformanceTest, SequentialNamesHaveTenDigitsAndIncreasePerParent) {
  ASSERT_EQ(EnsurePath(*a_, P("/p1")), Code::kOk);
  ASSERT_EQ(EnsurePath(*a_, P("/p2")), Code::kOk);
  const std::string prefix = P("/p1/n-");
  std::vector<std::string> names;
  for (int i = 0; i < 3; ++i) {
    std::string created;
    ASSERT_EQ(a_->Create(prefix, "", NodeMode::kPersistentSequential, &created), Code::kOk);
    ASSERT_EQ(created.substr(0, prefix.size()), prefix);
    std::string suffix = created.substr(prefix.size());
    EXPECT_EQ(suffix.size(), 10u) << created;
    EXPECT_TRUE(AllDigits(suffix)) << created;
    names.push_back(created);
  }
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_LT(names[0], names[1]);
  EXPECT_LT(names[1], names[2]);

  // Another parent counts on its own.
  std::string other;
  ASSERT_EQ(a_->Create(P("/p2/n-"), "", NodeMode::kEphemeralSequential, &other), Code::kOk);
  EXPECT_EQ(other, P("/p2/n-0000000000"));

  // A deleted node's number is never handed out again; ephemeral ones count the same way.
  ASSERT_EQ(a_->Delete(names[2], kAnyVersion), Code::kOk);
  std::string next;
  ASSERT_EQ(b_->Create(prefix, "", NodeMode::kEphemeralSequential, &next), Code::kOk);
  EXPECT_GT(next, names[2]);
  EXPECT_EQ(StatOf(next).ephemeral_owner, b_->SessionId());

  std::vector<std::string> children = ChildrenOf(P("/p1"));
  EXPECT_TRUE(std::is_sorted(children.begin(), children.end()));
  EXPECT_EQ(children.size(), 3u);
}

TEST_P(RegistryConformanceTest, ZxidsIncreaseStrictly) {
  ASSERT_EQ(a_->Create(P("/a"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  ASSERT_EQ(b_->Create(P("/b"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  Stat a = StatOf(P("/a"));
  Stat b = StatOf(P("/b"));
  EXPECT_GT(a.czxid, 0);
  EXPECT_EQ(a.mzxid, a.czxid);
  EXPECT_GT(b.czxid, a.czxid);

  Stat set;
  ASSERT_EQ(a_->Set(P("/a"), "1", kAnyVersion, &set), Code::kOk);
  EXPECT_EQ(set.czxid, a.czxid);
  EXPECT_GT(set.mzxid, b.czxid);
  Stat reread = StatOf(P("/a"));
  EXPECT_EQ(reread.mzxid, set.mzxid);
  EXPECT_EQ(reread.version, set.version);

  std::int64_t last = set.mzxid;
  for (int i = 0; i < 20; ++i) {
    Stat step;
    Registry& session = (i % 2 == 0) ? *a_ : *b_;
    ASSERT_EQ(session.Set(P(i % 3 == 0 ? "/a" : "/b"), std::to_string(i), kAnyVersion, &step),
              Code::kOk);
    EXPECT_GT(step.mzxid, last);
    last = step.mzxid;
  }
  ASSERT_EQ(a_->Create(P("/c"), "", NodeMode::kEphemeral, nullptr), Code::kOk);
  EXPECT_GT(StatOf(P("/c")).czxid, last);
}

TEST_P(RegistryConformanceTest, StatFields) {
  ASSERT_EQ(a_->Create(P("/p"), "data", NodeMode::kPersistent, nullptr), Code::kOk);
  Stat p = StatOf(P("/p"));
  EXPECT_EQ(p.version, 0);
  EXPECT_EQ(p.cversion, 0);
  EXPECT_EQ(p.num_children, 0);
  EXPECT_EQ(p.ephemeral_owner, 0);
  EXPECT_GT(p.ctime_ms, 0);
  EXPECT_EQ(p.mtime_ms, p.ctime_ms);

  ASSERT_EQ(a_->Create(P("/p/x"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  ASSERT_EQ(a_->Create(P("/p/e"), "", NodeMode::kEphemeral, nullptr), Code::kOk);
  p = StatOf(P("/p"));
  EXPECT_EQ(p.num_children, 2);
  EXPECT_EQ(p.cversion, 2);
  EXPECT_EQ(p.version, 0);  // children do not change the data version
  EXPECT_EQ(StatOf(P("/p/e")).ephemeral_owner, a_->SessionId());
  EXPECT_EQ(StatOf(P("/p/x")).ephemeral_owner, 0);
  EXPECT_NE(a_->SessionId(), b_->SessionId());

  ASSERT_EQ(a_->Delete(P("/p/x"), kAnyVersion), Code::kOk);
  p = StatOf(P("/p"));
  EXPECT_EQ(p.num_children, 1);
  EXPECT_EQ(p.cversion, 3);

  ASSERT_EQ(a_->Set(P("/p"), "new", kAnyVersion, nullptr), Code::kOk);
  Stat after = StatOf(P("/p"));
  EXPECT_EQ(after.version, 1);
  EXPECT_EQ(after.ctime_ms, p.ctime_ms);
  EXPECT_GE(after.mtime_ms, p.ctime_ms);
  EXPECT_EQ(after.czxid, p.czxid);
}

TEST_P(RegistryConformanceTest, EphemeralNodesVanishWhenTheSessionCloses) {
  {
    std::unique_ptr<Registry> session = backend_->OpenSession();
    ASSERT_NE(session, nullptr);
    session->AddSessionListener(recorder_.Listen());
    EXPECT_EQ(session->State(), SessionState::kConnected);
    ASSERT_EQ(session->Create(P("/e"), "", NodeMode::kEphemeral, nullptr), Code::kOk);
    ASSERT_EQ(session->Create(P("/kept"), "", NodeMode::kPersistent, nullptr), Code::kOk);
    ASSERT_EQ(session->Create(P("/kept/e-"), "", NodeMode::kEphemeralSequential, nullptr),
              Code::kOk);
    ASSERT_EQ(b_->Exists(P("/e"), nullptr, recorder_.Watch("e")), Code::kOk);
  }
  EXPECT_EQ(b_->Exists(P("/e"), nullptr, nullptr), Code::kNoNode);
  EXPECT_EQ(b_->Exists(P("/kept"), nullptr, nullptr), Code::kOk);
  EXPECT_TRUE(ChildrenOf(P("/kept")).empty());
  EXPECT_EQ(StatOf(P("/kept")).num_children, 0);
  ASSERT_TRUE(recorder_.WaitForEvents(1));
  EXPECT_EQ(recorder_.Events()[0].event.type, EventType::kDeleted);
  ASSERT_TRUE(recorder_.WaitForStates(1));
  EXPECT_EQ(recorder_.States(), std::vector<SessionState>{SessionState::kClosed});
}

TEST_P(RegistryConformanceTest, AClosedSessionsWatchesNeverFire) {
  ASSERT_EQ(b_->Create(P("/a"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  ASSERT_EQ(b_->Create(P("/p"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  std::unique_ptr<Registry> session = backend_->OpenSession();
  ASSERT_NE(session, nullptr);
  std::string data;
  std::vector<std::string> children;
  ASSERT_EQ(session->Get(P("/a"), &data, nullptr, recorder_.Watch("get")), Code::kOk);
  ASSERT_EQ(session->Exists(P("/missing"), nullptr, recorder_.Watch("exists")), Code::kNoNode);
  ASSERT_EQ(session->GetChildren(P("/p"), &children, recorder_.Watch("children")), Code::kOk);
  session.reset();
  ASSERT_EQ(b_->Set(P("/a"), "changed", kAnyVersion, nullptr), Code::kOk);
  ASSERT_EQ(b_->Create(P("/missing"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  ASSERT_EQ(b_->Create(P("/p/c"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  Drain(*b_);
  EXPECT_TRUE(recorder_.Events().empty());
}

TEST_P(RegistryConformanceTest, AFailedMultiLeavesNoTraceAndFiresNoWatch) {
  ASSERT_EQ(b_->Create(P("/a"), "a0", NodeMode::kPersistent, nullptr), Code::kOk);
  ASSERT_EQ(b_->Create(P("/p"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  ASSERT_EQ(b_->Create(P("/p/d"), "d0", NodeMode::kPersistent, nullptr), Code::kOk);
  const std::string sequential_prefix = P("/p/s-");
  std::string last_sequential;
  ASSERT_EQ(b_->Create(sequential_prefix, "", NodeMode::kPersistentSequential, &last_sequential),
            Code::kOk);
  Stat a_before = StatOf(P("/a"));
  Stat p_before = StatOf(P("/p"));
  Stat d_before = StatOf(P("/p/d"));
  std::vector<std::string> children_before = ChildrenOf(P("/p"));

  std::string data;
  std::vector<std::string> children;
  ASSERT_EQ(b_->Get(P("/a"), &data, nullptr, recorder_.Watch("a")), Code::kOk);
  ASSERT_EQ(b_->GetChildren(P("/p"), &children, recorder_.Watch("p children")), Code::kOk);
  ASSERT_EQ(b_->Exists(P("/p/e"), nullptr, recorder_.Watch("e")), Code::kNoNode);
  ASSERT_EQ(b_->Exists(P("/p/d"), nullptr, recorder_.Watch("d")), Code::kOk);

  std::vector<OpResult> results;
  Code code = a_->Multi({Op::SetData(P("/a"), "a1"),
                         Op::Create(sequential_prefix, "", NodeMode::kPersistentSequential),
                         Op::Create(P("/p/e"), "", NodeMode::kEphemeral), Op::Delete(P("/p/d")),
                         Op::Create(P("/p/new"), ""), Op::SetData(P("/a"), "a2", 1),
                         Op::Check(P("/a"), 7),  // fails: /a is at version 2 here
                         Op::Create(P("/p/after"), "")},
                        &results);
  EXPECT_EQ(code, Code::kBadVersion);
  ASSERT_EQ(results.size(), 8u);
  EXPECT_EQ(results[6].code, Code::kBadVersion);
  for (std::size_t i : {0, 1, 2, 3, 4, 5, 7}) EXPECT_EQ(results[i].code, Code::kOk) << i;

  Stat a_after = StatOf(P("/a"));
  EXPECT_EQ(DataOf(P("/a")), "a0");
  EXPECT_EQ(a_after.version, a_before.version);
  EXPECT_EQ(a_after.mzxid, a_before.mzxid);
  EXPECT_EQ(DataOf(P("/p/d")), "d0");
  Stat d_after = StatOf(P("/p/d"));
  EXPECT_EQ(d_after.czxid, d_before.czxid);
  EXPECT_EQ(d_after.version, d_before.version);
  EXPECT_EQ(ChildrenOf(P("/p")), children_before);
  Stat p_after = StatOf(P("/p"));
  EXPECT_EQ(p_after.cversion, p_before.cversion);
  EXPECT_EQ(p_after.num_children, p_before.num_children);
  EXPECT_EQ(b_->Exists(P("/p/e"), nullptr, nullptr), Code::kNoNode);
  EXPECT_EQ(b_->Exists(P("/p/new"), nullptr, nullptr), Code::kNoNode);
  EXPECT_EQ(b_->Exists(P("/p/after"), nullptr, nullptr), Code::kNoNode);
  Drain(*b_);
  EXPECT_TRUE(recorder_.Events().empty());

  // The sequence counter did not move: the next number follows the last real one.
  std::string next_sequential;
  ASSERT_EQ(b_->Create(sequential_prefix, "", NodeMode::kPersistentSequential, &next_sequential),
            Code::kOk);
  EXPECT_EQ(std::stoll(next_sequential.substr(sequential_prefix.size())),
            std::stoll(last_sequential.substr(sequential_prefix.size())) + 1);

  // The undone ephemeral is not the session's: the session's end must not take another node
  // that now has its path.
  ASSERT_EQ(b_->Create(P("/p/e"), "persistent now", NodeMode::kPersistent, nullptr), Code::kOk);
  a_.reset();
  EXPECT_EQ(DataOf(P("/p/e")), "persistent now");

  // Every watch is still armed, and fires once, for the real change.
  ASSERT_TRUE(recorder_.WaitForEvents(2));  // the creates of /p/s- and /p/e: "p children", "e"
  ASSERT_EQ(b_->Set(P("/a"), "real", kAnyVersion, nullptr), Code::kOk);
  ASSERT_EQ(b_->Delete(P("/p/d"), kAnyVersion), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(4));
  Drain(*b_);
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

TEST_P(RegistryConformanceTest, MultiOpsSeeEarlierOpsAndShareOneZxid) {
  ASSERT_EQ(a_->Create(P("/a"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  std::int64_t before = StatOf(P("/a")).czxid;
  std::vector<OpResult> results;
  ASSERT_EQ(a_->Multi({Op::Create(P("/m"), "parent"), Op::Create(P("/m/c"), "v0"),
                       Op::SetData(P("/m/c"), "v1", 0), Op::Check(P("/m/c"), 1),
                       Op::SetData(P("/m/c"), "v2", 1), Op::Delete(P("/m/c"), 2),
                       Op::Create(P("/m/c"), "again", NodeMode::kEphemeral),
                       Op::Create(P("/m/s-"), "", NodeMode::kPersistentSequential),
                       Op::SetData(P("/a"), "touched")},
                      &results),
            Code::kOk);
  ASSERT_EQ(results.size(), 9u);
  for (const OpResult& result : results) EXPECT_EQ(result.code, Code::kOk);
  EXPECT_EQ(results[0].created_path, P("/m"));
  EXPECT_EQ(results[7].created_path.substr(0, P("/m/s-").size()), P("/m/s-"));
  EXPECT_TRUE(AllDigits(results[7].created_path.substr(P("/m/s-").size())));
  EXPECT_EQ(results[2].stat.version, 1);
  EXPECT_EQ(results[4].stat.version, 2);

  EXPECT_EQ(DataOf(P("/m/c")), "again");
  Stat m = StatOf(P("/m"));
  Stat c = StatOf(P("/m/c"));
  Stat s = StatOf(results[7].created_path);
  Stat a = StatOf(P("/a"));
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
  ASSERT_EQ(a_->Set(P("/a"), "", kAnyVersion, &after), Code::kOk);
  EXPECT_GT(after.mzxid, m.czxid);

  // Ephemerals made by a multi belong to the session like any other.
  a_.reset();
  EXPECT_EQ(b_->Exists(P("/m/c"), nullptr, nullptr), Code::kNoNode);
  EXPECT_EQ(b_->Exists(P("/m"), nullptr, nullptr), Code::kOk);

  // An empty multi is a transaction too.
  EXPECT_EQ(b_->Multi({}, &results), Code::kOk);
  EXPECT_TRUE(results.empty());
}

TEST_P(RegistryConformanceTest, DataWatchFiresOnceOnSetAndOnDelete) {
  ASSERT_EQ(a_->Create(P("/a"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  std::string data;
  ASSERT_EQ(b_->Get(P("/a"), &data, nullptr, recorder_.Watch("set")), Code::kOk);
  ASSERT_EQ(a_->Set(P("/a"), "1", kAnyVersion, nullptr), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(1));
  ASSERT_EQ(a_->Set(P("/a"), "2", kAnyVersion, nullptr), Code::kOk);  // the watch is spent
  Drain(*b_);
  ASSERT_EQ(recorder_.Events().size(), 1u);
  EXPECT_EQ(recorder_.Events()[0].event.type, EventType::kDataChanged);
  EXPECT_EQ(recorder_.Events()[0].event.path, P("/a"));

  ASSERT_EQ(b_->Exists(P("/a"), nullptr, recorder_.Watch("delete")), Code::kOk);
  ASSERT_EQ(b_->Get(P("/a"), &data, nullptr, recorder_.Watch("delete")), Code::kOk);
  ASSERT_EQ(a_->Delete(P("/a"), kAnyVersion), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(3));
  ASSERT_EQ(a_->Create(P("/a"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  Drain(*b_);
  std::vector<Recorder::Record> events = recorder_.Events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].event.type, EventType::kDeleted);
  EXPECT_EQ(events[2].event.type, EventType::kDeleted);
}

TEST_P(RegistryConformanceTest, ExistsWatchOnAMissingNodeFiresOnCreate) {
  std::string data;
  // getData on a missing node sets no watch, as in ZooKeeper; exists does.
  ASSERT_EQ(b_->Get(P("/n"), &data, nullptr, recorder_.Watch("get")), Code::kNoNode);
  ASSERT_EQ(b_->Exists(P("/n"), nullptr, recorder_.Watch("exists")), Code::kNoNode);
  ASSERT_EQ(a_->Create(P("/n"), "", NodeMode::kEphemeral, nullptr), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(1));
  ASSERT_EQ(a_->Set(P("/n"), "x", kAnyVersion, nullptr), Code::kOk);
  Drain(*b_);
  std::vector<Recorder::Record> events = recorder_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].tag, "exists");
  EXPECT_EQ(events[0].event.type, EventType::kCreated);
  EXPECT_EQ(events[0].event.path, P("/n"));
}

TEST_P(RegistryConformanceTest, ChildWatchFiresOnChildCreateAndDelete) {
  ASSERT_EQ(a_->Create(P("/p"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  std::vector<std::string> children;
  ASSERT_EQ(b_->GetChildren(P("/p"), &children, recorder_.Watch("create")), Code::kOk);
  ASSERT_EQ(a_->Create(P("/p/c"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(1));
  ASSERT_EQ(a_->Create(P("/p/d"), "", NodeMode::kPersistent, nullptr), Code::kOk);  // spent

  ASSERT_EQ(b_->GetChildren(P("/p"), &children, recorder_.Watch("delete")), Code::kOk);
  EXPECT_EQ(children, (std::vector<std::string>{"c", "d"}));
  ASSERT_EQ(a_->Set(P("/p/c"), "data", kAnyVersion, nullptr), Code::kOk);  // not a child change
  ASSERT_EQ(a_->Set(P("/p"), "data", kAnyVersion, nullptr), Code::kOk);    // nor is this
  ASSERT_EQ(a_->Delete(P("/p/c"), kAnyVersion), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(2));

  ASSERT_EQ(b_->GetChildren(P("/p"), &children, recorder_.Watch("self")), Code::kOk);
  ASSERT_EQ(a_->Delete(P("/p/d"), kAnyVersion), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(3));
  ASSERT_EQ(b_->GetChildren(P("/p"), &children, recorder_.Watch("self deleted")), Code::kOk);
  ASSERT_EQ(a_->Delete(P("/p"), kAnyVersion), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(4));
  Drain(*b_);

  std::vector<Recorder::Record> events = recorder_.Events();
  ASSERT_EQ(events.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(events[i].event.type, EventType::kChildrenChanged);
    EXPECT_EQ(events[i].event.path, P("/p"));
  }
  EXPECT_EQ(events[0].tag, "create");
  EXPECT_EQ(events[1].tag, "delete");
  EXPECT_EQ(events[3].tag, "self deleted");
  EXPECT_EQ(events[3].event.type, EventType::kDeleted);
}

// One event thread per session at least (the embedded store has one for all sessions), never
// the caller's.
TEST_P(RegistryConformanceTest, ASessionsWatchersFireOnItsOneEventThread) {
  ASSERT_EQ(a_->Create(P("/a"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  std::string data;
  std::vector<std::string> children;
  ASSERT_EQ(a_->Get(P("/a"), &data, nullptr, recorder_.Watch("a")), Code::kOk);
  ASSERT_EQ(b_->Get(P("/a"), &data, nullptr, recorder_.Watch("b")), Code::kOk);
  ASSERT_EQ(b_->Exists(P("/a"), nullptr, recorder_.Watch("b")), Code::kOk);
  ASSERT_EQ(b_->GetChildren(P("/a"), &children, recorder_.Watch("b")), Code::kOk);
  ASSERT_EQ(b_->Exists(P("/n"), nullptr, recorder_.Watch("b")), Code::kNoNode);
  ASSERT_EQ(a_->Set(P("/a"), "1", kAnyVersion, nullptr), Code::kOk);
  ASSERT_EQ(a_->Create(P("/a/c"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  ASSERT_EQ(a_->Create(P("/n"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  ASSERT_TRUE(recorder_.WaitForEvents(5));
  std::vector<Recorder::Record> events = recorder_.Events();
  ASSERT_EQ(events.size(), 5u);
  std::set<std::thread::id> b_threads;
  for (const Recorder::Record& record : events) {
    EXPECT_NE(record.thread, std::this_thread::get_id());
    if (record.tag == "b") b_threads.insert(record.thread);
  }
  EXPECT_EQ(b_threads.size(), 1u);
}

TEST_P(RegistryConformanceTest, AWatcherMayCallBackIntoTheRegistry) {
  ASSERT_EQ(a_->Create(P("/a"), "0", NodeMode::kPersistent, nullptr), Code::kOk);
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> seen;
  // Re-arms itself by reading again, and writes, from the event thread.
  std::function<void(const WatchEvent&)> watcher;
  watcher = [&](const WatchEvent&) {
    std::string data;
    Code code = b_->Get(P("/a"), &data, nullptr, watcher);
    Code mirrored = b_->Create(P("/mirror-") + data, "", NodeMode::kEphemeral, nullptr);
    std::lock_guard<std::mutex> lock(mutex);
    seen.push_back(code == Code::kOk && mirrored == Code::kOk ? data : "error");
    changed.notify_all();
  };
  std::string data;
  ASSERT_EQ(b_->Get(P("/a"), &data, nullptr, watcher), Code::kOk);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_EQ(a_->Set(P("/a"), std::to_string(i), kAnyVersion, nullptr), Code::kOk);
    std::unique_lock<std::mutex> lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, kTimeout, [&] { return seen.size() == std::size_t(i); }));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(a_->Exists(P("/mirror-3"), nullptr, nullptr), Code::kOk);
  // Stop the chain before `watcher` goes out of scope.
  b_.reset();
  Drain(*a_);
}

TEST_P(RegistryConformanceTest, RequestCountCountsEveryRequest) {
  std::unique_ptr<Registry> session = backend_->OpenSession();
  ASSERT_NE(session, nullptr);
  EXPECT_EQ(session->RequestCount(), 0u);
  std::string data;
  std::vector<std::string> children;
  std::vector<OpResult> results;
  ASSERT_EQ(session->Create(P("/a"), "", NodeMode::kPersistent, nullptr), Code::kOk);
  EXPECT_EQ(session->Create(P("/a"), "", NodeMode::kPersistent, nullptr), Code::kNodeExists);
  ASSERT_EQ(session->Get(P("/a"), &data, nullptr, nullptr), Code::kOk);
  ASSERT_EQ(session->Exists(P("/a"), nullptr, nullptr), Code::kOk);
  ASSERT_EQ(session->Set(P("/a"), "", kAnyVersion, nullptr), Code::kOk);
  ASSERT_EQ(session->GetChildren(P("/a"), &children, nullptr), Code::kOk);
  ASSERT_EQ(
      session->Multi({Op::Create(P("/a/1"), ""), Op::Create(P("/a/2"), ""), Op::Check(P("/a"), 1)},
                     &results),
      Code::kOk);
  ASSERT_EQ(session->Delete(P("/a/1"), kAnyVersion), Code::kOk);
  EXPECT_EQ(session->RequestCount(), 8u);
  ASSERT_EQ(b_->Exists(P("/a"), nullptr, nullptr), Code::kOk);  // another session's
  EXPECT_EQ(session->RequestCount(), 8u);
  ASSERT_EQ(EnsurePath(*session, P("/a")), Code::kOk);  // exists: one request
  EXPECT_EQ(session->RequestCount(), 9u);
}

TEST_P(RegistryConformanceTest, EnsurePathCreatesMissingParents) {
  ASSERT_EQ(EnsurePath(*a_, P("/x/y/z")), Code::kOk);
  EXPECT_EQ(ChildrenOf(P("/x")), std::vector<std::string>{"y"});
  EXPECT_EQ(ChildrenOf(P("/x/y")), std::vector<std::string>{"z"});
  EXPECT_EQ(StatOf(P("/x/y/z")).ephemeral_owner, 0);
  EXPECT_EQ(EnsurePath(*a_, P("/x/y/z")), Code::kOk);
  EXPECT_EQ(EnsurePath(*b_, P("/x/y/w")), Code::kOk);
  EXPECT_EQ(ChildrenOf(P("/x/y")), (std::vector<std::string>{"w", "z"}));
  EXPECT_EQ(EnsurePath(*a_, "/"), Code::kOk);
  EXPECT_EQ(EnsurePath(*a_, ""), Code::kBadArguments);
  EXPECT_EQ(EnsurePath(*a_, "x/y"), Code::kBadArguments);
  EXPECT_EQ(EnsurePath(*a_, P("/x/")), Code::kBadArguments);
  ASSERT_EQ(a_->Create(P("/eph"), "", NodeMode::kEphemeral, nullptr), Code::kOk);
  EXPECT_EQ(EnsurePath(*a_, P("/eph/child")), Code::kNoChildrenForEphemerals);
}

TEST_P(RegistryConformanceTest, GuardedWritesFromManyThreadsLoseNoUpdate) {
  ASSERT_EQ(a_->Create(P("/counter"), "0", NodeMode::kPersistent, nullptr), Code::kOk);
  constexpr int kThreads = 4;
  const int increments = GetParam().increments_per_thread;
  std::vector<std::unique_ptr<Registry>> sessions;
  for (int i = 0; i < kThreads; ++i) {
    sessions.push_back(backend_->OpenSession());
    ASSERT_NE(sessions.back(), nullptr);
  }
  const std::string counter = P("/counter");
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Registry& session = *sessions[t];
      const std::string lease = P("/lease-" + std::to_string(t));
      for (int done = 0; done < increments;) {
        std::string data;
        Stat stat;
        if (session.Get(counter, &data, &stat, nullptr) != Code::kOk) return;
        std::vector<OpResult> results;
        // Half through Set, half through Multi, each with an ephemeral made and dropped.
        std::string next = std::to_string(std::stoi(data) + 1);
        Code code =
            (done % 2 == 0)
                ? session.Set(counter, next, stat.version, nullptr)
                : session.Multi({Op::SetData(counter, next, stat.version),
                                 Op::Create(lease, "", NodeMode::kEphemeral), Op::Delete(lease)},
                                &results);
        if (code == Code::kOk) ++done;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(DataOf(counter), std::to_string(kThreads * increments));
  EXPECT_EQ(StatOf(counter).version, kThreads * increments);
  EXPECT_EQ(ChildrenOf(root_), (std::vector<std::string>{"counter"}));
}

}  // namespace
}  // namespace shardjob::registry::conformance
