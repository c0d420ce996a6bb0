// End to end: a shardjob::Instance on the embedded registry with the tracer plugins loaded from
// build/plugins, a recording job, and a real PostgreSQL server that goes down and comes back
// while the instance runs. What is stored is read back with libpq (or sqlite3) and compared with
// what the instance says it ran.

#include <sqlite3.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "shardjob/shardjob.h"
#include "support/http_client.h"
#include "support/postgres_server.h"
#include "support/test_support.h"
#include "tracing/pg_client.h"

namespace shardjob {
namespace {

using ::testing::HasSubstr;
using testing::PgClient;
using testing::PostgresServer;
using testing::ReadLines;
using testing::TempDir;
using testing::WaitUntil;
using testing::WriteFile;
using namespace std::chrono_literals;

// A line of the recording fixtures (tests/app/fixtures/recording_plugin.cc).
struct Record {
  std::string event, fire;
  int item = -1;
};

std::vector<Record> ReadRecords(const std::string& path, const std::string& event) {
  std::vector<Record> records;
  for (const std::string& line : ReadLines(path)) {
    std::istringstream in(line);
    Record record;
    in >> record.event >> record.fire;
    if (record.event != event) continue;
    if (event == "start") in >> record.item;
    records.push_back(record);
  }
  return records;
}

class TracingInstanceTest : public ::testing::Test {
 protected:
  // `job` adds keys to the job; `props` adds entries to its props.
  std::string WriteConfig(const std::string& tracing, const std::string& job,
                          const std::string& props = "") {
    std::string path = dir_.File("shardjob.yaml");
    WriteFile(path,
              "registry: {type: embedded}\n"
              "plugins:\n  dirs: [" SHARDJOB_PLUGIN_DIR ", " SHARDJOB_APP_FIXTURE_DIR
              "]\n"
              "shutdown_grace: 200ms\nlog_level: warn\n" +
                  tracing +
                  "jobs:\n"
                  "  - name: orders\n"
                  "    class: RECORDING_JOB\n"
                  "    sharding_total_count: 2\n"
                  "    listeners: [RECORDING_LISTENER]\n" +
                  job + "    props: {record.file: " + record_ + props + "}\n");
    return path;
  }

  // Waits until every event the instance posted has been written or dropped.
  static void WaitForTraces(Instance& instance) {
    ASSERT_TRUE(WaitUntil([&] { return instance.Traces().buffered == 0; }, 30s))
        << instance.Traces().buffered << " trace events still buffered";
  }

  // Triggers `fires` fires one after the other, each once the previous one ended.
  void TriggerFires(Instance& instance, std::size_t fires) {
    ASSERT_TRUE(WaitUntil([&] { return instance.Stats("orders").local_items.size() == 2; }));
    for (std::size_t i = 1; i <= fires; ++i) {
      instance.Trigger("orders");
      ASSERT_TRUE(WaitUntil([&] { return ReadRecords(record_, "after").size() == i; }));
    }
  }

  TempDir dir_;
  std::string record_ = dir_.File("record.txt");
};

class PostgresqlTracingTest : public TracingInstanceTest {
 protected:
  PostgresqlTracingTest() { testing::CreateDatabase(server_.Url(), "traces"); }

  std::string Tracing(const std::string& extra = "") const {
    return "tracing:\n  type: POSTGRESQL\n  props: {url: \"" + url_ +
           "\", connect_timeout: \"2\"}\n" + extra;
  }

  PostgresServer server_;
  std::string url_ = server_.Url("traces");
};

// The issue's scenario: the database goes away for a few fires and comes back. Nothing is lost,
// nothing is stored twice, and the outage shows in the counters.
TEST_F(PostgresqlTracingTest, AnOutageIsBufferedAndEveryTaskEndsInOneCompleteRow) {
  // Shard 1 fails, so that tasks of both outcomes are traced. buffer_all: no fire is coalesced
  // away if one runs late.
  auto instance = Instance::Start(WriteConfig(Tracing(),
                                              "    fixed_rate: 100ms\n"
                                              "    overlap: buffer_all\n",
                                              ", fail.items: \"1\""));
  ASSERT_TRUE(WaitUntil([&] { return instance->Traces().written >= 10; }));

  server_.Stop();
  const std::uint64_t fires_at_stop = instance->Stats("orders").fires;
  ASSERT_TRUE(WaitUntil([&] {
    return instance->Traces().retries > 0 && instance->Stats("orders").fires >= fires_at_stop + 3;
  }));
  EXPECT_FALSE(instance->Traces().store_available);
  EXPECT_GT(instance->Traces().buffered, 0u);

  server_.Start();
  ASSERT_TRUE(WaitUntil(
      [&] {
        TraceStats traces = instance->Traces();
        return traces.store_available && traces.buffered == 0;
      },
      30s));
  const std::uint64_t fires_after = instance->Stats("orders").fires;
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("orders").fires >= fires_after + 2; }));
  ASSERT_TRUE(instance->Stop());
  WaitForTraces(*instance);

  const TraceStats traces = instance->Traces();
  const JobStats stats = instance->Stats("orders");
  EXPECT_EQ(traces.dropped, 0u);
  EXPECT_EQ(traces.rejected, 0u);
  EXPECT_GT(traces.retries, 0u);

  // Every task the instance ran has exactly one row, complete, with its outcome.
  const auto starts = ReadRecords(record_, "start");
  ASSERT_EQ(stats.tasks_succeeded + stats.tasks_failed, starts.size());
  PgClient client(url_);
  std::map<std::string, std::vector<std::string>> rows;
  for (auto& row :
       client.Query("SELECT task_id, count(*), bool_and(complete_time IS NOT NULL),"
                    " bool_and(is_success), min(fire_id), min(instance_id) FROM job_execution_log"
                    " GROUP BY task_id")) {
    rows[row[0]] = row;
  }
  EXPECT_EQ(rows.size(), starts.size());
  std::set<std::string> fires;
  for (const Record& start : starts) {
    fires.insert(start.fire);
    const std::string task_id =
        "orders@-@" + start.fire + "@-@" + std::to_string(start.item) + "@-@" + instance->id();
    auto row = rows.find(task_id);
    ASSERT_NE(row, rows.end()) << "no row for " << task_id;
    EXPECT_EQ(row->second[1], "1") << task_id;
    EXPECT_EQ(row->second[2], "t") << task_id << " is not complete";
    EXPECT_EQ(row->second[3], start.item == 0 ? "t" : "f") << task_id;
    EXPECT_EQ(row->second[4], start.fire);
    EXPECT_EQ(row->second[5], instance->id());
  }
  // Each fire's state changes: staged, running, ended (in error: shard 1 fails). Usually once
  // each; a fire whose shards started in separate runs here (a catch-up of a missed fire for one
  // shard, the scheduled run for another) has one sequence per run, and every run that was
  // staged ended.
  for (const std::string& fire : fires) {
    std::map<std::string, int> states;
    for (auto& row :
         client.Query("SELECT state FROM job_status_trace_log WHERE fire_id = $1", {fire})) {
      ++states[row[0]];
    }
    EXPECT_GE(states["TASK_STAGING"], 1) << "fire " << fire;
    EXPECT_GE(states["TASK_RUNNING"], 1) << "fire " << fire;
    EXPECT_LE(states["TASK_RUNNING"], states["TASK_STAGING"]) << "fire " << fire;
    EXPECT_EQ(states["TASK_FINISHED"] + states["TASK_ERROR"], states["TASK_STAGING"])
        << "fire " << fire;
  }
  EXPECT_GE(fires.size(), 6u);
}

// A buffer smaller than what the outage produces: the overflow is dropped and counted, and what
// was kept is written once the database is back. Fires are triggered one by one, so the number
// of events is known: per fire STAGING, RUNNING, FINISHED and a start and an end per shard.
TEST_F(PostgresqlTracingTest, ABufferSmallerThanTheOutageDropsAndCounts) {
  constexpr std::uint64_t kBuffer = 5;
  constexpr std::size_t kFires = 4;
  constexpr std::uint64_t kEventsPerFire = 3 + 2 * 2;
  server_.Stop();
  auto instance = Instance::Start(
      WriteConfig(Tracing("  buffer_events: " + std::to_string(kBuffer) + "\n"), ""));
  TriggerFires(*instance, kFires);
  // A fire's last event (FINISHED) follows the listener's "after" line: wait for all of them.
  // Each was kept (while the buffer had room) or dropped.
  ASSERT_TRUE(WaitUntil([&] {
    TraceStats traces = instance->Traces();
    return traces.buffered + traces.dropped == kFires * kEventsPerFire;
  }));
  EXPECT_EQ(instance->Traces().buffered, kBuffer);
  EXPECT_EQ(instance->Traces().written, 0u);

  server_.Start();
  WaitForTraces(*instance);
  ASSERT_TRUE(instance->Stop());
  WaitForTraces(*instance);

  const TraceStats traces = instance->Traces();
  EXPECT_EQ(traces.rejected, 0u);
  EXPECT_GT(traces.retries, 0u);
  // Every event posted while the database was down was either kept (the buffer's worth) or
  // dropped.
  EXPECT_EQ(traces.written, kBuffer);
  EXPECT_EQ(traces.written + traces.dropped, kFires * kEventsPerFire);
  // And what was written is in the tables: each status event is a row; each execution row holds
  // a start, a completion or both.
  PgClient client(url_);
  const long long status_rows = client.Count("SELECT count(*) FROM job_status_trace_log");
  const long long execution_rows = client.Count("SELECT count(*) FROM job_execution_log");
  const long long complete_rows =
      client.Count("SELECT count(*) FROM job_execution_log WHERE complete_time IS NOT NULL");
  EXPECT_GT(status_rows + execution_rows, 0);
  EXPECT_LE(status_rows + execution_rows, static_cast<long long>(traces.written));
  EXPECT_GE(status_rows + execution_rows + complete_rows, static_cast<long long>(traces.written));
}

// The tracer type name resolves to the plugin; its refusal names the prop.
TEST_F(TracingInstanceTest, APostgresqlTracerWithoutUrlStopsTheInstanceFromStarting) {
  try {
    Instance::Start(
        WriteConfig("tracing:\n  type: POSTGRESQL\n  props: {connect_timeout: \"2\"}\n", ""));
    FAIL() << "started without a url";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("tracing.props.url: required"));
  }
}

// SQLITE is what a tracing section without a type means.
TEST_F(TracingInstanceTest, SqliteIsTheDefaultAndStoresEveryTask) {
  const std::string db_path = dir_.File("trace.db");
  auto instance = Instance::Start(WriteConfig("tracing:\n  props: {path: " + db_path + "}\n", ""));
  TriggerFires(*instance, 2);
  ASSERT_TRUE(instance->Stop());
  ASSERT_TRUE(WaitUntil([&] { return instance->Traces().written >= 2 * (3 + 2 * 2u); }));
  WaitForTraces(*instance);
  EXPECT_EQ(instance->Traces().written, 2 * (3 + 2 * 2u));
  EXPECT_EQ(instance->Traces().dropped, 0u);

  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close_v2);
  auto count = [&](const char* sql) {
    sqlite3_stmt* statement = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db.get(), sql, -1, &statement, nullptr), SQLITE_OK) << sql;
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> owned(statement, sqlite3_finalize);
    EXPECT_EQ(sqlite3_step(statement), SQLITE_ROW);
    return sqlite3_column_int(statement, 0);
  };
  EXPECT_EQ(count("SELECT count(*) FROM job_execution_log WHERE complete_time IS NOT NULL"
                  " AND is_success = 1"),
            4);
  EXPECT_EQ(count("SELECT count(*) FROM job_status_trace_log"), 6);
}

// What the tracer stored is served back by /api/history, filtered and paged.
TEST_F(TracingInstanceTest, TheApiReadsTheHistoryBack) {
  const std::string db_path = dir_.File("trace.db");
  auto instance = Instance::Start(
      WriteConfig("http: {listen: \"127.0.0.1:0\"}\ntracing:\n  props: {path: " + db_path + "}\n",
                  "", ", fail.items: \"1\""));
  TriggerFires(*instance, 2);
  ASSERT_TRUE(WaitUntil([&] { return instance->Traces().written >= 2 * (3 + 2 * 2u); }));
  WaitForTraces(*instance);
  auto get = [&](const std::string& target) {
    testing::HttpReply reply = testing::HttpRequest(instance->HttpAddress(), "GET", target);
    EXPECT_EQ(reply.status, 200) << target << ": " << reply.body;
    return nlohmann::json::parse(reply.body, nullptr, false);
  };
  nlohmann::json page = get("/api/history/executions?job=orders&limit=3");
  EXPECT_EQ(page["total"], 4) << page;
  ASSERT_EQ(page["events"].size(), 3u) << page;
  EXPECT_GE(page["events"][0]["start_time_ms"], page["events"][2]["start_time_ms"]);  // newest
  nlohmann::json failed = get("/api/history/executions?job=orders&success=false");
  EXPECT_EQ(failed["total"], 2) << failed;
  for (const auto& event : failed["events"]) EXPECT_EQ(event["sharding_item"], 1) << failed;
  nlohmann::json rest = get("/api/history/executions?job=orders&limit=3&offset=3");
  EXPECT_EQ(rest["events"].size(), 1u) << rest;
  nlohmann::json status = get("/api/history/status?job=orders");
  EXPECT_EQ(status["total"], 6) << status;
  EXPECT_EQ(get("/api/history/executions?job=other")["total"], 0);
  EXPECT_TRUE(instance->Stop());
}

TEST_F(TracingInstanceTest, ASqliteTracerWithoutPathStopsTheInstanceFromStarting) {
  try {
    Instance::Start(WriteConfig("tracing:\n  type: SQLITE\n", ""));
    FAIL() << "started without a path";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("tracing.props.path: required"));
  }
}

}  // namespace
}  // namespace shardjob
