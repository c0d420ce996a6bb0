// The SQLITE tracer, its source compiled in: the tables it creates, how start and completion
// events become one row in any order and any number of times, and how it refuses bad props.

#include "tracers/sqlite/sqlite_tracer.h"

#include <sqlite3.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/test_support.h"
#include "tracing/trace_events.h"

namespace shardjob::tracers {
namespace {

using shardjob::testing::FireStatus;
using shardjob::testing::TaskEnd;
using shardjob::testing::TaskStart;
using shardjob::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using Rows = std::vector<std::vector<std::string>>;

class NullLogger : public spi::Logger {
 public:
  void Log(spi::LogLevel, std::string_view) override {}
};

// A second connection to the file, for reading what the tracer stored.
class Reader {
 public:
  explicit Reader(const std::string& path) {
    sqlite3* db = nullptr;
    int opened =
        sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    db_.reset(db);
    if (opened != SQLITE_OK) throw std::runtime_error("cannot open " + path);
  }

  Rows Query(const std::string& sql) const {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_.get()));
    }
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> statement(raw, sqlite3_finalize);
    Rows rows;
    while (sqlite3_step(statement.get()) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(statement.get()); ++i) {
        const unsigned char* text = sqlite3_column_text(statement.get(), i);
        row.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "NULL");
      }
      rows.push_back(std::move(row));
    }
    return rows;
  }

  void Exec(const std::string& sql) const {
    if (sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_.get()));
    }
  }

  long long Count(const std::string& table) const {
    return std::stoll(Query("SELECT count(*) FROM " + table)[0][0]);
  }

 private:
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db_{nullptr, sqlite3_close_v2};
};

class SqliteTracerTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteTracer> Open(std::map<std::string, std::string> props = {}) {
    if (props.empty()) props = {{"path", path_}};
    props_ = spi::Properties(std::move(props));
    return std::make_unique<SqliteTracer>(spi::PluginContext{props_, logger_, ""});
  }

  // The message of the exception building a tracer with `props` throws, "" if none.
  std::string Refusal(std::map<std::string, std::string> props) {
    try {
      Open(std::move(props));
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  }

  // (complete_time, is_success, failure_cause) of every execution row.
  Rows Completions() const {
    return Reader(path_).Query(
        "SELECT id, start_time, complete_time, is_success, failure_cause FROM job_execution_log "
        "ORDER BY id");
  }

  TempDir dir_;
  std::string path_ = dir_.File("trace.db");
  NullLogger logger_;
  spi::Properties props_;
};

// ElasticJob's SQL92.properties, column by column, then shardjob's columns.
TEST_F(SqliteTracerTest, TablesHaveElasticJobsColumnsThenShardjobs) {
  auto tracer = Open();
  Reader reader(path_);
  auto columns = [&](const std::string& table) {
    std::vector<std::pair<std::string, std::string>> list;
    for (const auto& row : reader.Query("PRAGMA table_info(" + table + ")")) {
      list.emplace_back(row[1], row[2] + (row[3] == "1" ? " NOT NULL" : ""));
    }
    return list;
  };
  EXPECT_THAT(
      columns("JOB_EXECUTION_LOG"),
      ElementsAre(
          Pair("id", "CHARACTER(40) NOT NULL"), Pair("job_name", "CHARACTER(100) NOT NULL"),
          Pair("task_id", "CHARACTER(255) NOT NULL"), Pair("hostname", "CHARACTER(255) NOT NULL"),
          Pair("ip", "CHARACTER(50) NOT NULL"), Pair("sharding_item", "INTEGER NOT NULL"),
          Pair("execution_source", "CHARACTER(20) NOT NULL"),
          Pair("failure_cause", "CHARACTER VARYING(4000)"), Pair("is_success", "INTEGER NOT NULL"),
          Pair("start_time", "TIMESTAMP"), Pair("complete_time", "TIMESTAMP"),
          Pair("fire_id", "CHARACTER VARYING(255)"), Pair("instance_id", "CHARACTER VARYING(255)"),
          Pair("fencing_token", "BIGINT"), Pair("items_processed", "BIGINT")));
  EXPECT_THAT(
      columns("JOB_STATUS_TRACE_LOG"),
      ElementsAre(
          Pair("id", "CHARACTER(40) NOT NULL"), Pair("job_name", "CHARACTER(100) NOT NULL"),
          Pair("original_task_id", "CHARACTER(255) NOT NULL"),
          Pair("task_id", "CHARACTER(255) NOT NULL"), Pair("slave_id", "CHARACTER(50) NOT NULL"),
          Pair("execution_type", "CHARACTER(20) NOT NULL"),
          Pair("sharding_item", "CHARACTER(100) NOT NULL"), Pair("state", "CHARACTER(20) NOT NULL"),
          Pair("message", "CHARACTER VARYING(4000)"), Pair("creation_time", "TIMESTAMP"),
          Pair("fire_id", "CHARACTER VARYING(255)")));
  // id is the primary key of both.
  EXPECT_EQ(reader.Query("SELECT name FROM pragma_table_info('job_execution_log') WHERE pk = 1"),
            Rows{{"id"}});
  EXPECT_EQ(reader.Query("SELECT name FROM pragma_table_info('job_status_trace_log') WHERE pk = 1"),
            Rows{{"id"}});
  EXPECT_EQ(reader.Query("SELECT name FROM pragma_index_info('TASK_ID_STATE_INDEX')"),
            (Rows{{"task_id"}, {"state"}}));
  EXPECT_EQ(reader.Query("PRAGMA journal_mode"), Rows{{"wal"}});
}

TEST_F(SqliteTracerTest, StartThenCompletionLeaveOneCompleteRow) {
  auto tracer = Open();
  auto start = TaskStart("e1");
  ASSERT_TRUE(tracer->Write({start}).ok());
  EXPECT_EQ(Completions(), (Rows{{"e1", "2024-03-01 12:00:00.250", "NULL", "0", "NULL"}}));
  ASSERT_TRUE(tracer->Write({TaskEnd(start, false, "exit code 3")}).ok());
  EXPECT_EQ(
      Completions(),
      (Rows{{"e1", "2024-03-01 12:00:00.250", "2024-03-01 12:00:01.750", "0", "exit code 3"}}));
}

TEST_F(SqliteTracerTest, TheCompletionCarriesTheItemsProcessed) {
  auto tracer = Open();
  auto start = TaskStart("e1");
  auto end = TaskEnd(start, true, "");
  end.items_processed = 25;
  ASSERT_TRUE(tracer->Write({start, end}).ok());
  Reader reader(path_);
  EXPECT_EQ(reader.Query("SELECT items_processed FROM job_execution_log"), (Rows{{"25"}}));
}

TEST_F(SqliteTracerTest, CompletionBeforeStartLeavesOneCompleteRow) {
  auto tracer = Open();
  auto start = TaskStart("e1");
  ASSERT_TRUE(tracer->Write({TaskEnd(start, true)}).ok());
  ASSERT_TRUE(tracer->Write({start}).ok());
  // And within one batch.
  auto other = TaskStart("e2", 1);
  ASSERT_TRUE(tracer->Write({TaskEnd(other, true), other}).ok());
  EXPECT_EQ(Completions(),
            (Rows{{"e1", "2024-03-01 12:00:00.250", "2024-03-01 12:00:01.750", "1", "NULL"},
                  {"e2", "2024-03-01 12:00:00.250", "2024-03-01 12:00:01.750", "1", "NULL"}}));
}

// The kernel writes a batch again after Unavailable, even when its commit did reach the file.
TEST_F(SqliteTracerTest, TheSameBatchWrittenTwiceIsStoredOnce) {
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
  Reader reader(path_);
  EXPECT_EQ(reader.Count("job_execution_log"), 2);
  EXPECT_EQ(reader.Count("job_status_trace_log"), 3);
  EXPECT_EQ(Completions(),
            (Rows{{"e1", "2024-03-01 12:00:00.250", "2024-03-01 12:00:01.750", "1", "NULL"},
                  {"e2", "2024-03-01 12:00:00.250", "2024-03-01 12:00:01.750", "0", "boom"}}));
}

TEST_F(SqliteTracerTest, StoresEveryFieldOfBothEvents) {
  auto tracer = Open();
  auto start = TaskStart("e1", 3);
  start.source = spi::ExecutionSource::kFailover;
  ASSERT_TRUE(tracer->Write({start, FireStatus("s1", spi::TaskState::kStaging)}).ok());
  Reader reader(path_);
  EXPECT_EQ(reader.Query("SELECT * FROM job_execution_log"),
            (Rows{{"e1", "orders", "orders@-@1709294400000@-@3@-@host-1@42@0000beef", "host-1",
                   "10.0.0.1", "3", "FAILOVER", "NULL", "0", "2024-03-01 12:00:00.250", "NULL",
                   "1709294400000", "host-1@42@0000beef", "7", "0"}}));
  EXPECT_EQ(reader.Query("SELECT * FROM job_status_trace_log"),
            (Rows{{"s1", "orders", "", "orders@-@1709294400000@-@host-1@42@0000beef",
                   "host-1@42@0000beef", "READY", "[0, 1]", "TASK_STAGING",
                   "Job 'orders' execute begin, shards [0, 1]", "2024-03-01 12:00:00.250",
                   "1709294400000"}}));
  // Numbers are stored as numbers, times as text SQLite's date functions read.
  EXPECT_EQ(reader.Query("SELECT typeof(sharding_item), typeof(is_success), typeof(fencing_token),"
                         " typeof(start_time), julianday(start_time) IS NOT NULL"
                         " FROM job_execution_log"),
            (Rows{{"integer", "integer", "integer", "text", "1"}}));
}

TEST_F(SqliteTracerTest, CutsTextToItsColumnAsElasticJobDoes) {
  auto tracer = Open();
  auto start = TaskStart("e1");
  start.instance_id = std::string(300, 'i');
  auto status = FireStatus("s1", spi::TaskState::kError);
  status.slave_id = std::string(80, 's');
  status.message = std::string(5000, 'm');
  ASSERT_TRUE(tracer->Write({TaskEnd(start, false, std::string(4100, 'x')), status}).ok());
  Reader reader(path_);
  EXPECT_EQ(reader.Query("SELECT length(failure_cause), length(instance_id) FROM "
                         "job_execution_log"),
            (Rows{{"4000", "255"}}));
  EXPECT_EQ(reader.Query("SELECT length(message), length(slave_id) FROM job_status_trace_log"),
            (Rows{{"4000", "50"}}));
}

// A table ElasticJob created (SQL92.properties) is used as it is, with shardjob's columns added.
TEST_F(SqliteTracerTest, TablesDroppedWhileRunningAreCreatedAgain) {
  auto tracer = Open();
  ASSERT_TRUE(tracer->Write({FireStatus("s1", spi::TaskState::kStaging)}).ok());
  Reader(path_).Query("DROP TABLE job_status_trace_log");
  spi::Status status = tracer->Write({FireStatus("s2", spi::TaskState::kRunning)});
  EXPECT_EQ(status.code(), spi::Status::Code::kUnavailable) << status.ToString();
  ASSERT_TRUE(tracer->Write({FireStatus("s2", spi::TaskState::kRunning)}).ok());
  EXPECT_EQ(Reader(path_).Query("SELECT id FROM job_status_trace_log"), (Rows{{"s2"}}));
}

TEST_F(SqliteTracerTest, AddsShardjobsColumnsToElasticJobsTables) {
  {
    Reader reader(path_);
    reader.Exec(
        "CREATE TABLE JOB_EXECUTION_LOG (id CHARACTER(40) NOT NULL, job_name CHARACTER(100) NOT "
        "NULL, task_id CHARACTER(255) NOT NULL, hostname CHARACTER(255) NOT NULL, ip "
        "CHARACTER(50) NOT NULL, sharding_item INTEGER NOT NULL, execution_source CHARACTER(20) "
        "NOT NULL, failure_cause CHARACTER VARYING(4000) NULL, is_success INTEGER NOT NULL, "
        "start_time TIMESTAMP NULL, complete_time TIMESTAMP NULL, PRIMARY KEY (id))");
    reader.Exec(
        "INSERT INTO JOB_EXECUTION_LOG VALUES ('old', 'orders', 't', 'h', 'i', 0, "
        "'NORMAL_TRIGGER', NULL, 1, '2020-01-01 00:00:00', '2020-01-01 00:00:01')");
  }
  auto tracer = Open();
  ASSERT_TRUE(tracer->Write({TaskEnd(TaskStart("e1"), true)}).ok());
  EXPECT_EQ(Reader(path_).Query("SELECT id, fire_id FROM job_execution_log ORDER BY id"),
            (Rows{{"e1", "1709294400000"}, {"old", "NULL"}}));
  // A second tracer on the file finds everything in place.
  auto again = Open();
  EXPECT_TRUE(again->Write({TaskStart("e2")}).ok());
}

// Another connection holding the write lock longer than busy_timeout: retry later.
TEST_F(SqliteTracerTest, ALockedDatabaseIsUnavailableUntilReleased) {
  auto tracer = Open({{"path", path_}, {"busy_timeout", "0"}});
  Reader other(path_);
  other.Exec("BEGIN IMMEDIATE");
  spi::Status status = tracer->Write({TaskStart("e1")});
  EXPECT_EQ(status.code(), spi::Status::Code::kUnavailable) << status.ToString();
  EXPECT_THAT(status.message(), HasSubstr("locked"));
  other.Exec("ROLLBACK");
  ASSERT_TRUE(tracer->Write({TaskStart("e1")}).ok());
  EXPECT_EQ(Reader(path_).Count("job_execution_log"), 1);
}

TEST_F(SqliteTracerTest, RefusesBadPropsNamingThem) {
  EXPECT_THAT(Refusal({{"busy_timeout", "100"}}),
              HasSubstr("tracing.props.path: required (the SQLite database file)"));
  EXPECT_THAT(Refusal({{"path", ""}}), HasSubstr("tracing.props.path: required"));
  EXPECT_THAT(Refusal({{"path", path_}, {"busy_timeout", "soon"}}),
              HasSubstr("tracing.props.busy_timeout: prop 'busy_timeout' must be an integer"));
  EXPECT_THAT(Refusal({{"path", path_}, {"busy_timeout", "-1"}}),
              HasSubstr("tracing.props.busy_timeout"));
  EXPECT_THAT(Refusal({{"path", path_}, {"url", "postgresql://db/jobs"}}),
              HasSubstr("tracing.props.url: unknown prop (known: path, busy_timeout)"));
  EXPECT_THAT(Refusal({{"path", dir_.File("no/such/dir/trace.db")}}),
              HasSubstr("tracing.props.path: cannot open SQLite database '" +
                        dir_.File("no/such/dir/trace.db") + "'"));
  EXPECT_EQ(Refusal({{"path", path_}, {"busy_timeout", "250"}}), "");
}

}  // namespace
}  // namespace shardjob::tracers
