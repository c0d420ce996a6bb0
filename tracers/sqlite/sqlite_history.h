#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "shardjob/spi/plugin.h"
#include "shardjob/spi/trace_history.h"
#include "tracers/rdb/trace_history_sql.h"

namespace shardjob::tracers {

// SQLITE trace_history: reads back what the SQLITE tracer stored in its database file (see
// SqliteTracer), with the same props:
//   path          required. The database file.
//   busy_timeout  milliseconds to wait for a lock; default 5000. In WAL mode, which the tracer
//                 sets, readers do not wait for the writer.
//
// Building it only checks the props. The file is opened on the first query that finds it (a
// file that does not exist yet, or tables not created yet, read as an empty history), on its
// own connection, read and write (a WAL database needs its shared-memory file) but with
// query_only set. Each query counts and reads the page in one read transaction, so the total
// and the page agree. Busy, I/O and open errors are Unavailable, and the connection is closed so
// that the next query opens the file again.
//
// Thread-safe: a mutex serialises the queries on the one connection.
class SqliteHistory : public rdb::SqlTraceHistory {
 public:
  explicit SqliteHistory(const spi::PluginContext& context);
  ~SqliteHistory() override;
  SqliteHistory(const SqliteHistory&) = delete;
  SqliteHistory& operator=(const SqliteHistory&) = delete;

 private:
  struct Closer {
    void operator()(sqlite3* db) const;
  };

  // Under mutex_.
  spi::Status Run(const rdb::HistoryStatements& statements, std::vector<rdb::SqlRow>* rows,
                  std::uint64_t* total) override;
  // REQUIRES: mutex_ held, db_ open.
  spi::Status RunInTransaction(const rdb::HistoryStatements& statements,
                               std::vector<rdb::SqlRow>* rows, std::uint64_t* total);
  // Opens the file when it exists; *absent tells when it does not.
  spi::Status Open(bool* absent);
  // Steps `sql` with `params`, appending each row's columns to *rows. A missing table sets
  // *missing_table and is OK.
  spi::Status Query(const std::string& sql, const std::vector<rdb::SqlParam>& params,
                    std::vector<rdb::SqlRow>* rows, bool* missing_table);
  void RollBack();
  // The Status for SQLite result `code` during `what`; a transient one closes the connection.
  spi::Status Failure(int code, const std::string& what);

  std::string path_;
  std::int64_t busy_timeout_ms_ = 0;
  std::mutex mutex_;
  std::unique_ptr<sqlite3, Closer> db_;  // GUARDED_BY(mutex_)
};

}  // namespace shardjob::tracers
