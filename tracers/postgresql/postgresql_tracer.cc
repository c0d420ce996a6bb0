#include "tracers/postgresql/postgresql_tracer.h"

#include <cstdint>

#include "tracers/rdb/trace_rows.h"
#include "tracers/rdb/trace_tables.h"

namespace shardjob::tracers {
namespace {

using rdb::RowStatement;
using rdb::SqlDialect;

// What the server may spend on one statement (a lock held by someone else, say) before it
// cancels it; the write is then retried.
constexpr int kStatementTimeoutMs = 10000;
// How long a Write waits for the server in all (the schema, the batch) before giving the
// connection up: longer than the statement timeout, so that the server's own answer comes first
// when it is alive.
constexpr std::chrono::seconds kReplyTimeout{15};
// Serialises the schema step of every tracer on one database (two instances starting together
// would otherwise race in CREATE TABLE IF NOT EXISTS, which is not atomic in PostgreSQL). Any
// constant works; this one is "shardjob" in ASCII.
constexpr const char* kSchemaLockKey = "8316003855878483810";

std::string Quoted(const std::string& text) { return "'" + text + "'"; }

// Creates what is missing. Only the constant table and column names of trace_tables.h are
// spliced in. Tables, index and columns are checked first: CREATE TABLE IF NOT EXISTS needs the
// CREATE privilege on the schema even when the table exists (a user a DBA gave only INSERT and
// UPDATE on tables made for it could never write), and CREATE INDEX IF NOT EXISTS and ALTER
// TABLE would lock the table even when nothing needs doing.
std::string SchemaSql() {
  std::string sql = std::string("SELECT pg_advisory_xact_lock(") + kSchemaLockKey + ");\n";
  sql += "DO $$\nBEGIN\n";
  for (const rdb::Table* table : {&rdb::ExecutionLogTable(), &rdb::StatusTraceLogTable()}) {
    sql += "  IF to_regclass(" + Quoted(table->name) + ") IS NULL THEN\n    " +
           rdb::CreateTableSql(SqlDialect::kPostgresql, *table) + ";\n  END IF;\n";
  }
  sql += std::string(
             "  IF NOT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND "
             "indexname = ") +
         Quoted(rdb::kStatusIndexName) + ") THEN\n    " + rdb::CreateIndexSql() + ";\n  END IF;\n";
  for (const rdb::Table* table : {&rdb::ExecutionLogTable(), &rdb::StatusTraceLogTable()}) {
    for (const rdb::Column& column : table->columns) {
      if (!column.shardjob_only) continue;
      sql += std::string(
                 "  IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = "
                 "current_schema() AND table_name = ") +
             Quoted(table->name) + " AND column_name = " + Quoted(column.name) + ") THEN\n    " +
             rdb::AddColumnSql(SqlDialect::kPostgresql, *table, column) + ";\n  END IF;\n";
    }
  }
  return sql + "END\n$$;";
}

}  // namespace

PostgresqlTracer::PostgresqlTracer(const spi::PluginContext& context)
    : logger_(context.logger), settings_(PgSettingsFromProps(context.props, kStatementTimeoutMs)) {
  for (RowStatement statement : {RowStatement::kInsertExecution, RowStatement::kUpsertExecution,
                                 RowStatement::kInsertStatus}) {
    statements_.push_back(rdb::RowStatementSql(SqlDialect::kPostgresql, statement));
  }
  schema_sql_ = SchemaSql();
}

PostgresqlTracer::~PostgresqlTracer() = default;

spi::Status PostgresqlTracer::Write(const std::vector<spi::TraceEvent>& events) noexcept {
  spi::Status status;
  spi::Status thrown =
      spi::CatchAsStatus("POSTGRESQL tracer", [&] { status = WriteBatch(events); });
  return thrown.ok() ? status : thrown;
}

spi::Status PostgresqlTracer::WriteBatch(const std::vector<spi::TraceEvent>& events) {
  if (events.empty()) return spi::Status::Ok();
  if (!connection_ || !connection_->usable()) {
    connection_.reset();
    if (spi::Status status = Connect(); !status.ok()) return status;
  }
  const auto deadline = PgConnection::Clock::now() + kReplyTimeout;
  if (!schema_ready_) {
    spi::Status status = CreateSchema(deadline);
    if (!status.ok()) {
      if (!connection_->usable()) connection_.reset();
      return status;
    }
  }

  std::vector<rdb::TraceRow> rows;
  rows.reserve(events.size());
  for (const spi::TraceEvent& event : events) rows.push_back(rdb::ToRow(event));
  std::vector<PgConnection::Command> commands;
  commands.reserve(rows.size());
  for (const rdb::TraceRow& row : rows) {
    PgConnection::Command command{statements_[static_cast<std::size_t>(row.statement)].c_str(), {}};
    command.values.reserve(row.values.size());
    for (const auto& value : row.values) command.values.push_back(value ? value->c_str() : nullptr);
    commands.push_back(std::move(command));
  }
  spi::Status status = connection_->ExecutePipeline(commands, deadline);
  if (status.ok()) return status;
  if (connection_->last_sqlstate() == "42P01") {
    // undefined_table: someone dropped a table while we ran. Create it again and retry.
    schema_ready_ = false;
    return spi::Status::Unavailable(status.message() + " (the tables are created again first)");
  }
  if (!connection_->usable()) connection_.reset();
  return status;
}

spi::Status PostgresqlTracer::Connect() {
  spi::Status status = PgConnection::Open(settings_.keywords, settings_.values, &connection_);
  if (!status.ok()) return status;
  logger_.Log(spi::LogLevel::kInfo, (ever_connected_ ? "connected again to " : "connected to ") +
                                        connection_->Describe());
  ever_connected_ = true;
  return status;
}

spi::Status PostgresqlTracer::CreateSchema(PgConnection::Clock::time_point deadline) {
  spi::Status status = connection_->Execute(schema_sql_, deadline);
  if (!status.ok()) {
    // Unavailable either way: the batch was never refused, so it waits in the kernel's buffer
    // (and is counted if the buffer overflows) until the tables can be made or a DBA makes them.
    return spi::Status::Unavailable("cannot create the trace tables: " + status.message());
  }
  schema_ready_ = true;
  return status;
}

}  // namespace shardjob::tracers
