#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "shardjob/spi/plugin.h"
#include "shardjob/spi/tracer.h"
#include "tracers/postgresql/pg_connection.h"
#include "tracers/postgresql/pg_settings.h"

namespace shardjob::tracers {

// POSTGRESQL: stores trace events in ElasticJob's two tables (tracers/rdb/trace_tables.h) in a
// PostgreSQL database, through libpq.
//
// Props:
//   url              required. A libpq connection string, as a URI
//                    ("postgresql://user:secret@db.example:5432/jobs?sslmode=require") or as
//                    key=value pairs ("host=db.example dbname=jobs user=shardjob"). Checked when
//                    the tracer is built; nothing connects until the first write.
//   connect_timeout  seconds a connection attempt may take; default 5 (or the url's own
//                    connect_timeout), overriding the url's when given.
//
// Unless the url says otherwise, connections also ask for TCP keepalives, a tcp_user_timeout
// and a server-side statement_timeout, name themselves application_name=shardjob, and use
// client_encoding UTF8 (always: the rows are UTF-8).
//
// Each Write connects if there is no usable connection (the first write, or the last connection
// was lost), creates the tables and index when this tracer has not yet done so, then sends the
// batch as one pipelined transaction with parameterised statements. Every wait on the server is
// bounded (see PgConnection): a Write that gets no answer in time gives the connection up and
// returns Unavailable. Times are TIMESTAMP without time zone, holding UTC.
//
// Not thread-safe: the kernel calls Write from one thread.
class PostgresqlTracer : public spi::Tracer {
 public:
  // Throws std::invalid_argument naming the prop when `url` is missing or malformed or
  // `connect_timeout` is not a number of seconds.
  explicit PostgresqlTracer(const spi::PluginContext& context);
  ~PostgresqlTracer() override;
  PostgresqlTracer(const PostgresqlTracer&) = delete;
  PostgresqlTracer& operator=(const PostgresqlTracer&) = delete;

  spi::Status Write(const std::vector<spi::TraceEvent>& events) noexcept override;

 private:
  spi::Status WriteBatch(const std::vector<spi::TraceEvent>& events);
  spi::Status Connect();
  spi::Status CreateSchema(PgConnection::Clock::time_point deadline);

  spi::Logger& logger_;
  PgSettings settings_;
  std::unique_ptr<PgConnection> connection_;
  bool schema_ready_ = false;
  bool ever_connected_ = false;
  // The SQL of each rdb::RowStatement, built once.
  std::vector<std::string> statements_;
  std::string schema_sql_;
};

}  // namespace shardjob::tracers
