#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace shardjob::examples {

// A few lines of RAII over SQLite's C API, enough for the table copy example. Every failure
// throws std::runtime_error with SQLite's message and what was being done.

// `name` as a quoted SQL identifier: orders -> "orders", a"b -> "a""b".
std::string QuoteIdentifier(std::string_view name);

struct ValueDeleter {
  void operator()(sqlite3_value* value) const { sqlite3_value_free(value); }
};
// A column value copied out of a statement (it outlives the statement's next step).
using OwnedValue = std::unique_ptr<sqlite3_value, ValueDeleter>;

class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void BindInt64(int index, std::int64_t value);
  void BindText(int index, const std::string& value);
  void BindValue(int index, const sqlite3_value* value);
  // True when a row is ready, false when the statement is done.
  bool Step();
  // Ends the statement's read (its implicit transaction) and clears the bindings.
  void Reset();

  int ColumnCount() const;
  std::string ColumnName(int index) const;
  bool ColumnIsNull(int index) const;
  bool ColumnIsInteger(int index) const;
  std::int64_t ColumnInt64(int index) const;
  std::string ColumnText(int index) const;
  OwnedValue CopyColumn(int index) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

class Database {
 public:
  // Opens `path` read-only (it must exist) or read-write (created when missing), with a busy
  // timeout: a writer that finds the file locked waits up to `busy_timeout` before failing.
  Database(const std::string& path, bool read_only, std::chrono::milliseconds busy_timeout);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }
  void Exec(const std::string& sql);
  // Rows changed by the last INSERT, UPDATE or DELETE.
  int Changes() const;

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

// BEGIN IMMEDIATE (the write lock now, waiting out the busy timeout) ... COMMIT; rolled back by the
// destructor unless committed.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void Commit();
  void Rollback();

 private:
  Database& db_;
  bool open_ = true;
};

}  // namespace shardjob::examples
