// The POSTGRESQL tracer, its source compiled in, against a real PostgreSQL server the test starts:
// the tables, the row semantics (the same as SQLite's), and what it returns while the server is
// down and once it is back.

#include "tracers/postgresql/postgresql_tracer.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/postgres_server.h"
#include "tracing/pg_client.h"
#include "tracing/trace_events.h"

namespace shardjob::tracers {
namespace {

using shardjob::testing::FireStatus;
using shardjob::testing::PgClient;
using shardjob::testing::PostgresServer;
using shardjob::testing::TaskEnd;
using shardjob::testing::TaskStart;
using ::testing::HasSubstr;
using Rows = std::vector<std::vector<std::string>>;

class NullLogger : public spi::Logger {
 public:
  void Log(spi::LogLevel, std::string_view) override {}
};

class PostgresqlTracerTest : public ::testing::Test {
 protected:
  PostgresqlTracerTest() { testing::CreateDatabase(server_.Url(), "traces"); }

  std::unique_ptr<PostgresqlTracer> Open(std::map<std::string, std::string> props = {}) {
    if (props.empty()) props = {{"url", url_}};
    props_ = spi::Properties(std::move(props));
    return std::make_unique<PostgresqlTracer>(spi::PluginContext{props_, logger_, ""});
  }

  Rows Completions() {
    return PgClient(url_).Query(
        "SELECT id, to_char(start_time, 'YYYY-MM-DD HH24:MI:SS.MS'),"
        " coalesce(to_char(complete_time, 'YYYY-MM-DD HH24:MI:SS.MS'), 'NULL'), is_success::text,"
        " coalesce(failure_cause, 'NULL') FROM job_execution_log ORDER BY id");
  }

  long long Count(const std::string& table) {
    return PgClient(url_).Count("SELECT count(*) FROM " + table);
  }

  PostgresServer server_;
  std::string url_ = server_.Url("traces");
  NullLogger logger_;
  spi::Properties props_;
};

// ElasticJob's PostgreSQL.properties, column by column, then shardjob's columns.
TEST_F(PostgresqlTracerTest, TablesHaveElasticJobsColumnsThenShardjobs) {
  auto tracer = Open();
  ASSERT_TRUE(tracer->Write({TaskStart("e1")}).ok());  // the tables are created on first write
  PgClient client(url_);
  auto columns = [&](const std::string& table) {
    return client.Query(
        "SELECT column_name, data_type, coalesce(character_maximum_length::text, ''), is_nullable"
        " FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
        {table});
  };
  EXPECT_EQ(columns("job_execution_log"),
            (Rows{
                {"id", "character varying", "40", "NO"},
                {"job_name", "character varying", "100", "NO"},
                {"task_id", "character varying", "255", "NO"},
                {"hostname", "character varying", "255", "NO"},
                {"ip", "character varying", "50", "NO"},
                {"sharding_item", "integer", "", "NO"},
                {"execution_source", "character varying", "20", "NO"},
                {"failure_cause", "character varying", "4000", "YES"},
                {"is_success", "boolean", "", "NO"},
                {"start_time", "timestamp without time zone", "", "YES"},
                {"complete_time", "timestamp without time zone", "", "YES"},
                {"fire_id", "character varying", "255", "YES"},
                {"instance_id", "character varying", "255", "YES"},
                {"fencing_token", "bigint", "", "YES"},
                {"items_processed", "bigint", "", "YES"},
            }));
  EXPECT_EQ(columns("job_status_trace_log"),
            (Rows{
                {"id", "character varying", "40", "NO"},
                {"job_name", "character varying", "100", "NO"},
                {"original_task_id", "character varying", "255", "NO"},
                {"task_id", "character varying", "255", "NO"},
                {"slave_id", "character varying", "50", "NO"},
                {"execution_type", "character varying", "20", "NO"},
                {"sharding_item", "character varying", "100", "NO"},
                {"state", "character varying", "20", "NO"},
                {"message", "character varying", "4000", "YES"},
                {"creation_time", "timestamp without time zone", "", "YES"},
                {"fire_id", "character varying", "255", "YES"},
            }));
  EXPECT_EQ(client.Query("SELECT indexdef FROM pg_indexes WHERE indexname = 'task_id_state_index'"),
            (Rows{{"CREATE INDEX task_id_state_index ON public.job_status_trace_log USING btree "
                   "(task_id, state)"}}));
}

TEST_F(PostgresqlTracerTest, StartThenCompletionLeaveOneCompleteRow) {
  auto tracer = Open();
  auto start = TaskStart("e1");
  ASSERT_TRUE(tracer->Write({start}).ok());
  EXPECT_EQ(Completions(), (Rows{{"e1", "2024-03-01 12:00:00.250", "NULL", "false", "NULL"}}));
  ASSERT_TRUE(tracer->Write({TaskEnd(start, false, "exit code 3")}).ok());
  EXPECT_EQ(
      Completions(),
      (Rows{{"e1", "2024-03-01 12:00:00.250", "2024-03-01 12:00:01.750", "false", "exit code 3"}}));
}

TEST_F(PostgresqlTracerTest, CompletionBeforeStartLeavesOneCompleteRow) {
  auto tracer = Open();
  auto start = TaskStart("e1");
  ASSERT_TRUE(tracer->Write({TaskEnd(start, true)}).ok());
  ASSERT_TRUE(tracer->Write({start}).ok());
  auto other = TaskStart("e2", 1);
  ASSERT_TRUE(tracer->Write({TaskEnd(other, true), other}).ok());
  EXPECT_EQ(Completions(),
            (Rows{{"e1", "2024-03-01 12:00:00.250", "2024-03-01 12:00:01.750", "true", "NULL"},
                  {"e2", "2024-03-01 12:00:00.250", "2024-03-01 12:00:01.750", "true", "NULL"}}));
}

TEST_F(PostgresqlTracerTest, TheSameBatchWrittenTwiceIsStoredOnce) {
  auto tracer = Open();
  auto first = TaskStart("e1", 0);
  auto second = TaskStart("e2", 1);
  std::vector<spi::TraceEvent> batch = {FireStatus("s1", spi::TaskState::kStaging),
                                        FireStatus("s2", spi::TaskState::kRunning),
                                        first,
                                        second,
                                        TaskEnd(first, true),
                                        TaskEnd(second, false, "boom"),
                                        FireStatus("s3", spi::TaskState::kError)};
  ASSERT_TRUE(tracer->Write(batch).ok());
  ASSERT_TRUE(tracer->Write(batch).ok());
  EXPECT_EQ(Count("job_execution_log"), 2);
  EXPECT_EQ(Count("job_status_trace_log"), 3);
  EXPECT_EQ(Completions(),
            (Rows{{"e1", "2024-03-01 12:00:00.250", "2024-03-01 12:00:01.750", "true", "NULL"},
                  {"e2", "2024-03-01 12:00:00.250", "2024-03-01 12:00:01.750", "false", "boom"}}));
}

TEST_F(PostgresqlTracerTest, StoresEveryFieldAndFitsText) {
  auto tracer = Open();
  auto start = TaskStart("e1", 3);
  start.source = spi::ExecutionSource::kMisfire;
  auto status = FireStatus("s1", spi::TaskState::kStaging);
  status.slave_id = std::string(80, 's');
  // Invalid UTF-8 and a NUL, which PostgreSQL refuses in text, and more than 4000 characters.
  auto end =
      TaskEnd(start, false, std::string("bad \xFF byte and \0 NUL ", 21) + std::string(5000, 'x'));
  ASSERT_TRUE(tracer->Write({start, end, status}).ok());
  PgClient client(url_);
  EXPECT_EQ(client.Query("SELECT id, job_name, task_id, hostname, ip, sharding_item,"
                         " execution_source, is_success, fire_id, instance_id, fencing_token,"
                         " left(failure_cause, 20), length(failure_cause) FROM job_execution_log"),
            (Rows{{"e1", "orders", "orders@-@1709294400000@-@3@-@host-1@42@0000beef", "host-1",
                   "10.0.0.1", "3", "MISFIRE", "f", "1709294400000", "host-1@42@0000beef", "7",
                   "bad \xEF\xBF\xBD byte and \xEF\xBF\xBD NUL", "4000"}}));
  EXPECT_EQ(client.Query("SELECT id, job_name, original_task_id, task_id, length(slave_id),"
                         " execution_type, sharding_item, state, message, creation_time::text,"
                         " fire_id FROM job_status_trace_log"),
            (Rows{{"s1", "orders", "", "orders@-@1709294400000@-@host-1@42@0000beef", "50", "READY",
                   "[0, 1]", "TASK_STAGING", "Job 'orders' execute begin, shards [0, 1]",
                   "2024-03-01 12:00:00.25", "1709294400000"}}));
}

TEST_F(PostgresqlTracerTest, ServerDownIsUnavailableThenTheBatchIsWrittenOnce) {
  auto tracer = Open();
  ASSERT_TRUE(tracer->Write({FireStatus("s1", spi::TaskState::kStaging)}).ok());
  auto start = TaskStart("e1");
  std::vector<spi::TraceEvent> batch = {start, TaskEnd(start, true),
                                        FireStatus("s2", spi::TaskState::kFinished)};
  server_.Stop();
  // The open connection was ended by the shutdown; then nothing listens.
  spi::Status lost = tracer->Write(batch);
  EXPECT_EQ(lost.code(), spi::Status::Code::kUnavailable) << lost.ToString();
  spi::Status refused = tracer->Write(batch);
  EXPECT_EQ(refused.code(), spi::Status::Code::kUnavailable) << refused.ToString();
  EXPECT_THAT(refused.message(), HasSubstr("cannot connect to PostgreSQL"));

  server_.Start();
  ASSERT_TRUE(tracer->Write(batch).ok());
  // Had that commit's answer been lost, the kernel would send the batch once more.
  ASSERT_TRUE(tracer->Write(batch).ok());
  EXPECT_EQ(Completions(),
            (Rows{{"e1", "2024-03-01 12:00:00.250", "2024-03-01 12:00:01.750", "true", "NULL"}}));
  EXPECT_EQ(Count("job_status_trace_log"), 2);
}

// Connects on the first write, then keeps the one connection, named for pg_stat_activity.
TEST_F(PostgresqlTracerTest, OneNamedConnectionServesEveryWrite) {
  PgClient client(url_);
  const std::string connections =
      "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'shardjob'";
  auto tracer = Open();
  EXPECT_EQ(client.Count(connections), 0);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(tracer->Write({TaskStart("e" + std::to_string(i))}).ok());
  }
  EXPECT_EQ(client.Count(connections), 1);
}

TEST_F(PostgresqlTracerTest, NothingListeningIsUnavailableAndBuildingDoesNotConnect) {
  server_.Stop();
  auto tracer = Open({{"url", url_}, {"connect_timeout", "2"}});
  spi::Status status = tracer->Write({TaskStart("e1")});
  EXPECT_EQ(status.code(), spi::Status::Code::kUnavailable) << status.ToString();
  server_.Start();
  EXPECT_TRUE(tracer->Write({TaskStart("e1")}).ok());
}

// A value the database refuses fails the batch, which is rolled back whole; the connection
// serves the next batch.
TEST_F(PostgresqlTracerTest, ARefusedRowFailsTheBatchWithoutRetry) {
  auto tracer = Open();
  ASSERT_TRUE(tracer->Write({TaskStart("e0")}).ok());
  PgClient(url_).Exec(
      "ALTER TABLE job_execution_log ADD CONSTRAINT no_cursed_jobs CHECK (job_name <> 'cursed')");
  auto cursed = TaskStart("e2");
  cursed.job_name = "cursed";
  spi::Status status = tracer->Write({TaskStart("e1"), cursed});
  EXPECT_EQ(status.code(), spi::Status::Code::kFailed) << status.ToString();
  EXPECT_THAT(status.message(), HasSubstr("no_cursed_jobs"));
  EXPECT_TRUE(tracer->Write({TaskStart("e3")}).ok());
  EXPECT_EQ(PgClient(url_).Query("SELECT id FROM job_execution_log ORDER BY id"),
            (Rows{{"e0"}, {"e3"}}));
}

TEST_F(PostgresqlTracerTest, TablesDroppedWhileRunningAreCreatedAgain) {
  auto tracer = Open();
  ASSERT_TRUE(tracer->Write({FireStatus("s1", spi::TaskState::kStaging)}).ok());
  PgClient(url_).Exec("DROP TABLE job_status_trace_log");
  spi::Status status = tracer->Write({FireStatus("s2", spi::TaskState::kRunning)});
  EXPECT_EQ(status.code(), spi::Status::Code::kUnavailable) << status.ToString();
  ASSERT_TRUE(tracer->Write({FireStatus("s2", spi::TaskState::kRunning)}).ok());
  EXPECT_EQ(Count("job_status_trace_log"), 1);
}

// A table ElasticJob created (its PostgreSQL.properties) is used as it is, with shardjob's columns
// added.
TEST_F(PostgresqlTracerTest, AddsShardjobsColumnsToElasticJobsTables) {
  PgClient(url_).Exec(
      "CREATE TABLE JOB_STATUS_TRACE_LOG (id VARCHAR(40) NOT NULL, job_name VARCHAR(100) NOT NULL,"
      " original_task_id VARCHAR(255) NOT NULL, task_id VARCHAR(255) NOT NULL, slave_id"
      " VARCHAR(50) NOT NULL, execution_type VARCHAR(20) NOT NULL, sharding_item VARCHAR(100) NOT"
      " NULL, state VARCHAR(20) NOT NULL, message VARCHAR(4000) NULL, creation_time TIMESTAMP"
      " NULL, PRIMARY KEY (id));"
      "CREATE INDEX TASK_ID_STATE_INDEX ON JOB_STATUS_TRACE_LOG (task_id, state)");
  auto tracer = Open();
  ASSERT_TRUE(tracer->Write({FireStatus("s1", spi::TaskState::kStaging)}).ok());
  EXPECT_EQ(PgClient(url_).Query("SELECT id, fire_id FROM job_status_trace_log"),
            (Rows{{"s1", "1709294400000"}}));
  // A second tracer finds everything in place.
  EXPECT_TRUE(Open()->Write({FireStatus("s2", spi::TaskState::kRunning)}).ok());
}

// Props are checked when the tracer is built, with no server needed.
TEST(PostgresqlTracerPropsTest, RefusesBadPropsNamingThem) {
  NullLogger logger;
  auto refusal = [&](std::map<std::string, std::string> values) -> std::string {
    spi::Properties props(std::move(values));
    try {
      PostgresqlTracer tracer(spi::PluginContext{props, logger, ""});
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  };
  const std::string url = "postgresql://postgres@127.0.0.1:5432/traces";
  EXPECT_THAT(refusal({{"connect_timeout", "3"}}), HasSubstr("tracing.props.url: required"));
  EXPECT_THAT(refusal({{"url", "host"}}),
              HasSubstr("tracing.props.url: not a PostgreSQL connection string or URI"));
  EXPECT_THAT(refusal({{"url", "postgresql://[::1/jobs"}}), HasSubstr("tracing.props.url"));
  EXPECT_THAT(refusal({{"url", "postgresql://db/jobs?no_such_option=1"}}),
              HasSubstr("no_such_option"));
  EXPECT_THAT(refusal({{"url", url}, {"connect_timeout", "0"}}),
              HasSubstr("tracing.props.connect_timeout"));
  EXPECT_THAT(refusal({{"url", url}, {"path", "/tmp/x.db"}}),
              HasSubstr("tracing.props.path: unknown prop (known: url, connect_timeout)"));
  EXPECT_EQ(refusal({{"url", "host=127.0.0.1 dbname=traces"}}), "");
}

}  // namespace
}  // namespace shardjob::tracers
