#include "sqlite_db.h"

#include <stdexcept>

namespace shardjob::examples {
namespace {

[[noreturn]] void Throw(sqlite3* db, const std::string& what) {
  throw std::runtime_error(what + ": " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
}

}  // namespace

std::string QuoteIdentifier(std::string_view name) {
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

Statement::Statement(sqlite3* db, const std::string& sql) : db_(db), sql_(sql) {
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) {
    Throw(db_, "cannot prepare '" + sql + "'");
  }
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::BindInt64(int index, std::int64_t value) {
  if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK) Throw(db_, "bind");
}

void Statement::BindText(int index, const std::string& value) {
  if (sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                        SQLITE_TRANSIENT) != SQLITE_OK) {
    Throw(db_, "bind");
  }
}

void Statement::BindValue(int index, const sqlite3_value* value) {
  if (sqlite3_bind_value(stmt_, index, value) != SQLITE_OK) Throw(db_, "bind");
}

bool Statement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // The error stays set on the connection until the reset below, which would replace it.
  const std::string message =
      "'" + sql_ + "' failed: " + sqlite3_errmsg(db_) + " (" + sqlite3_errstr(rc) + ")";
  sqlite3_reset(stmt_);
  throw std::runtime_error(message);
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int Statement::ColumnCount() const { return sqlite3_column_count(stmt_); }

std::string Statement::ColumnName(int index) const {
  const char* name = sqlite3_column_name(stmt_, index);
  return name != nullptr ? name : "";
}

bool Statement::ColumnIsNull(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

bool Statement::ColumnIsInteger(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_INTEGER;
}

std::int64_t Statement::ColumnInt64(int index) const { return sqlite3_column_int64(stmt_, index); }

std::string Statement::ColumnText(int index) const {
  const unsigned char* text = sqlite3_column_text(stmt_, index);
  return text != nullptr ? std::string(reinterpret_cast<const char*>(text),
                                       static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index)))
                         : std::string();
}

OwnedValue Statement::CopyColumn(int index) const {
  OwnedValue value(sqlite3_value_dup(sqlite3_column_value(stmt_, index)));
  if (value == nullptr) throw std::runtime_error("out of memory copying a column value");
  return value;
}

Database::Database(const std::string& path, bool read_only, std::chrono::milliseconds busy_timeout)
    : path_(path) {
  const int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    const std::string message = std::string("cannot open SQLite database '") + path + "'" +
                                (read_only ? " for reading" : "") + ": " +
                                (db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory");
    sqlite3_close(db_);
    throw std::runtime_error(message);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, static_cast<int>(busy_timeout.count()));
}

Database::~Database() { sqlite3_close(db_); }

void Database::Exec(const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string message = "'" + sql + "' failed on '" + path_ +
                                "': " + (error != nullptr ? error : sqlite3_errmsg(db_));
    sqlite3_free(error);
    throw std::runtime_error(message);
  }
}

int Database::Changes() const { return sqlite3_changes(db_); }

Transaction::Transaction(Database& db) : db_(db) { db_.Exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (open_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::Commit() {
  db_.Exec("COMMIT");
  open_ = false;
}

void Transaction::Rollback() {
  open_ = false;
  db_.Exec("ROLLBACK");
}

}  // namespace shardjob::examples
