#include "tracers/rdb/trace_history_sql.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <utility>

#include "shardjob/spi/plugin.h"
#include "tracers/rdb/trace_rows.h"

namespace shardjob::tracers::rdb {
namespace {

// Builds one WHERE clause and its parameters.
class Where {
 public:
  Where(SqlDialect dialect, const Table& table) : dialect_(dialect), table_(table) {}

  // `column = <text>`, the text fitted to the column as the tracer fits what it stores.
  void Text(const char* column, const std::string& value) {
    if (value.empty()) return;
    Add(std::string(column) + " = ", SqlParam{FitText(value, WidthOf(column)), false});
  }
  void Integer(const char* column, std::int64_t value) {
    Add(std::string(column) + " = ", SqlParam{std::to_string(value), true});
  }
  void Condition(std::string condition) { conditions_.push_back(std::move(condition)); }
  // since inclusive, until exclusive; 0 is open.
  void TimeRange(const char* column, std::int64_t since_ms, std::int64_t until_ms) {
    if (since_ms != 0) {
      Add(std::string(column) + " >= ", SqlParam{FormatUtcTimestamp(since_ms), false});
    }
    if (until_ms != 0) {
      Add(std::string(column) + " < ", SqlParam{FormatUtcTimestamp(until_ms), false});
    }
  }

  std::string Placeholder(std::size_t index) const {
    // SQLite reads "$1" as a parameter *named* "$1"; "?1" is its numbered form.
    return (dialect_ == SqlDialect::kSqlite ? "?" : "$") + std::to_string(index + 1);
  }

  std::string Sql() const {
    std::string sql;
    for (const std::string& condition : conditions_) {
      sql += sql.empty() ? " WHERE " : " AND ";
      sql += condition;
    }
    return sql;
  }
  const std::vector<SqlParam>& params() const { return params_; }

 private:
  void Add(std::string condition_head, SqlParam param) {
    conditions_.push_back(std::move(condition_head) + Placeholder(params_.size()));
    params_.push_back(std::move(param));
  }

  std::size_t WidthOf(const char* column) const {
    for (const Column& c : table_.columns) {
      if (std::string_view(c.name) == column && c.max_chars > 0) return c.max_chars;
    }
    return std::numeric_limits<std::size_t>::max() / 8;
  }

  SqlDialect dialect_;
  const Table& table_;
  std::vector<std::string> conditions_;
  std::vector<SqlParam> params_;
};

// A time column as text that ParseUtcTimestamp reads: SQLite holds the text the tracer wrote,
// PostgreSQL a TIMESTAMP, formatted the same way.
std::string TimeColumn(SqlDialect dialect, const char* column) {
  if (dialect == SqlDialect::kSqlite) return column;
  return std::string("to_char(") + column + ", 'YYYY-MM-DD HH24:MI:SS.MS')";
}

std::string Joined(const std::vector<std::string>& items) {
  std::string joined;
  for (const std::string& item : items) {
    if (!joined.empty()) joined += ", ";
    joined += item;
  }
  return joined;
}

spi::Status CheckRange(std::int64_t since_ms, std::int64_t until_ms) {
  if (since_ms != 0 && until_ms != 0 && until_ms < since_ms) {
    return spi::Status::InvalidArgument("until (" + std::to_string(until_ms) +
                                        ") is before since (" + std::to_string(since_ms) + ")");
  }
  return spi::Status::Ok();
}

void Finish(const Where& where, const Table& table, const std::string& columns,
            const std::string& order, std::size_t offset, std::size_t limit,
            HistoryStatements* statements) {
  const std::string from = std::string(" FROM ") + table.name + where.Sql();
  statements->count_sql = "SELECT COUNT(*)" + from;
  statements->count_params = where.params();
  statements->page_sql.clear();
  statements->page_params.clear();
  limit = std::min(limit, spi::kMaxHistoryPage);
  if (limit == 0) return;
  const std::size_t count = where.params().size();
  statements->page_sql = "SELECT " + columns + from + " ORDER BY " + order + " LIMIT " +
                         where.Placeholder(count) + " OFFSET " + where.Placeholder(count + 1);
  statements->page_params = where.params();
  const auto max_offset = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  statements->page_params.push_back(SqlParam{std::to_string(limit), true});
  statements->page_params.push_back(SqlParam{std::to_string(std::min(offset, max_offset)), true});
}

template <typename Int>
Int ToInt(const std::optional<std::string>& text) {
  Int value = 0;
  if (!text) return value;
  const char* begin = text->data();
  const char* end = begin + text->size();
  while (begin != end && *begin == ' ') ++begin;  // SQLite's CHARACTER(n) keeps what it gets
  std::from_chars(begin, end, value);
  return value;
}

std::string ToText(const std::optional<std::string>& text) { return text.value_or(""); }

std::int64_t ToTime(const std::optional<std::string>& text) {
  if (!text) return 0;
  return ParseUtcTimestamp(*text).value_or(0);
}

bool ToBool(const std::optional<std::string>& text) {
  if (!text) return false;
  return *text == "1" || *text == "t" || *text == "true" || *text == "TRUE";
}

spi::ExecutionSource ToSource(const std::optional<std::string>& text) {
  for (spi::ExecutionSource source :
       {spi::ExecutionSource::kNormalTrigger, spi::ExecutionSource::kMisfire,
        spi::ExecutionSource::kFailover, spi::ExecutionSource::kManualTrigger}) {
    if (text && *text == spi::ExecutionSourceName(source)) return source;
  }
  return spi::ExecutionSource::kNormalTrigger;
}

// ElasticJob's own states that shardjob lacks (TASK_KILLED, TASK_LOST, TASK_FAILED, ...) read as
// an error.
spi::TaskState ToState(const std::optional<std::string>& text) {
  for (spi::TaskState state :
       {spi::TaskState::kStaging, spi::TaskState::kRunning, spi::TaskState::kFinished,
        spi::TaskState::kError, spi::TaskState::kDropped}) {
    if (text && *text == spi::TaskStateName(state)) return state;
  }
  return spi::TaskState::kError;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// Reads exactly `width` digits at text[*at].
bool Digits(std::string_view text, std::size_t* at, std::size_t width, int* value) {
  if (*at + width > text.size()) return false;
  int result = 0;
  for (std::size_t i = 0; i < width; ++i) {
    const char c = text[*at + i];
    if (c < '0' || c > '9') return false;
    result = result * 10 + (c - '0');
  }
  *at += width;
  *value = result;
  return true;
}

bool Expect(std::string_view text, std::size_t* at, char c) {
  if (*at >= text.size() || text[*at] != c) return false;
  ++*at;
  return true;
}

}  // namespace

spi::Status BuildExecutionHistory(SqlDialect dialect, const spi::ExecutionQuery& query,
                                  HistoryStatements* statements) {
  if (spi::Status status = CheckRange(query.since_ms, query.until_ms); !status.ok()) {
    return status;
  }
  const Table& table = ExecutionLogTable();
  Where where(dialect, table);
  where.Text("job_name", query.job_name);
  where.Text("instance_id", query.instance_id);
  where.Text("fire_id", query.fire_id);
  if (query.sharding_item) where.Integer("sharding_item", *query.sharding_item);
  if (query.success) {
    where.Condition("complete_time IS NOT NULL");
    where.Integer("is_success", *query.success ? 1 : 0);
  }
  where.TimeRange("start_time", query.since_ms, query.until_ms);
  const std::string columns =
      Joined({"id", "hostname", "ip", "task_id", "job_name", "execution_source", "sharding_item",
              TimeColumn(dialect, "start_time"), TimeColumn(dialect, "complete_time"), "is_success",
              "failure_cause", "fire_id", "instance_id", "fencing_token", "items_processed"});
  Finish(where, table, columns, "start_time DESC NULLS LAST, id DESC", query.offset, query.limit,
         statements);
  return spi::Status::Ok();
}

spi::Status BuildStatusHistory(SqlDialect dialect, const spi::StatusQuery& query,
                               HistoryStatements* statements) {
  if (spi::Status status = CheckRange(query.since_ms, query.until_ms); !status.ok()) {
    return status;
  }
  const Table& table = StatusTraceLogTable();
  Where where(dialect, table);
  where.Text("job_name", query.job_name);
  where.Text("slave_id", query.instance_id);
  where.Text("fire_id", query.fire_id);
  if (query.state) where.Text("state", spi::TaskStateName(*query.state));
  where.TimeRange("creation_time", query.since_ms, query.until_ms);
  const std::string columns = Joined({"id", "job_name", "original_task_id", "task_id", "slave_id",
                                      "execution_type", "sharding_item", "state", "message",
                                      TimeColumn(dialect, "creation_time"), "fire_id"});
  Finish(where, table, columns, "creation_time DESC NULLS LAST, id DESC", query.offset, query.limit,
         statements);
  return spi::Status::Ok();
}

spi::ExecutionEvent ExecutionFromRow(const SqlRow& row) {
  spi::ExecutionEvent event;
  if (row.size() < 15) return event;
  event.id = ToText(row[0]);
  event.hostname = ToText(row[1]);
  event.ip = ToText(row[2]);
  event.task_id = ToText(row[3]);
  event.job_name = ToText(row[4]);
  event.source = ToSource(row[5]);
  event.sharding_item = ToInt<int>(row[6]);
  event.start_time_ms = ToTime(row[7]);
  event.complete_time_ms = ToTime(row[8]);
  event.success = ToBool(row[9]);
  event.failure_cause = ToText(row[10]);
  event.fire_id = ToText(row[11]);
  event.instance_id = ToText(row[12]);
  event.fencing_token = ToInt<std::int64_t>(row[13]);
  event.items_processed = ToInt<std::uint64_t>(row[14]);
  return event;
}

spi::StatusEvent StatusFromRow(const SqlRow& row) {
  spi::StatusEvent event;
  if (row.size() < 11) return event;
  event.id = ToText(row[0]);
  event.job_name = ToText(row[1]);
  event.original_task_id = ToText(row[2]);
  event.task_id = ToText(row[3]);
  event.slave_id = ToText(row[4]);
  event.execution_type = ToText(row[5]);
  event.sharding_items = ToText(row[6]);
  event.state = ToState(row[7]);
  event.message = ToText(row[8]);
  event.creation_time_ms = ToTime(row[9]);
  event.fire_id = ToText(row[10]);
  return event;
}

std::optional<std::int64_t> ParseUtcTimestamp(std::string_view text) {
  if (text.empty()) return std::nullopt;
  // Plain epoch milliseconds.
  if (text.find_first_not_of("-0123456789") == std::string_view::npos) {
    std::int64_t ms = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return ms;
  }
  std::size_t at = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!Digits(text, &at, 4, &year) || !Expect(text, &at, '-') || !Digits(text, &at, 2, &month) ||
      !Expect(text, &at, '-') || !Digits(text, &at, 2, &day)) {
    return std::nullopt;
  }
  if (at >= text.size() || (text[at] != ' ' && text[at] != 'T')) return std::nullopt;
  ++at;
  if (!Digits(text, &at, 2, &hour) || !Expect(text, &at, ':') || !Digits(text, &at, 2, &minute) ||
      !Expect(text, &at, ':') || !Digits(text, &at, 2, &second)) {
    return std::nullopt;
  }
  int millis = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    int scale = 100;
    std::size_t digits = 0;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      millis += (text[at] - '0') * scale;  // beyond milliseconds, scale is 0
      scale /= 10;
      ++at;
      ++digits;
    }
    if (digits == 0) return std::nullopt;
  }
  if (at < text.size() && text[at] == 'Z') ++at;
  if (at != text.size()) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  const std::int64_t days =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return ((days * 24 + hour) * 60 + minute) * 60000 + second * 1000 + millis;
}

SqlTraceHistory::SqlTraceHistory(SqlDialect dialect, std::string name)
    : dialect_(dialect), name_(std::move(name)) {}

template <typename Query, typename Page, typename Build, typename FromRow>
spi::Status SqlTraceHistory::Answer(const Query& query, Page* page, Build build, FromRow from_row) {
  *page = Page{};
  spi::Status status;
  spi::Status thrown = spi::CatchAsStatus(name_.c_str(), [&] {
    HistoryStatements statements;
    status = build(dialect_, query, &statements);
    if (!status.ok()) return;
    std::vector<SqlRow> rows;
    status = Run(statements, &rows, &page->total);
    if (!status.ok()) return;
    page->events.reserve(rows.size());
    for (const SqlRow& row : rows) page->events.push_back(from_row(row));
  });
  if (!thrown.ok()) status = thrown;
  if (!status.ok()) *page = Page{};
  return status;
}

spi::Status SqlTraceHistory::QueryExecutions(const spi::ExecutionQuery& query,
                                             spi::ExecutionPage* page) noexcept {
  return Answer(query, page, &BuildExecutionHistory, &ExecutionFromRow);
}

spi::Status SqlTraceHistory::QueryStatus(const spi::StatusQuery& query,
                                         spi::StatusPage* page) noexcept {
  return Answer(query, page, &BuildStatusHistory, &StatusFromRow);
}

}  // namespace shardjob::tracers::rdb
