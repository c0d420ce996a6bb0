#include "tracers/rdb/trace_tables.h"

namespace shardjob::tracers::rdb {
namespace {

const char* TypeOf(SqlDialect dialect, const Column& column) {
  return dialect == SqlDialect::kSqlite ? column.sqlite_type : column.postgresql_type;
}

std::string Placeholder(SqlDialect dialect, std::size_t index) {
  // SQLite reads "$1" as a parameter *named* "$1"; "?1" is its numbered form.
  std::string placeholder = dialect == SqlDialect::kSqlite ? "?" : "$";
  placeholder += std::to_string(index + 1);
  return placeholder;
}

std::string InsertSql(SqlDialect dialect, const Table& table) {
  std::string names;
  std::string values;
  for (std::size_t i = 0; i < table.columns.size(); ++i) {
    if (i > 0) {
      names += ", ";
      values += ", ";
    }
    names += table.columns[i].name;
    values += Placeholder(dialect, i);
  }
  return std::string("INSERT INTO ") + table.name + " (" + names + ") VALUES (" + values + ")";
}

}  // namespace

const Table& ExecutionLogTable() {
  static const Table table{
      "job_execution_log",
      {
          {"id", "CHARACTER(40)", "VARCHAR(40)", false, 40, false},
          {"job_name", "CHARACTER(100)", "VARCHAR(100)", false, 100, false},
          {"task_id", "CHARACTER(255)", "VARCHAR(255)", false, 255, false},
          {"hostname", "CHARACTER(255)", "VARCHAR(255)", false, 255, false},
          {"ip", "CHARACTER(50)", "VARCHAR(50)", false, 50, false},
          {"sharding_item", "INTEGER", "INT", false, 0, false},
          {"execution_source", "CHARACTER(20)", "VARCHAR(20)", false, 20, false},
          {"failure_cause", "CHARACTER VARYING(4000)", "VARCHAR(4000)", true, 4000, false},
          {"is_success", "INTEGER", "BOOLEAN", false, 0, false},
          {"start_time", "TIMESTAMP", "TIMESTAMP", true, 0, false},
          {"complete_time", "TIMESTAMP", "TIMESTAMP", true, 0, false},
          {"fire_id", "CHARACTER VARYING(255)", "VARCHAR(255)", true, 255, true},
          {"instance_id", "CHARACTER VARYING(255)", "VARCHAR(255)", true, 255, true},
          {"fencing_token", "BIGINT", "BIGINT", true, 0, true},
          {"items_processed", "BIGINT", "BIGINT", true, 0, true},
      }};
  return table;
}

const Table& StatusTraceLogTable() {
  static const Table table{
      "job_status_trace_log",
      {
          {"id", "CHARACTER(40)", "VARCHAR(40)", false, 40, false},
          {"job_name", "CHARACTER(100)", "VARCHAR(100)", false, 100, false},
          {"original_task_id", "CHARACTER(255)", "VARCHAR(255)", false, 255, false},
          {"task_id", "CHARACTER(255)", "VARCHAR(255)", false, 255, false},
          {"slave_id", "CHARACTER(50)", "VARCHAR(50)", false, 50, false},
          {"execution_type", "CHARACTER(20)", "VARCHAR(20)", false, 20, false},
          {"sharding_item", "CHARACTER(100)", "VARCHAR(100)", false, 100, false},
          {"state", "CHARACTER(20)", "VARCHAR(20)", false, 20, false},
          {"message", "CHARACTER VARYING(4000)", "VARCHAR(4000)", true, 4000, false},
          {"creation_time", "TIMESTAMP", "TIMESTAMP", true, 0, false},
          {"fire_id", "CHARACTER VARYING(255)", "VARCHAR(255)", true, 255, true},
      }};
  return table;
}

std::string CreateTableSql(SqlDialect dialect, const Table& table) {
  std::string sql = std::string("CREATE TABLE IF NOT EXISTS ") + table.name + " (";
  for (const Column& column : table.columns) {
    sql += std::string(column.name) + " " + TypeOf(dialect, column) +
           (column.nullable ? " NULL, " : " NOT NULL, ");
  }
  return sql + "PRIMARY KEY (id))";
}

std::string CreateIndexSql() {
  return std::string("CREATE INDEX IF NOT EXISTS ") + kStatusIndexName + " ON " +
         StatusTraceLogTable().name + " (task_id, state)";
}

std::string AddColumnSql(SqlDialect dialect, const Table& table, const Column& column) {
  return std::string("ALTER TABLE ") + table.name + " ADD COLUMN " + column.name + " " +
         TypeOf(dialect, column);
}

std::string RowStatementSql(SqlDialect dialect, RowStatement statement) {
  switch (statement) {
    case RowStatement::kInsertExecution:
      return InsertSql(dialect, ExecutionLogTable()) + " ON CONFLICT (id) DO NOTHING";
    case RowStatement::kUpsertExecution:
      // The completion carries the start's fields too, so whichever event arrives first, the
      // row ends complete; a completion written again sets the same values again.
      return InsertSql(dialect, ExecutionLogTable()) +
             " ON CONFLICT (id) DO UPDATE SET complete_time = excluded.complete_time,"
             " is_success = excluded.is_success, failure_cause = excluded.failure_cause,"
             " items_processed = excluded.items_processed";
    case RowStatement::kInsertStatus:
      return InsertSql(dialect, StatusTraceLogTable()) + " ON CONFLICT (id) DO NOTHING";
  }
  return "";
}

}  // namespace shardjob::tracers::rdb
