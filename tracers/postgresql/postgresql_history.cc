#include "tracers/postgresql/postgresql_history.h"

#include <chrono>
#include <string>
#include <utility>

namespace shardjob::tracers {
namespace {

// As the tracer's: the server cancels a statement after kStatementTimeoutMs, and a query that
// gets no answer within kReplyTimeout gives the connection up.
constexpr int kStatementTimeoutMs = 10000;
constexpr std::chrono::seconds kReplyTimeout{15};

// The two statements of a pipeline share the implicit transaction's snapshot only above READ
// COMMITTED.
constexpr const char* kSessionSql =
    "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";

// undefined_table: no tracer has created the tables yet.
constexpr const char* kUndefinedTable = "42P01";

PgConnection::Command CommandOf(const std::string& sql, const std::vector<rdb::SqlParam>& params) {
  PgConnection::Command command{sql.c_str(), {}};
  command.values.reserve(params.size());
  for (const rdb::SqlParam& param : params) command.values.push_back(param.text.c_str());
  return command;
}

}  // namespace

PostgresqlHistory::PostgresqlHistory(const spi::PluginContext& context)
    : SqlTraceHistory(rdb::SqlDialect::kPostgresql, "POSTGRESQL trace_history"),
      logger_(context.logger),
      settings_(PgSettingsFromProps(context.props, kStatementTimeoutMs)) {}

PostgresqlHistory::~PostgresqlHistory() = default;

spi::Status PostgresqlHistory::Run(const rdb::HistoryStatements& statements,
                                   std::vector<rdb::SqlRow>* rows, std::uint64_t* total) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!connection_ || !connection_->usable()) {
    connection_.reset();
    if (spi::Status status = Connect(); !status.ok()) return status;
  }
  std::vector<PgConnection::Command> commands = {
      CommandOf(statements.count_sql, statements.count_params)};
  if (!statements.page_sql.empty()) {
    commands.push_back(CommandOf(statements.page_sql, statements.page_params));
  }
  std::vector<std::vector<PgConnection::Row>> results;
  spi::Status status =
      connection_->ExecutePipeline(commands, PgConnection::Clock::now() + kReplyTimeout, &results);
  if (!status.ok()) {
    if (!connection_->usable()) {
      connection_.reset();
    } else if (connection_->last_sqlstate() == kUndefinedTable) {
      return spi::Status::Ok();  // nothing written yet
    }
    return status;
  }
  if (!results.empty() && !results[0].empty() && !results[0][0].empty() && results[0][0][0]) {
    *total = std::stoull(*results[0][0][0]);
  }
  if (results.size() > 1) *rows = std::move(results[1]);
  return status;
}

spi::Status PostgresqlHistory::Connect() {
  spi::Status status = PgConnection::Open(settings_.keywords, settings_.values, &connection_);
  if (!status.ok()) return status;
  status = connection_->Execute(kSessionSql, PgConnection::Clock::now() + kReplyTimeout);
  if (!status.ok()) {
    connection_.reset();
    return status;
  }
  logger_.Log(spi::LogLevel::kDebug,
              std::string(ever_connected_ ? "trace history connected again to "
                                          : "trace history connected to ") +
                  connection_->Describe());
  ever_connected_ = true;
  return status;
}

}  // namespace shardjob::tracers
