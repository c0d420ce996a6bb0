#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "shardjob/spi/plugin.h"
#include "shardjob/spi/trace_history.h"
#include "tracers/postgresql/pg_connection.h"
#include "tracers/postgresql/pg_settings.h"
#include "tracers/rdb/trace_history_sql.h"

namespace shardjob::tracers {

// POSTGRESQL trace_history: reads back what the POSTGRESQL tracer stored, with the same props
// (url, connect_timeout; see PostgresqlTracer) and the same connection settings.
//
// Building it only checks the props. Each query connects if there is no usable connection (the
// first query, or the last connection was lost), then sends the count and the page as one
// pipeline. The connection's transactions are REPEATABLE READ and READ ONLY, so the two share
// one snapshot (the total and the page agree) and nothing can be written through it. Tables not
// created yet (no event was written) read as an empty history. A server that cannot be reached
// or stops answering is Unavailable; the connection is dropped and the next query connects
// again. Every wait on the server is bounded, as for the tracer.
//
// Thread-safe: a mutex serialises the queries on the one connection.
class PostgresqlHistory : public rdb::SqlTraceHistory {
 public:
  // Throws std::invalid_argument naming the prop, as PostgresqlTracer does.
  explicit PostgresqlHistory(const spi::PluginContext& context);
  ~PostgresqlHistory() override;
  PostgresqlHistory(const PostgresqlHistory&) = delete;
  PostgresqlHistory& operator=(const PostgresqlHistory&) = delete;

 private:
  // Under mutex_.
  spi::Status Run(const rdb::HistoryStatements& statements, std::vector<rdb::SqlRow>* rows,
                  std::uint64_t* total) override;
  // REQUIRES: mutex_ held.
  spi::Status Connect();

  spi::Logger& logger_;
  PgSettings settings_;
  std::mutex mutex_;
  std::unique_ptr<PgConnection> connection_;  // GUARDED_BY(mutex_)
  bool ever_connected_ = false;               // GUARDED_BY(mutex_)
};

}  // namespace shardjob::tracers
