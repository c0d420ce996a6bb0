#pragma once

// How the SQLITE and POSTGRESQL trace histories read ElasticJob's two tables back
// (spi/trace_history.h): the statements for one query, their parameters, and how a result row
// becomes an event again.
//
// Every filter value is a bound parameter; only the constant table and column names of
// trace_tables.h are spliced into the SQL. A text filter is fitted to its column first
// (FitText, as the tracer fits what it stores), so that a value the tracer cut still matches the
// row it stored. Both statements share one WHERE; the page adds the order (newest first, then
// by id, rows without a time last) and LIMIT / OFFSET.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardjob/spi/status.h"
#include "shardjob/spi/trace_history.h"
#include "shardjob/spi/tracer.h"
#include "tracers/rdb/trace_tables.h"

namespace shardjob::tracers::rdb {

// A parameter, as text. `integer`: SQLite binds it as an integer (PostgreSQL takes every value
// as text and converts it to the type the statement infers).
struct SqlParam {
  std::string text;
  bool integer = false;
};

struct HistoryStatements {
  std::string count_sql;  // "SELECT COUNT(*) FROM <table> WHERE ..."
  std::vector<SqlParam> count_params;
  // The page, with count_params then limit and offset. Empty when the limit is 0: only the
  // total is asked for.
  std::string page_sql;
  std::vector<SqlParam> page_params;
};

// InvalidArgument when the query cannot be run (until before since). The limit is capped at
// spi::kMaxHistoryPage.
spi::Status BuildExecutionHistory(SqlDialect dialect, const spi::ExecutionQuery& query,
                                  HistoryStatements* statements);
spi::Status BuildStatusHistory(SqlDialect dialect, const spi::StatusQuery& query,
                               HistoryStatements* statements);

// One row of a page, its columns as text (nullopt: NULL), in the order the page selects them.
using SqlRow = std::vector<std::optional<std::string>>;

// Values the event cannot hold (an unknown execution source or state, a time that does not
// parse) become the field's default: ElasticJob, sharing the tables, may have written rows this
// code never would.
spi::ExecutionEvent ExecutionFromRow(const SqlRow& row);
spi::StatusEvent StatusFromRow(const SqlRow& row);

// Epoch milliseconds of "YYYY-MM-DD HH:MM:SS[.fff...]" (or with 'T'), taken as UTC, as
// FormatUtcTimestamp writes it; also plain epoch milliseconds (a JDBC driver may store those).
// nullopt when it is neither.
std::optional<std::int64_t> ParseUtcTimestamp(std::string_view text);

// The two queries of a trace history over one way of running statements: what the SQLITE and
// POSTGRESQL histories share. A query builds its statements, runs them and turns the rows into
// events; an exception becomes Internal, and a failed query leaves an empty page.
class SqlTraceHistory : public spi::TraceHistory {
 public:
  // `name` ("SQLITE trace_history") prefixes the message of an unexpected exception.
  SqlTraceHistory(SqlDialect dialect, std::string name);

  spi::Status QueryExecutions(const spi::ExecutionQuery& query,
                              spi::ExecutionPage* page) noexcept final;
  spi::Status QueryStatus(const spi::StatusQuery& query, spi::StatusPage* page) noexcept final;

 protected:
  // Runs the count and the page; *rows stays empty and *total 0 when there is nothing to read
  // yet (no event was ever written).
  virtual spi::Status Run(const HistoryStatements& statements, std::vector<SqlRow>* rows,
                          std::uint64_t* total) = 0;

 private:
  template <typename Query, typename Page, typename Build, typename FromRow>
  spi::Status Answer(const Query& query, Page* page, Build build, FromRow from_row);

  const SqlDialect dialect_;
  const std::string name_;
};

}  // namespace shardjob::tracers::rdb
