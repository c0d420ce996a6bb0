#pragma once

#include <sqlite3.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "shardjob/spi/plugin.h"
#include "shardjob/spi/tracer.h"
#include "tracers/rdb/trace_rows.h"

namespace shardjob::tracers {

// SQLITE: stores trace events in ElasticJob's two tables (tracers/rdb/trace_tables.h) in one
// SQLite database file, the default store of a `tracing` section without a type.
//
// Props:
//   path          required. The database file, created if absent (its directory must exist).
//                 A relative path is relative to the process's working directory.
//   busy_timeout  milliseconds to wait for another connection's write lock; default 5000.
//
// The constructor opens the file, switches it to WAL (readers never block the writer, and a
// batch costs one sync) with synchronous=NORMAL (a commit survives a crash of the process; the
// last commits may be lost on power failure, which a trace can afford), and creates the tables
// and index unless they exist, adding shardjob's columns to tables ElasticJob created. It throws
// std::invalid_argument for bad props and std::runtime_error when the database cannot be opened.
//
// Times are stored as ISO-8601 text in UTC, 'YYYY-MM-DD HH:MM:SS.mmm', which SQLite's date and
// time functions read. Each Write is one transaction. Busy, full-disk and I/O errors are
// Unavailable (the kernel retries the batch); anything else is Failed (the batch is dropped).
//
// Not thread-safe: the kernel calls Write from one thread.
class SqliteTracer : public spi::Tracer {
 public:
  explicit SqliteTracer(const spi::PluginContext& context);
  ~SqliteTracer() override;
  SqliteTracer(const SqliteTracer&) = delete;
  SqliteTracer& operator=(const SqliteTracer&) = delete;

  spi::Status Write(const std::vector<spi::TraceEvent>& events) noexcept override;

 private:
  struct Closer {
    void operator()(sqlite3* db) const;
  };
  struct Finalizer {
    void operator()(sqlite3_stmt* statement) const;
  };
  using StatementHandle = std::unique_ptr<sqlite3_stmt, Finalizer>;

  void CreateSchema();
  spi::Status WriteInTransaction(const std::vector<spi::TraceEvent>& events);
  spi::Status CreateSchemaAgain(const spi::Status& cause);
  spi::Status Store(const rdb::TraceRow& row);
  spi::Status Exec(const char* sql);
  void RollBack();
  // The Status for SQLite result `code` during `what`, with the connection's message.
  spi::Status Failure(int code, const std::string& what) const;

  spi::Logger& logger_;
  std::string path_;
  std::unique_ptr<sqlite3, Closer> db_;
  // One per rdb::RowStatement, prepared once; declared after db_ so they are finalized first.
  std::array<StatementHandle, 3> statements_;
};

}  // namespace shardjob::tracers
