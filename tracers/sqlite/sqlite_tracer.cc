#include "tracers/sqlite/sqlite_tracer.h"

#include <cstdint>
#include <cstring>
#include <set>
#include <stdexcept>

#include "tracers/rdb/trace_tables.h"
#include "tracers/rdb/tracer_props.h"

namespace shardjob::tracers {
namespace {

using rdb::RowStatement;
using rdb::SqlDialect;

constexpr std::int64_t kDefaultBusyTimeoutMs = 5000;

std::size_t IndexOf(RowStatement statement) { return static_cast<std::size_t>(statement); }

// Conditions that may clear by themselves: another connection holds the lock, the disk is full,
// the file system failed. Retrying the batch later is right for these; for the rest (a
// constraint, a corrupt file, a value SQLite cannot hold) retrying would fail the same way.
bool IsTransient(int code) {
  switch (code & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
      return true;
    default:
      return false;
  }
}

}  // namespace

void SqliteTracer::Closer::operator()(sqlite3* db) const { sqlite3_close_v2(db); }
void SqliteTracer::Finalizer::operator()(sqlite3_stmt* statement) const {
  sqlite3_finalize(statement);
}

SqliteTracer::SqliteTracer(const spi::PluginContext& context) : logger_(context.logger) {
  rdb::RejectUnknownProps(context.props, {"path", "busy_timeout"});
  path_ = rdb::RequiredProp(context.props, "path", "the SQLite database file");
  const std::int64_t busy_timeout_ms =
      rdb::IntProp(context.props, "busy_timeout", kDefaultBusyTimeoutMs, 0, 3600000);

  sqlite3* db = nullptr;
  const int opened =
      sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  db_.reset(db);  // even a failed open returns a handle, which must be closed
  if (opened != SQLITE_OK) {
    throw std::runtime_error("tracing.props.path: cannot open SQLite database '" + path_ +
                             "': " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(opened)));
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(busy_timeout_ms));

  // journal_mode answers with the mode in force: "memory" for ":memory:", the old mode where the
  // file system cannot share memory (WAL needs it). Both still work, with more syncs.
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &raw, nullptr) != SQLITE_OK) {
    throw std::runtime_error(Failure(sqlite3_errcode(db), "PRAGMA journal_mode").message());
  }
  StatementHandle journal(raw);
  const int stepped = sqlite3_step(journal.get());
  if (stepped != SQLITE_ROW) {
    throw std::runtime_error(Failure(stepped, "PRAGMA journal_mode=WAL").message());
  }
  const std::string mode = reinterpret_cast<const char*>(sqlite3_column_text(journal.get(), 0));
  if (mode != "wal" && mode != "memory") {
    logger_.Log(spi::LogLevel::kWarn,
                "'" + path_ + "' stays in journal mode " + mode + " (WAL is not available)");
  }
  journal.reset();
  if (spi::Status status = Exec("PRAGMA synchronous=NORMAL"); !status.ok()) {
    throw std::runtime_error(status.message());
  }

  CreateSchema();
  for (RowStatement statement : {RowStatement::kInsertExecution, RowStatement::kUpsertExecution,
                                 RowStatement::kInsertStatus}) {
    const std::string sql = rdb::RowStatementSql(SqlDialect::kSqlite, statement);
    if (sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) !=
        SQLITE_OK) {
      throw std::runtime_error(Failure(sqlite3_errcode(db), "preparing " + sql).message());
    }
    statements_[IndexOf(statement)].reset(raw);
  }
}

SqliteTracer::~SqliteTracer() = default;

void SqliteTracer::CreateSchema() {
  // One transaction: two processes starting on one file do not both add a column.
  spi::Status status = Exec("BEGIN IMMEDIATE");
  for (const std::string& sql :
       {rdb::CreateTableSql(SqlDialect::kSqlite, rdb::ExecutionLogTable()),
        rdb::CreateTableSql(SqlDialect::kSqlite, rdb::StatusTraceLogTable()),
        rdb::CreateIndexSql()}) {
    if (status.ok()) status = Exec(sql.c_str());
  }
  for (const rdb::Table* table : {&rdb::ExecutionLogTable(), &rdb::StatusTraceLogTable()}) {
    if (!status.ok()) break;
    std::set<std::string> present;
    sqlite3_stmt* raw = nullptr;
    const std::string pragma = std::string("PRAGMA table_info(") + table->name + ")";
    if (sqlite3_prepare_v2(db_.get(), pragma.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
      status = Failure(sqlite3_errcode(db_.get()), pragma);
      break;
    }
    StatementHandle columns(raw);
    while (sqlite3_step(columns.get()) == SQLITE_ROW) {
      present.insert(reinterpret_cast<const char*>(sqlite3_column_text(columns.get(), 1)));
    }
    for (const rdb::Column& column : table->columns) {
      if (!column.shardjob_only || present.count(column.name) != 0) continue;
      status = Exec(rdb::AddColumnSql(SqlDialect::kSqlite, *table, column).c_str());
      if (!status.ok()) break;
      logger_.Log(spi::LogLevel::kInfo, std::string("added column ") + column.name + " to " +
                                            table->name + " in '" + path_ + "'");
    }
  }
  if (status.ok()) status = Exec("COMMIT");
  if (!status.ok()) {
    RollBack();
    throw std::runtime_error("cannot create the trace tables: " + status.message());
  }
}

spi::Status SqliteTracer::Write(const std::vector<spi::TraceEvent>& events) noexcept {
  spi::Status status;
  spi::Status thrown =
      spi::CatchAsStatus("SQLITE tracer", [&] { status = WriteInTransaction(events); });
  if (!thrown.ok()) {
    RollBack();
    return thrown;
  }
  return status;
}

spi::Status SqliteTracer::WriteInTransaction(const std::vector<spi::TraceEvent>& events) {
  if (events.empty()) return spi::Status::Ok();
  // IMMEDIATE takes the write lock now (waiting up to busy_timeout), so the batch cannot fail
  // halfway for a lock another connection took in between.
  if (spi::Status status = Exec("BEGIN IMMEDIATE"); !status.ok()) return status;
  for (const spi::TraceEvent& event : events) {
    spi::Status status = Store(rdb::ToRow(event));
    if (!status.ok()) {
      // Read before the rollback, which replaces the connection's last error.
      const bool table_missing = sqlite3_errcode(db_.get()) == SQLITE_ERROR &&
                                 std::strstr(sqlite3_errmsg(db_.get()), "no such table") != nullptr;
      RollBack();
      return table_missing ? CreateSchemaAgain(status) : status;
    }
  }
  spi::Status status = Exec("COMMIT");
  if (!status.ok()) RollBack();
  return status;
}

// Someone dropped a table while we ran: the batch was not refused, so it is written again once
// the tables are back (the prepared statements prepare themselves again on their next step).
spi::Status SqliteTracer::CreateSchemaAgain(const spi::Status& cause) {
  try {
    CreateSchema();
  } catch (const std::exception& e) {
    return spi::Status::Unavailable(cause.message() + "; " + e.what());
  }
  return spi::Status::Unavailable(cause.message() + " (the tables were created again)");
}

spi::Status SqliteTracer::Store(const rdb::TraceRow& row) {
  sqlite3_stmt* statement = statements_[IndexOf(row.statement)].get();
  for (std::size_t i = 0; i < row.values.size(); ++i) {
    const int index = static_cast<int>(i) + 1;
    // SQLITE_STATIC: the row outlives the step, and the bindings are cleared right after it.
    const int bound =
        row.values[i] ? sqlite3_bind_text(statement, index, row.values[i]->data(),
                                          static_cast<int>(row.values[i]->size()), SQLITE_STATIC)
                      : sqlite3_bind_null(statement, index);
    if (bound != SQLITE_OK) {
      sqlite3_clear_bindings(statement);
      return Failure(bound, "binding a trace row");
    }
  }
  const int stepped = sqlite3_step(statement);
  sqlite3_reset(statement);
  sqlite3_clear_bindings(statement);
  if (stepped != SQLITE_DONE) return Failure(stepped, "writing a trace row");
  return spi::Status::Ok();
}

spi::Status SqliteTracer::Exec(const char* sql) {
  const int code = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
  if (code != SQLITE_OK) return Failure(code, sql);
  return spi::Status::Ok();
}

void SqliteTracer::RollBack() {
  // Some errors (a full disk, say) roll the transaction back already.
  if (db_ && sqlite3_get_autocommit(db_.get()) == 0) {
    sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

spi::Status SqliteTracer::Failure(int code, const std::string& what) const {
  std::string message = "SQLite '" + path_ + "': " + what + ": " + sqlite3_errmsg(db_.get()) +
                        " (" + sqlite3_errstr(code) + ")";
  if (IsTransient(code)) return spi::Status::Unavailable(std::move(message));
  return spi::Status::Failed(std::move(message));
}

}  // namespace shardjob::tracers
