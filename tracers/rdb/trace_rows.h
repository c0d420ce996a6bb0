#pragma once

// How a trace event becomes the parameters of the statement that stores it (trace_tables.h).
// Both tracers bind every value as text and let the database convert it to the column's type:
// integers in decimal, is_success as 1 or 0 (which both INTEGER and PostgreSQL's BOOLEAN take),
// times as 'YYYY-MM-DD HH:MM:SS.mmm' in UTC.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardjob/spi/tracer.h"
#include "tracers/rdb/trace_tables.h"

namespace shardjob::tracers::rdb {

struct TraceRow {
  RowStatement statement = RowStatement::kInsertStatus;
  // One per column of the statement's table, in column order; nullopt is NULL. Text is valid
  // UTF-8 (without NUL) and no longer than its column.
  std::vector<std::optional<std::string>> values;
};

// A start (complete_time_ms == 0) becomes kInsertExecution with complete_time and failure_cause
// NULL and is_success 0; a completion becomes kUpsertExecution. An empty failure_cause is NULL,
// as ElasticJob leaves it for a success.
TraceRow ToRow(const spi::ExecutionEvent& event);
TraceRow ToRow(const spi::StatusEvent& event);
TraceRow ToRow(const spi::TraceEvent& event);

// At most `max_chars` characters of valid UTF-8: each byte that does not start a well-formed
// sequence, and each NUL, becomes U+FFFD (PostgreSQL refuses both in text), then the rest is cut.
// A script's output in a failure cause may be anything.
std::string FitText(std::string_view text, std::size_t max_chars);

// "2024-03-01 12:00:00.250": UTC, milliseconds.
std::string FormatUtcTimestamp(std::int64_t epoch_ms);

}  // namespace shardjob::tracers::rdb
