#include "tracers/sqlite/sqlite_history.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "tracers/rdb/tracer_props.h"

namespace shardjob::tracers {
namespace {

constexpr std::int64_t kDefaultBusyTimeoutMs = 5000;

// The tables are not there yet: nothing was written. ("no such column", an ElasticJob table no
// shardjob tracer has written to yet, stays an error.)
bool IsMissingTable(sqlite3* db, int code) {
  return (code & 0xFF) == SQLITE_ERROR &&
         std::strstr(sqlite3_errmsg(db), "no such table") != nullptr;
}

// Conditions that may clear by themselves: the tracer's, and a file the tracer is creating.
bool IsTransient(int code) {
  switch (code & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
    case SQLITE_NOTADB:
      return true;
    default:
      return false;
  }
}

using StatementHandle = std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)>;

}  // namespace

void SqliteHistory::Closer::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

SqliteHistory::SqliteHistory(const spi::PluginContext& context)
    : SqlTraceHistory(rdb::SqlDialect::kSqlite, "SQLITE trace_history") {
  rdb::RejectUnknownProps(context.props, {"path", "busy_timeout"});
  path_ = rdb::RequiredProp(context.props, "path", "the SQLite database file");
  busy_timeout_ms_ = rdb::IntProp(context.props, "busy_timeout", kDefaultBusyTimeoutMs, 0, 3600000);
}

SqliteHistory::~SqliteHistory() = default;

spi::Status SqliteHistory::Run(const rdb::HistoryStatements& statements,
                               std::vector<rdb::SqlRow>* rows, std::uint64_t* total) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!db_) {
    bool absent = false;
    if (spi::Status status = Open(&absent); !status.ok() || absent) return status;
  }
  try {
    return RunInTransaction(statements, rows, total);  // leaves no rows when it fails
  } catch (...) {
    RollBack();
    throw;
  }
}

spi::Status SqliteHistory::RunInTransaction(const rdb::HistoryStatements& statements,
                                            std::vector<rdb::SqlRow>* rows, std::uint64_t* total) {
  // One read transaction (its snapshot starts at the count), so the page agrees with the total.
  if (sqlite3_exec(db_.get(), "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return Failure(sqlite3_errcode(db_.get()), "BEGIN");
  }
  bool missing = false;
  std::vector<rdb::SqlRow> counted;
  spi::Status status = Query(statements.count_sql, statements.count_params, &counted, &missing);
  if (status.ok() && !missing && !statements.page_sql.empty()) {
    status = Query(statements.page_sql, statements.page_params, rows, &missing);
  }
  RollBack();  // nothing was written: ending the read transaction either way is the same
  if (!status.ok() || missing) {
    rows->clear();
    return status;
  }
  if (!counted.empty() && !counted[0].empty() && counted[0][0]) {
    *total = std::stoull(*counted[0][0]);
  }
  return status;
}

spi::Status SqliteHistory::Open(bool* absent) {
  struct stat info {};
  if (::stat(path_.c_str(), &info) != 0) {
    if (errno == ENOENT) {
      *absent = true;  // no event was written yet
      return spi::Status::Ok();
    }
    return spi::Status::Unavailable("SQLite '" + path_ + "': " + std::strerror(errno));
  }
  sqlite3* db = nullptr;
  const int opened = sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
  db_.reset(db);  // even a failed open returns a handle, which must be closed
  if (opened != SQLITE_OK) {
    std::string message = "SQLite '" + path_ + "': cannot open: " +
                          (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(opened));
    db_.reset();
    return spi::Status::Unavailable(std::move(message));
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(busy_timeout_ms_));
  if (sqlite3_exec(db, "PRAGMA query_only=1", nullptr, nullptr, nullptr) != SQLITE_OK) {
    spi::Status status = Failure(sqlite3_errcode(db), "PRAGMA query_only");
    db_.reset();
    return status;
  }
  return spi::Status::Ok();
}

spi::Status SqliteHistory::Query(const std::string& sql, const std::vector<rdb::SqlParam>& params,
                                 std::vector<rdb::SqlRow>* rows, bool* missing_table) {
  sqlite3* db = db_.get();
  sqlite3_stmt* raw = nullptr;
  const int prepared = sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr);
  StatementHandle statement(raw, sqlite3_finalize);
  if (prepared != SQLITE_OK) {
    if (IsMissingTable(db, prepared)) {
      *missing_table = true;
      return spi::Status::Ok();
    }
    return Failure(prepared, "preparing " + sql);
  }
  for (std::size_t i = 0; i < params.size(); ++i) {
    const int index = static_cast<int>(i) + 1;
    const rdb::SqlParam& param = params[i];
    const int bound = param.integer
                          ? sqlite3_bind_int64(statement.get(), index, std::stoll(param.text))
                          : sqlite3_bind_text(statement.get(), index, param.text.data(),
                                              static_cast<int>(param.text.size()), SQLITE_STATIC);
    if (bound != SQLITE_OK) return Failure(bound, "binding a query parameter");
  }
  const int columns = sqlite3_column_count(statement.get());
  while (true) {
    const int stepped = sqlite3_step(statement.get());
    if (stepped == SQLITE_DONE) return spi::Status::Ok();
    if (stepped != SQLITE_ROW) return Failure(stepped, "reading the trace history");
    rdb::SqlRow row;
    row.reserve(static_cast<std::size_t>(columns));
    for (int i = 0; i < columns; ++i) {
      const unsigned char* text = sqlite3_column_text(statement.get(), i);
      if (text == nullptr) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(
            std::string(reinterpret_cast<const char*>(text),
                        static_cast<std::size_t>(sqlite3_column_bytes(statement.get(), i))));
      }
    }
    rows->push_back(std::move(row));
  }
}

void SqliteHistory::RollBack() {
  if (db_ && sqlite3_get_autocommit(db_.get()) == 0) {
    sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

spi::Status SqliteHistory::Failure(int code, const std::string& what) {
  std::string message = "SQLite '" + path_ + "': " + what + ": " + sqlite3_errmsg(db_.get()) +
                        " (" + sqlite3_errstr(code) + ")";
  if (IsTransient(code)) {
    RollBack();
    db_.reset();  // the next query opens the file again
    return spi::Status::Unavailable(std::move(message));
  }
  return spi::Status::Failed(std::move(message));
}

}  // namespace shardjob::tracers
