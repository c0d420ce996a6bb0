#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shardjob/spi/status.h"

namespace shardjob::tracers {

// One libpq connection, in non-blocking mode so that no call waits past a deadline: a server
// that stops answering (paused, partitioned away with the TCP connection still open) costs at
// most the deadline, after which the connection is given up.
//
// Outcomes follow the tracer SPI: Unavailable when the server cannot be reached, the connection
// is lost or gives no answer in time, or the server says to come back later (shutting down,
// out of connections or disk, a statement timeout, a deadlock, a read-only standby); Failed when
// it refuses the statements themselves (a value it cannot hold, a missing privilege).
//
// Not thread-safe.
class PgConnection {
 public:
  using Clock = std::chrono::steady_clock;

  // A statement and its parameters, all as text (nullptr is NULL). The pointers must stay valid
  // for the duration of the call that takes them.
  struct Command {
    const char* sql;
    std::vector<const char*> values;
  };

  // Connects with libpq's keyword/value parameters (expand_dbname is on, so a "dbname" value may
  // be a whole connection string or URI). Blocks for at most the connect_timeout they give.
  static spi::Status Open(const std::vector<std::string>& keywords,
                          const std::vector<std::string>& values,
                          std::unique_ptr<PgConnection>* connection);

  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs constant SQL without parameters, possibly several statements, as one simple query: one
  // implicit transaction, rolled back as a whole when a statement fails.
  spi::Status Execute(const std::string& sql, Clock::time_point deadline);

  // A returned row: its columns as text, nullopt for NULL.
  using Row = std::vector<std::optional<std::string>>;

  // Sends all commands at once and then one sync (libpq's pipeline mode), so a batch costs one
  // round trip. They run in one implicit transaction, committed at the sync if every command
  // succeeded and rolled back otherwise. With `results`, it gets one entry per command: the rows
  // that command returned (none for a command that returns no rows); it is only complete when
  // the call succeeds.
  spi::Status ExecutePipeline(const std::vector<Command>& commands, Clock::time_point deadline,
                              std::vector<std::vector<Row>>* results = nullptr);

  // False once the connection is lost or was given up: drop it and open another.
  bool usable() const { return !broken_ && PQstatus(conn_) == CONNECTION_OK; }
  // The SQLSTATE of the last statement that failed, "" if none did.
  const std::string& last_sqlstate() const { return last_sqlstate_; }
  // "host:port/database".
  std::string Describe() const;

 private:
  struct ResultDeleter {
    void operator()(PGresult* result) const { PQclear(result); }
  };
  using Result = std::unique_ptr<PGresult, ResultDeleter>;

  explicit PgConnection(PGconn* conn) : conn_(conn) {}

  // Sends what libpq has buffered, reading meanwhile so the server never blocks on a full socket.
  spi::Status Flush(Clock::time_point deadline);
  // The next result, or null at the end of a command's results.
  spi::Status NextResult(Clock::time_point deadline, Result* result);
  // Waits until the socket is ready for `events` (POLLIN, POLLOUT) or the deadline passes.
  spi::Status Wait(short events, Clock::time_point deadline);
  // Unavailable, and the connection is broken for good.
  spi::Status Lost(const std::string& what);
  // The Status for a failed result; records its SQLSTATE.
  spi::Status Refused(const PGresult* result);

  PGconn* conn_;
  bool broken_ = false;
  std::string last_sqlstate_;
};

}  // namespace shardjob::tracers
