// The SQLITE and POSTGRESQL trace histories (spi/trace_history.h), their sources compiled in:
// events written by the tracer of the same type are read back, filtered, paged and counted,
// against a temp SQLite file and a real PostgreSQL server (tests/support/postgres_server.h).
// The last tests build both objects through the real plugin libraries and PluginRegistry.

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plugin/plugin_registry.h"
#include "shardjob/spi/plugin.h"
#include "shardjob/spi/trace_history.h"
#include "support/postgres_server.h"
#include "support/test_support.h"
#include "tracers/postgresql/postgresql_history.h"
#include "tracers/postgresql/postgresql_tracer.h"
#include "tracers/rdb/trace_history_sql.h"
#include "tracers/sqlite/sqlite_history.h"
#include "tracers/sqlite/sqlite_tracer.h"
#include "tracing/pg_client.h"
#include "tracing/trace_events.h"

namespace shardjob::tracers {
namespace {

using shardjob::testing::FireStatus;
using shardjob::testing::kStartMs;
using shardjob::testing::PgClient;
using shardjob::testing::PostgresServer;
using shardjob::testing::TaskEnd;
using shardjob::testing::TaskStart;
using shardjob::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Ids = std::vector<std::string>;

class NullLogger : public spi::Logger {
 public:
  void Log(spi::LogLevel, std::string_view) override {}
};

// Every field, so that one comparison shows what differs.
std::string Describe(const spi::ExecutionEvent& e) {
  return e.id + "|" + e.hostname + "|" + e.ip + "|" + e.task_id + "|" + e.job_name + "|" +
         spi::ExecutionSourceName(e.source) + "|" + std::to_string(e.sharding_item) + "|" +
         std::to_string(e.start_time_ms) + "|" + std::to_string(e.complete_time_ms) + "|" +
         (e.success ? "true" : "false") + "|" + e.failure_cause + "|" + e.fire_id + "|" +
         e.instance_id + "|" + std::to_string(e.fencing_token) + "|" +
         std::to_string(e.items_processed);
}

std::string Describe(const spi::StatusEvent& e) {
  return e.id + "|" + e.job_name + "|" + e.original_task_id + "|" + e.task_id + "|" + e.slave_id +
         "|" + e.execution_type + "|" + e.sharding_items + "|" + spi::TaskStateName(e.state) + "|" +
         e.message + "|" + std::to_string(e.creation_time_ms) + "|" + e.fire_id;
}

template <typename Page>
Ids IdsOf(const Page& page) {
  Ids ids;
  for (const auto& event : page.events) ids.push_back(event.id);
  return ids;
}

// One backend: the tracer and history of a type, on a fresh database.
class TraceHistoryTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    if (postgres()) {
      if (!server_) server_ = std::make_unique<PostgresServer>();
      const std::string database = "history" + std::to_string(++databases_);
      testing::CreateDatabase(server_->Url(), database);
      props_ = spi::Properties({{"url", server_->Url(database)}});
    } else {
      props_ = spi::Properties({{"path", dir_.File("trace.db")}});
    }
  }

  bool postgres() const { return GetParam() == "POSTGRESQL"; }
  spi::PluginContext Context() { return spi::PluginContext{props_, logger_, ""}; }

  std::unique_ptr<spi::Tracer> NewTracer() {
    if (postgres()) return std::make_unique<PostgresqlTracer>(Context());
    return std::make_unique<SqliteTracer>(Context());
  }
  std::unique_ptr<spi::TraceHistory> NewHistory() {
    if (postgres()) return std::make_unique<PostgresqlHistory>(Context());
    return std::make_unique<SqliteHistory>(Context());
  }

  // Writes through one tracer, kept for the test, as the kernel would.
  void Write(const std::vector<spi::TraceEvent>& events) {
    if (!tracer_) tracer_ = NewTracer();
    spi::Status status = tracer_->Write(events);
    ASSERT_TRUE(status.ok()) << status.ToString();
  }

  spi::ExecutionPage Executions(const spi::ExecutionQuery& query) {
    if (!history_) history_ = NewHistory();
    spi::ExecutionPage page;
    spi::Status status = history_->QueryExecutions(query, &page);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return page;
  }
  spi::StatusPage Statuses(const spi::StatusQuery& query) {
    if (!history_) history_ = NewHistory();
    spi::StatusPage page;
    spi::Status status = history_->QueryStatus(query, &page);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return page;
  }

  static std::unique_ptr<PostgresServer> server_;
  static int databases_;
  TempDir dir_;
  NullLogger logger_;
  spi::Properties props_;
  std::unique_ptr<spi::Tracer> tracer_;
  std::unique_ptr<spi::TraceHistory> history_;
};

std::unique_ptr<PostgresServer> TraceHistoryTest::server_;
int TraceHistoryTest::databases_ = 0;

spi::ExecutionEvent Execution(const std::string& id, const std::string& job,
                              const std::string& instance, const std::string& fire, int item,
                              std::int64_t start_ms) {
  spi::ExecutionEvent event = TaskStart(id, item, fire);
  event.job_name = job;
  event.instance_id = instance;
  event.task_id = job + "@-@" + fire + "@-@" + std::to_string(item) + "@-@" + instance;
  event.start_time_ms = start_ms;
  return event;
}

spi::StatusEvent Status(const std::string& id, const std::string& job, const std::string& slave,
                        const std::string& fire, spi::TaskState state, std::int64_t created_ms) {
  spi::StatusEvent event = FireStatus(id, state, fire);
  event.job_name = job;
  event.slave_id = slave;
  event.task_id = job + "@-@" + fire + "@-@" + slave;
  event.creation_time_ms = created_ms;
  return event;
}

constexpr std::int64_t kMinute = 60000;

// Before any event is written, there are no tables (no file at all for SQLite): an empty page.
TEST_P(TraceHistoryTest, NothingWrittenYetIsAnEmptyHistory) {
  auto executions = Executions({});
  EXPECT_TRUE(executions.events.empty());
  EXPECT_EQ(executions.total, 0u);
  auto statuses = Statuses({});
  EXPECT_TRUE(statuses.events.empty());
  EXPECT_EQ(statuses.total, 0u);
  if (!postgres()) {
    // Reading does not create the file; the history finds it once the tracer has.
    EXPECT_FALSE(std::filesystem::exists(props_.GetOr("path", "")));
  }
  // The same object reads what is written later.
  Write({TaskStart("e1"), FireStatus("s1", spi::TaskState::kStaging)});
  EXPECT_EQ(IdsOf(Executions({})), Ids{"e1"});
  EXPECT_EQ(IdsOf(Statuses({})), Ids{"s1"});
}

// Tables that exist but hold nothing yet.
TEST_P(TraceHistoryTest, EmptyTablesAreAnEmptyHistory) {
  Write({TaskStart("e1")});
  auto statuses = Statuses({});
  EXPECT_TRUE(statuses.events.empty());
  EXPECT_EQ(statuses.total, 0u);
  spi::ExecutionQuery nobody;
  nobody.job_name = "nobody";
  auto executions = Executions(nobody);
  EXPECT_TRUE(executions.events.empty());
  EXPECT_EQ(executions.total, 0u);
}

TEST_P(TraceHistoryTest, ReadsBackEveryFieldOfBothEvents) {
  auto running = TaskStart("e1", 3);
  running.source = spi::ExecutionSource::kMisfire;
  auto failed = TaskStart("e2", 4);
  failed.source = spi::ExecutionSource::kFailover;
  failed.start_time_ms = kStartMs + 10;
  auto failed_end = TaskEnd(failed, false, "exit code 3");
  failed_end.items_processed = 42;
  auto succeeded = TaskStart("e3", 5);
  succeeded.start_time_ms = kStartMs + 20;
  succeeded.source = spi::ExecutionSource::kManualTrigger;
  auto status = FireStatus("s1", spi::TaskState::kDropped);
  status.original_task_id = "orders@-@0@-@orig";
  status.execution_type = "FAILOVER";
  status.message = "skipped: the previous fire still runs";
  Write({running, failed, failed_end, succeeded, TaskEnd(succeeded, true), status});

  auto page = Executions({});
  ASSERT_EQ(page.events.size(), 3u);
  EXPECT_EQ(page.total, 3u);
  EXPECT_EQ(Describe(page.events[0]), Describe(TaskEnd(succeeded, true)));
  EXPECT_EQ(Describe(page.events[1]), Describe(failed_end));
  EXPECT_EQ(Describe(page.events[2]), Describe(running));

  auto statuses = Statuses({});
  ASSERT_EQ(statuses.events.size(), 1u);
  EXPECT_EQ(Describe(statuses.events[0]), Describe(status));
}

class FilterTest : public TraceHistoryTest {
 protected:
  void SetUp() override {
    TraceHistoryTest::SetUp();
    auto e1 = Execution("e1", "orders", "inst-a", "F1", 0, kStartMs);
    auto e2 = Execution("e2", "orders", "inst-a", "F1", 1, kStartMs);
    auto e3 = Execution("e3", "orders", "inst-b", "F2", 0, kStartMs + kMinute);
    auto e4 = Execution("e4", "billing", "inst-b", "F3", 2, kStartMs + 2 * kMinute);
    Write({e1, e2, e3, e4, TaskEnd(e1, true), TaskEnd(e2, false, "boom"), TaskEnd(e4, true)});
    Write(
        {Status("s1", "orders", "inst-a", "F1", spi::TaskState::kStaging, kStartMs),
         Status("s2", "orders", "inst-a", "F1", spi::TaskState::kRunning, kStartMs + 1),
         Status("s3", "orders", "inst-a", "F1", spi::TaskState::kFinished, kStartMs + 2000),
         Status("s4", "orders", "inst-b", "F2", spi::TaskState::kDropped, kStartMs + kMinute),
         Status("s5", "billing", "inst-b", "F3", spi::TaskState::kError, kStartMs + 2 * kMinute)});
  }

  // The ids of the matching executions and checks that the total agrees with them.
  Ids Matching(const spi::ExecutionQuery& query) {
    auto page = Executions(query);
    EXPECT_EQ(page.total, page.events.size());
    return IdsOf(page);
  }
  Ids Matching(const spi::StatusQuery& query) {
    auto page = Statuses(query);
    EXPECT_EQ(page.total, page.events.size());
    return IdsOf(page);
  }
};

TEST_P(FilterTest, ExecutionsNewestFirstThenById) {
  EXPECT_EQ(Matching(spi::ExecutionQuery{}), (Ids{"e4", "e3", "e2", "e1"}));
}

TEST_P(FilterTest, ExecutionsByJobInstanceFireAndItem) {
  spi::ExecutionQuery query;
  query.job_name = "orders";
  EXPECT_EQ(Matching(query), (Ids{"e3", "e2", "e1"}));
  query = {};
  query.instance_id = "inst-b";
  EXPECT_EQ(Matching(query), (Ids{"e4", "e3"}));
  query = {};
  query.fire_id = "F1";
  EXPECT_EQ(Matching(query), (Ids{"e2", "e1"}));
  query = {};
  query.sharding_item = 0;
  EXPECT_EQ(Matching(query), (Ids{"e3", "e1"}));
  query = {};
  query.job_name = "orders";
  query.sharding_item = 0;
  query.instance_id = "inst-a";
  EXPECT_EQ(Matching(query), (Ids{"e1"}));
  query = {};
  query.job_name = "ORDERS";  // exact, case and all
  EXPECT_EQ(Matching(query), Ids{});
}

// Only finished executions match a success value: e3 is still running.
TEST_P(FilterTest, ExecutionsBySuccess) {
  spi::ExecutionQuery query;
  query.success = true;
  EXPECT_EQ(Matching(query), (Ids{"e4", "e1"}));
  query.success = false;
  EXPECT_EQ(Matching(query), (Ids{"e2"}));
  query.job_name = "billing";
  EXPECT_EQ(Matching(query), Ids{});
}

// since inclusive, until exclusive, to the millisecond.
TEST_P(FilterTest, ExecutionsByStartTime) {
  spi::ExecutionQuery query;
  query.since_ms = kStartMs + kMinute;
  EXPECT_EQ(Matching(query), (Ids{"e4", "e3"}));
  query = {};
  query.until_ms = kStartMs + kMinute;
  EXPECT_EQ(Matching(query), (Ids{"e2", "e1"}));
  query = {};
  query.since_ms = kStartMs + 1;
  query.until_ms = kStartMs + 2 * kMinute;
  EXPECT_EQ(Matching(query), (Ids{"e3"}));
  query.until_ms = kStartMs + 2 * kMinute + 1;
  EXPECT_EQ(Matching(query), (Ids{"e4", "e3"}));
  query = {};
  query.since_ms = kStartMs + 3 * kMinute;
  EXPECT_EQ(Matching(query), Ids{});
}

TEST_P(FilterTest, StatusNewestFirstAndByJobInstanceFireAndState) {
  EXPECT_EQ(Matching(spi::StatusQuery{}), (Ids{"s5", "s4", "s3", "s2", "s1"}));
  spi::StatusQuery query;
  query.job_name = "orders";
  EXPECT_EQ(Matching(query), (Ids{"s4", "s3", "s2", "s1"}));
  query = {};
  query.instance_id = "inst-b";
  EXPECT_EQ(Matching(query), (Ids{"s5", "s4"}));
  query = {};
  query.fire_id = "F1";
  EXPECT_EQ(Matching(query), (Ids{"s3", "s2", "s1"}));
  query = {};
  query.state = spi::TaskState::kDropped;
  EXPECT_EQ(Matching(query), (Ids{"s4"}));
  query.state = spi::TaskState::kError;
  EXPECT_EQ(Matching(query), (Ids{"s5"}));
  query.state = spi::TaskState::kStaging;
  query.job_name = "orders";
  query.fire_id = "F1";
  query.instance_id = "inst-a";
  EXPECT_EQ(Matching(query), (Ids{"s1"}));
}

TEST_P(FilterTest, StatusByCreationTime) {
  spi::StatusQuery query;
  query.since_ms = kStartMs + 1;
  EXPECT_EQ(Matching(query), (Ids{"s5", "s4", "s3", "s2"}));
  query = {};
  query.until_ms = kStartMs + 1;
  EXPECT_EQ(Matching(query), (Ids{"s1"}));
  query = {};
  query.since_ms = kStartMs + 1;
  query.until_ms = kStartMs + 2001;
  EXPECT_EQ(Matching(query), (Ids{"s3", "s2"}));
}

TEST_P(FilterTest, UntilBeforeSinceIsInvalid) {
  if (!history_) history_ = NewHistory();
  spi::ExecutionQuery executions;
  executions.since_ms = kStartMs;
  executions.until_ms = kStartMs - 1;
  spi::ExecutionPage page;
  EXPECT_EQ(history_->QueryExecutions(executions, &page).code(),
            spi::Status::Code::kInvalidArgument);
  spi::StatusQuery statuses;
  statuses.since_ms = kStartMs;
  statuses.until_ms = kStartMs - 1;
  spi::StatusPage status_page;
  EXPECT_EQ(history_->QueryStatus(statuses, &status_page).code(),
            spi::Status::Code::kInvalidArgument);
}

// Start times repeat every 5 executions, so the order within a time is the id's (descending),
// not the order of writing.
TEST_P(TraceHistoryTest, PagesAreStableAndCarryTheTotal) {
  std::vector<spi::TraceEvent> batch;
  for (int i = 0; i < 25; ++i) {
    char id[8];
    std::snprintf(id, sizeof(id), "e%02d", i);
    batch.push_back(Execution(id, "orders", "inst-a", "F1", i, kStartMs + (i % 5) * 1000));
  }
  std::reverse(batch.begin(), batch.end());
  Write(batch);
  Ids expected;
  for (int group = 4; group >= 0; --group) {
    for (int i = 24; i >= 0; --i) {
      if (i % 5 != group) continue;
      char id[8];
      std::snprintf(id, sizeof(id), "e%02d", i);
      expected.push_back(id);
    }
  }
  spi::ExecutionQuery query;
  query.limit = 7;
  Ids paged;
  for (query.offset = 0; query.offset < 25; query.offset += 7) {
    auto page = Executions(query);
    EXPECT_EQ(page.total, 25u);
    EXPECT_EQ(page.events.size(), std::min<std::size_t>(7, 25 - query.offset));
    for (const auto& event : page.events) paged.push_back(event.id);
  }
  EXPECT_EQ(paged, expected);

  query.offset = 25;
  auto past_the_end = Executions(query);
  EXPECT_TRUE(past_the_end.events.empty());
  EXPECT_EQ(past_the_end.total, 25u);
  query.offset = std::numeric_limits<std::size_t>::max();
  EXPECT_TRUE(Executions(query).events.empty());

  query.offset = 0;
  query.limit = 0;  // the total alone
  auto count_only = Executions(query);
  EXPECT_TRUE(count_only.events.empty());
  EXPECT_EQ(count_only.total, 25u);

  query.limit = 3;
  query.offset = 4;
  query.sharding_item = 24;
  auto filtered = Executions(query);
  EXPECT_TRUE(filtered.events.empty());
  EXPECT_EQ(filtered.total, 1u);
}

TEST_P(TraceHistoryTest, StatusPagesToo) {
  std::vector<spi::TraceEvent> batch;
  for (int i = 0; i < 12; ++i) {
    batch.push_back(Status("s" + std::to_string(100 + i), "orders", "inst-a", "F1",
                           spi::TaskState::kRunning, kStartMs + (i % 3)));
  }
  Write(batch);
  spi::StatusQuery query;
  query.limit = 5;
  Ids paged;
  for (query.offset = 0; query.offset < 12; query.offset += 5) {
    auto page = Statuses(query);
    EXPECT_EQ(page.total, 12u);
    for (const auto& event : page.events) paged.push_back(event.id);
  }
  EXPECT_EQ(paged, (Ids{"s111", "s108", "s105", "s102", "s110", "s107", "s104", "s101", "s109",
                        "s106", "s103", "s100"}));
}

TEST_P(TraceHistoryTest, ThePageIsCappedAtTheMaximum) {
  std::vector<spi::TraceEvent> batch;
  for (std::size_t i = 0; i < spi::kMaxHistoryPage + 5; ++i) {
    batch.push_back(Status("s" + std::to_string(i), "orders", "inst-a", "F1",
                           spi::TaskState::kRunning, kStartMs + static_cast<std::int64_t>(i)));
  }
  Write(batch);
  spi::StatusQuery query;
  query.limit = spi::kMaxHistoryPage * 10;
  auto page = Statuses(query);
  EXPECT_EQ(page.events.size(), spi::kMaxHistoryPage);
  EXPECT_EQ(page.total, spi::kMaxHistoryPage + 5);
  EXPECT_EQ(page.events.front().id, "s" + std::to_string(spi::kMaxHistoryPage + 4));
}

// Filter values are bound parameters: quotes, comment markers, placeholders and LIKE wildcards
// are stored and matched as the characters they are.
TEST_P(TraceHistoryTest, FilterValuesThatLookLikeSqlAreLiteral) {
  const std::vector<std::string> names = {
      "o'rders",
      "x' OR '1'='1",
      "orders'; DROP TABLE job_execution_log; --",
      "orders\"; DELETE FROM job_status_trace_log; --",
      "%",
      "_",
      "back\\slash",
      "$1",
      "?1",
      ":name",
  };
  std::vector<spi::TraceEvent> batch;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string id = std::to_string(i);
    batch.push_back(Execution("e" + id, names[i], names[i], names[i], 0, kStartMs));
    batch.push_back(
        Status("s" + id, names[i], names[i], names[i], spi::TaskState::kRunning, kStartMs));
  }
  Write(batch);
  for (std::size_t i = 0; i < names.size(); ++i) {
    SCOPED_TRACE(names[i]);
    const std::string id = std::to_string(i);
    spi::ExecutionQuery executions;
    executions.job_name = names[i];
    EXPECT_EQ(IdsOf(Executions(executions)), Ids{"e" + id});
    executions = {};
    executions.instance_id = names[i];
    executions.fire_id = names[i];
    auto page = Executions(executions);
    EXPECT_EQ(IdsOf(page), Ids{"e" + id});
    ASSERT_EQ(page.events.size(), 1u);
    EXPECT_EQ(page.events[0].job_name, names[i]);
    spi::StatusQuery statuses;
    statuses.job_name = names[i];
    statuses.instance_id = names[i];
    statuses.fire_id = names[i];
    EXPECT_EQ(IdsOf(Statuses(statuses)), Ids{"s" + id});
  }
  spi::ExecutionQuery injected;
  injected.job_name = "nobody' OR '1'='1";
  EXPECT_EQ(Executions(injected).total, 0u);
  injected.job_name = "nobody' OR 1=1 --";
  EXPECT_EQ(Executions(injected).total, 0u);
  // Nothing was dropped or deleted.
  EXPECT_EQ(Executions({}).total, names.size());
  EXPECT_EQ(Statuses({}).total, names.size());
}

// The tracer cuts slave_id to its 50 characters; the filter is cut the same way, so the full
// instance id still finds the status events of that instance.
TEST_P(TraceHistoryTest, ALongInstanceIdFindsWhatTheTracerCut) {
  const std::string instance = "a-very-long-hostname.example.internal@12345@0000beefcafe0001";
  ASSERT_GT(instance.size(), 50u);
  Write({Execution("e1", "orders", instance, "F1", 0, kStartMs),
         Status("s1", "orders", instance, "F1", spi::TaskState::kRunning, kStartMs)});
  spi::StatusQuery statuses;
  statuses.instance_id = instance;
  auto page = Statuses(statuses);
  ASSERT_EQ(IdsOf(page), Ids{"s1"});
  EXPECT_EQ(page.events[0].slave_id, instance.substr(0, 50));
  spi::ExecutionQuery executions;
  executions.instance_id = instance;
  EXPECT_EQ(IdsOf(Executions(executions)), Ids{"e1"});
}

// Queries from many threads while the tracer writes: the history serialises its connection.
TEST_P(TraceHistoryTest, QueriesFromManyThreadsWhileWriting) {
  Write({TaskStart("e0")});
  auto history = NewHistory();
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        spi::ExecutionPage page;
        spi::Status status = history->QueryExecutions({}, &page);
        if (!status.ok() || page.total < 1 ||
            page.events.size() != std::min<std::size_t>(page.total, 50)) {
          ++failures;
        }
      }
    });
  }
  for (int i = 1; i <= 20; ++i) Write({TaskStart("e" + std::to_string(i), i)});
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(failures.load(), 0);
  spi::ExecutionPage page;
  ASSERT_TRUE(history->QueryExecutions({}, &page).ok());
  EXPECT_EQ(page.total, 21u);
}

// Props are the tracer's, checked when the history is built, with no database needed.
TEST_P(TraceHistoryTest, RefusesTheTracersBadProps) {
  auto refusal = [&](std::map<std::string, std::string> values) -> std::string {
    props_ = spi::Properties(std::move(values));
    try {
      NewHistory();
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  };
  if (postgres()) {
    EXPECT_THAT(refusal({}), HasSubstr("tracing.props.url: required"));
    EXPECT_THAT(refusal({{"url", "host"}}), HasSubstr("tracing.props.url"));
    EXPECT_THAT(refusal({{"url", "postgresql://127.0.0.1:1/x"}, {"path", "/tmp/x.db"}}),
                HasSubstr("tracing.props.path: unknown prop (known: url, connect_timeout)"));
    // Building does not connect.
    EXPECT_EQ(refusal({{"url", "postgresql://postgres@127.0.0.1:1/x"}}), "");
  } else {
    EXPECT_THAT(refusal({}), HasSubstr("tracing.props.path: required"));
    EXPECT_THAT(refusal({{"path", "/tmp/x.db"}, {"busy_timeout", "-1"}}),
                HasSubstr("tracing.props.busy_timeout"));
    EXPECT_THAT(refusal({{"path", "/tmp/x.db"}, {"url", "x"}}),
                HasSubstr("tracing.props.url: unknown prop (known: path, busy_timeout)"));
  }
}

std::string BackendName(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(Backends, TraceHistoryTest, ::testing::Values("SQLITE", "POSTGRESQL"),
                         BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, FilterTest, ::testing::Values("SQLITE", "POSTGRESQL"),
                         BackendName);

// A server that goes away: Unavailable while it is down, and the same object reads again once
// it is back (it connects anew on the next query).
TEST(PostgresqlHistoryOutageTest, StoppedServerIsUnavailableThenRecovers) {
  PostgresServer server;
  testing::CreateDatabase(server.Url(), "traces");
  NullLogger logger;
  spi::Properties props({{"url", server.Url("traces")}, {"connect_timeout", "2"}});
  PostgresqlTracer tracer(spi::PluginContext{props, logger, ""});
  PostgresqlHistory history(spi::PluginContext{props, logger, ""});
  ASSERT_TRUE(tracer.Write({TaskStart("e1"), FireStatus("s1", spi::TaskState::kStaging)}).ok());
  spi::ExecutionPage page;
  ASSERT_TRUE(history.QueryExecutions({}, &page).ok());
  EXPECT_EQ(page.total, 1u);

  server.Stop();
  // The open connection was ended by the shutdown; then nothing listens.
  spi::Status lost = history.QueryExecutions({}, &page);
  EXPECT_EQ(lost.code(), spi::Status::Code::kUnavailable) << lost.ToString();
  EXPECT_TRUE(page.events.empty());
  EXPECT_EQ(page.total, 0u);
  spi::StatusPage statuses;
  spi::Status refused = history.QueryStatus({}, &statuses);
  EXPECT_EQ(refused.code(), spi::Status::Code::kUnavailable) << refused.ToString();
  EXPECT_THAT(refused.message(), HasSubstr("cannot connect to PostgreSQL"));

  server.Start();
  spi::Status back = history.QueryStatus({}, &statuses);
  ASSERT_TRUE(back.ok()) << back.ToString();
  EXPECT_EQ(IdsOf(statuses), Ids{"s1"});
  ASSERT_TRUE(history.QueryExecutions({}, &page).ok());
  EXPECT_EQ(IdsOf(page), Ids{"e1"});
}

TEST(PostgresqlHistoryOutageTest, NothingListeningAtFirstThenTheServerComes) {
  PostgresServer server;
  testing::CreateDatabase(server.Url(), "traces");
  server.Stop();
  NullLogger logger;
  spi::Properties props({{"url", server.Url("traces")}, {"connect_timeout", "2"}});
  PostgresqlHistory history(spi::PluginContext{props, logger, ""});
  spi::ExecutionPage page;
  EXPECT_EQ(history.QueryExecutions({}, &page).code(), spi::Status::Code::kUnavailable);
  server.Start();
  spi::Status status = history.QueryExecutions({}, &page);
  EXPECT_TRUE(status.ok()) << status.ToString();  // no tables yet: empty
  EXPECT_EQ(page.total, 0u);
}

// The history's connection cannot write, even if a bug tried to.
TEST(PostgresqlHistorySessionTest, ReadsThroughTheTracersTablesOnly) {
  PostgresServer server;
  testing::CreateDatabase(server.Url(), "traces");
  NullLogger logger;
  spi::Properties props({{"url", server.Url("traces")}});
  PostgresqlHistory history(spi::PluginContext{props, logger, ""});
  spi::StatusPage page;
  ASSERT_TRUE(history.QueryStatus({}, &page).ok());
  PgClient client(server.Url("traces"));
  EXPECT_EQ(client.Count("SELECT count(*) FROM pg_stat_activity WHERE application_name ="
                         " 'shardjob' AND datname = 'traces'"),
            1);
  // Reading created nothing.
  EXPECT_EQ(client.Count("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'job_%'"), 0);
}

// Through the real libraries: each tracer plugin declares a trace_history entry of its type,
// which the registry builds as spi::TraceHistory and which reads what its tracer wrote.
class TraceHistoryPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* library : {"shardjob_tracer_sqlite.so", "shardjob_tracer_postgresql.so"}) {
      ASSERT_TRUE(registry_.LoadLibrary(std::filesystem::path(SHARDJOB_PLUGIN_DIR) / library))
          << (registry_.Refused().empty() ? "" : registry_.Refused().back().reason);
    }
  }

  void WriteAndReadBack(const std::string& type, const spi::Properties& props) {
    spi::PluginContext context{props, logger_, ""};
    auto tracer = registry_.Create<spi::Tracer>(type, context);
    auto history = registry_.Create<spi::TraceHistory>(type, context);
    ASSERT_TRUE(tracer && history);
    auto start = TaskStart("e1", 2);
    ASSERT_TRUE(
        tracer->Write({start, TaskEnd(start, true), FireStatus("s1", spi::TaskState::kFinished)})
            .ok());
    spi::ExecutionQuery query;
    query.success = true;
    query.sharding_item = 2;
    spi::ExecutionPage page;
    spi::Status status = history->QueryExecutions(query, &page);
    ASSERT_TRUE(status.ok()) << status.ToString();
    ASSERT_EQ(page.events.size(), 1u);
    EXPECT_EQ(Describe(page.events[0]), Describe(TaskEnd(start, true)));
    spi::StatusQuery statuses;
    statuses.state = spi::TaskState::kFinished;
    spi::StatusPage status_page;
    ASSERT_TRUE(history->QueryStatus(statuses, &status_page).ok());
    EXPECT_EQ(IdsOf(status_page), Ids{"s1"});
  }

  plugin::PluginRegistry registry_;
  NullLogger logger_;
};

TEST_F(TraceHistoryPluginTest, BothTypesAreDeclared) {
  EXPECT_THAT(registry_.TypesOf(spi::kTraceHistoryKind), ElementsAre("POSTGRESQL", "SQLITE"));
  EXPECT_THAT(registry_.TypesOf(spi::kTracerKind), ElementsAre("POSTGRESQL", "SQLITE"));
}

TEST_F(TraceHistoryPluginTest, SqliteThroughTheRegistry) {
  TempDir dir;
  WriteAndReadBack("SQLITE", spi::Properties({{"path", dir.File("trace.db")}}));
}

TEST_F(TraceHistoryPluginTest, PostgresqlThroughTheRegistry) {
  PostgresServer server;
  testing::CreateDatabase(server.Url(), "traces");
  WriteAndReadBack("POSTGRESQL", spi::Properties({{"url", server.Url("traces")}}));
}

TEST_F(TraceHistoryPluginTest, ABadPropIsRefusedByTheFactory) {
  spi::Properties props({{"path", "/tmp/x.db"}, {"url", "x"}});
  spi::PluginContext context{props, logger_, ""};
  try {
    registry_.Create<spi::TraceHistory>("SQLITE", context);
    ADD_FAILURE() << "no refusal";
  } catch (const plugin::PluginError& e) {
    EXPECT_THAT(e.what(), HasSubstr("trace_history 'SQLITE'"));
    EXPECT_THAT(e.what(), HasSubstr("tracing.props.url: unknown prop"));
  }
}

// The timestamp text both databases give back, and the epoch milliseconds a JDBC driver may store.
TEST(TraceHistorySqlTest, ParsesTimestamps) {
  EXPECT_EQ(rdb::ParseUtcTimestamp("2024-03-01 12:00:00.250"), kStartMs);
  EXPECT_EQ(rdb::ParseUtcTimestamp("2024-03-01T12:00:00.25Z"), kStartMs);
  EXPECT_EQ(rdb::ParseUtcTimestamp("2024-03-01 12:00:00"), kStartMs - 250);
  EXPECT_EQ(rdb::ParseUtcTimestamp("2024-03-01 12:00:00.250999"), kStartMs);
  EXPECT_EQ(rdb::ParseUtcTimestamp("1709294400250"), kStartMs);
  EXPECT_EQ(rdb::ParseUtcTimestamp("1969-12-31 23:59:59.999"), -1);
  EXPECT_EQ(rdb::ParseUtcTimestamp(rdb::FormatUtcTimestamp(-86400001)), -86400001);
  EXPECT_EQ(rdb::ParseUtcTimestamp("yesterday"), std::nullopt);
  EXPECT_EQ(rdb::ParseUtcTimestamp("2024-13-01 12:00:00"), std::nullopt);
  EXPECT_EQ(rdb::ParseUtcTimestamp(""), std::nullopt);
}

// Values reach the SQL only as placeholders.
TEST(TraceHistorySqlTest, EveryFilterIsAParameter) {
  spi::ExecutionQuery query;
  query.job_name = "j'; --";
  query.instance_id = "i";
  query.fire_id = "f";
  query.sharding_item = 3;
  query.success = true;
  query.since_ms = kStartMs;
  query.until_ms = kStartMs + 1;
  query.offset = 10;
  query.limit = 20;
  rdb::HistoryStatements sql;
  ASSERT_TRUE(rdb::BuildExecutionHistory(rdb::SqlDialect::kPostgresql, query, &sql).ok());
  EXPECT_EQ(sql.count_sql,
            "SELECT COUNT(*) FROM job_execution_log WHERE job_name = $1 AND instance_id = $2 AND "
            "fire_id = $3 AND sharding_item = $4 AND complete_time IS NOT NULL AND is_success = "
            "$5 AND start_time >= $6 AND start_time < $7");
  EXPECT_THAT(sql.page_sql, HasSubstr("ORDER BY start_time DESC NULLS LAST, id DESC LIMIT $8 "
                                      "OFFSET $9"));
  EXPECT_EQ(sql.count_params.size(), 7u);  // the page's, without LIMIT and OFFSET
  std::vector<std::string> values;
  for (const auto& param : sql.page_params) values.push_back(param.text);
  EXPECT_THAT(values, ElementsAre("j'; --", "i", "f", "3", "1", "2024-03-01 12:00:00.250",
                                  "2024-03-01 12:00:00.251", "20", "10"));
  ASSERT_TRUE(rdb::BuildExecutionHistory(rdb::SqlDialect::kSqlite, query, &sql).ok());
  EXPECT_THAT(sql.page_sql, HasSubstr("job_name = ?1 AND"));
  EXPECT_THAT(sql.page_sql, HasSubstr("LIMIT ?8 OFFSET ?9"));
}

}  // namespace
}  // namespace shardjob::tracers
