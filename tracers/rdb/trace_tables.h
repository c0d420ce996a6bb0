#pragma once

// The two tables of ElasticJob's RDB tracing (ecosystem/tracing/rdb, META-INF/sql/*.properties),
// as the SQLITE and POSTGRESQL tracers create and write them:
//
//   job_execution_log     one row per task attempt (start, then completion)
//   job_status_trace_log  one row per state change of a fire on one instance
//                         + index task_id_state_index (task_id, state)
//
// ElasticJob's columns come first, with its names and, per database, the types its own SQL file
// for that database uses: PostgreSQL.properties for PostgreSQL (VARCHAR(n), is_success BOOLEAN),
// and SQL92.properties, its fallback for other databases, for SQLite (CHARACTER(n), INTEGER).
// So ElasticJob (or its console) can share the tables, and tables ElasticJob created are used as
// they are. shardjob's own columns come last and are nullable, so that they can be added to a
// table ElasticJob created (see AddColumnSql).

#include <cstddef>
#include <string>
#include <vector>

namespace shardjob::tracers::rdb {

enum class SqlDialect { kSqlite, kPostgresql };

struct Column {
  const char* name;
  const char* sqlite_type;
  const char* postgresql_type;
  bool nullable;
  // A text column's width in characters: longer values are cut to it (as ElasticJob cuts
  // messages to 4000), so that no value makes PostgreSQL refuse a whole batch. 0: not text.
  std::size_t max_chars;
  // One of shardjob's columns, which a table created by ElasticJob lacks.
  bool shardjob_only;
};

struct Table {
  const char* name;
  std::vector<Column> columns;
};

const Table& ExecutionLogTable();
const Table& StatusTraceLogTable();

// "CREATE TABLE IF NOT EXISTS <table> (...)".
std::string CreateTableSql(SqlDialect dialect, const Table& table);

// The index ElasticJob creates on the status log: the same in both dialects.
inline constexpr const char* kStatusIndexName = "task_id_state_index";
std::string CreateIndexSql();  // "CREATE INDEX IF NOT EXISTS task_id_state_index ON ..."

// "ALTER TABLE <table> ADD COLUMN <column> <type>", for a column with shardjob_only set. Neither
// database takes IF NOT EXISTS in both forms; the caller checks first.
std::string AddColumnSql(SqlDialect dialect, const Table& table, const Column& column);

// The statements that store an event. Each takes one parameter per column of its table, in the
// table's column order (see trace_rows.h). Every one may run again with the same row and store
// it once, since the kernel retries a batch whose commit may have reached the store:
//   kInsertExecution  a task's start: inserted unless its row exists (its completion may have
//                     arrived first and written the complete row already).
//   kUpsertExecution  a task's completion: inserted, or, when the start's row exists, that row
//                     gets complete_time, is_success and failure_cause.
//   kInsertStatus     a status change: inserted unless its row exists.
enum class RowStatement { kInsertExecution, kUpsertExecution, kInsertStatus };
std::string RowStatementSql(SqlDialect dialect, RowStatement statement);

}  // namespace shardjob::tracers::rdb
