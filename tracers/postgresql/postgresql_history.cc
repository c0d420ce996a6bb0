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

// Reads both kinds of page the same way: builds the statements, runs them, turns the rows into
// events.
template <typename Query, typename Page, typename Build, typename FromRow, typename Run>
spi::Status Answer(const Query& query, Page* page, Build build, FromRow from_row, Run run) {
  *page = Page{};
  spi::Status status;
  spi::Status thrown = spi::CatchAsStatus("POSTGRESQL trace_history", [&] {
    rdb::HistoryStatements statements;
    status = build(rdb::SqlDialect::kPostgresql, query, &statements);
    if (!status.ok()) return;
    std::vector<rdb::SqlRow> rows;
    status = run(statements, &rows, &page->total);
    if (!status.ok()) return;
    page->events.reserve(rows.size());
    for (const rdb::SqlRow& row : rows) page->events.push_back(from_row(row));
  });
  if (!thrown.ok()) status = thrown;
  if (!status.ok()) *page = Page{};
  return status;
}

PgConnection::Command CommandOf(const std::string& sql, const std::vector<rdb::SqlParam>& params) {
  PgConnection::Command command{sql.c_str(), {}};
  command.values.reserve(params.size());
  for (const rdb::SqlParam& param : params) command.values.push_back(param.text.c_str());
  return command;
}

}  // namespace

PostgresqlHistory::PostgresqlHistory(const spi::PluginContext& context)
    : logger_(context.logger), settings_(PgSettingsFromProps(context.props, kStatementTimeoutMs)) {}

PostgresqlHistory::~PostgresqlHistory() = default;

spi::Status PostgresqlHistory::QueryExecutions(const spi::ExecutionQuery& query,
                                               spi::ExecutionPage* page) noexcept {
  return Answer(query, page, &rdb::BuildExecutionHistory, &rdb::ExecutionFromRow,
                [this](const rdb::HistoryStatements& statements, std::vector<rdb::SqlRow>* rows,
                       std::uint64_t* total) { return Run(statements, rows, total); });
}

spi::Status PostgresqlHistory::QueryStatus(const spi::StatusQuery& query,
                                           spi::StatusPage* page) noexcept {
  return Answer(query, page, &rdb::BuildStatusHistory, &rdb::StatusFromRow,
                [this](const rdb::HistoryStatements& statements, std::vector<rdb::SqlRow>* rows,
                       std::uint64_t* total) { return Run(statements, rows, total); });
}

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
