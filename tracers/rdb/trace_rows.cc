#include "tracers/rdb/trace_rows.h"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <utility>
#include <variant>

namespace shardjob::tracers::rdb {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// The length of the well-formed UTF-8 sequence at text[i] (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF), or 0 if there is none.
std::size_t SequenceLength(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char lead = byte(0);
  if (lead == 0) return 0;
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(1) < low || byte(1) > high) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    if (byte(k) < 0x80 || byte(k) > 0xBF) return 0;
  }
  return length;
}

std::optional<std::string> TimeOrNull(std::int64_t epoch_ms) {
  if (epoch_ms == 0) return std::nullopt;
  return FormatUtcTimestamp(epoch_ms);
}

std::optional<std::string> TextOrNull(const std::string& text) {
  if (text.empty()) return std::nullopt;
  return text;
}

// Cuts every text value to its column.
TraceRow Fitted(RowStatement statement, const Table& table,
                std::vector<std::optional<std::string>> values) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::size_t max_chars = table.columns[i].max_chars;
    if (values[i] && max_chars > 0) values[i] = FitText(*values[i], max_chars);
  }
  return TraceRow{statement, std::move(values)};
}

}  // namespace

std::string FitText(std::string_view text, std::size_t max_chars) {
  std::string fitted;
  fitted.reserve(std::min(text.size(), max_chars * 4));
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size() && chars < max_chars; ++chars) {
    const std::size_t length = SequenceLength(text, i);
    if (length == 0) {
      fitted += kReplacement;
      ++i;
    } else {
      fitted.append(text, i, length);
      i += length;
    }
  }
  return fitted;
}

std::string FormatUtcTimestamp(std::int64_t epoch_ms) {
  // Floor division, so that times before 1970 keep a millisecond part in 0..999.
  std::int64_t seconds = epoch_ms / 1000;
  std::int64_t millis = epoch_ms % 1000;
  if (millis < 0) {
    millis += 1000;
    --seconds;
  }
  const time_t whole = static_cast<time_t>(seconds);
  tm utc{};
  gmtime_r(&whole, &utc);
  char text[40];
  std::snprintf(text, sizeof(text), "%04d-%02d-%02d %02d:%02d:%02d.%03d", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis));
  return text;
}

TraceRow ToRow(const spi::ExecutionEvent& event) {
  const bool complete = event.complete_time_ms != 0;
  return Fitted(complete ? RowStatement::kUpsertExecution : RowStatement::kInsertExecution,
                ExecutionLogTable(),
                {
                    event.id,
                    event.job_name,
                    event.task_id,
                    event.hostname,
                    event.ip,
                    std::to_string(event.sharding_item),
                    spi::ExecutionSourceName(event.source),
                    complete ? TextOrNull(event.failure_cause) : std::nullopt,
                    complete && event.success ? "1" : "0",
                    TimeOrNull(event.start_time_ms),
                    TimeOrNull(event.complete_time_ms),
                    event.fire_id,
                    event.instance_id,
                    std::to_string(event.fencing_token),
                    std::to_string(event.items_processed),
                });
}

TraceRow ToRow(const spi::StatusEvent& event) {
  return Fitted(RowStatement::kInsertStatus, StatusTraceLogTable(),
                {
                    event.id,
                    event.job_name,
                    event.original_task_id,
                    event.task_id,
                    event.slave_id,
                    event.execution_type,
                    event.sharding_items,
                    spi::TaskStateName(event.state),
                    event.message,
                    TimeOrNull(event.creation_time_ms),
                    event.fire_id,
                });
}

TraceRow ToRow(const spi::TraceEvent& event) {
  return std::visit([](const auto& e) { return ToRow(e); }, event);
}

}  // namespace shardjob::tracers::rdb
