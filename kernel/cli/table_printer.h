#pragma once

// Human output of `shardjob ctl`: aligned tables with a header row, and times in local RFC 3339.

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace shardjob::cli {

// Columns are as wide as their widest cell, two spaces apart; the last column is not padded.
// An empty cell prints as "-".
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  void AddRow(std::vector<std::string> cells);
  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// "2026-11-22T11:00:05.123+01:00" in the local time zone (TZ); milliseconds only when not zero.
// "-" for 0.
std::string FormatLocalTime(std::int64_t epoch_ms);

// "1.5s", "250ms", "3m12s", "2h05m".
std::string FormatDuration(std::int64_t ms);

// Reads a time given on the command line, as epoch milliseconds:
//   1763800000000                epoch milliseconds (digits only)
//   2026-11-22T10:00:00Z         RFC 3339, with Z or an offset (+01:00); without one, local time;
//                                fractional seconds allowed; a space may replace the T
//   2026-11-22                   local midnight
//   90s, 15m, 2h, 7d             that long before `now_ms`
// nullopt when it is none of these.
std::optional<std::int64_t> ParseTime(const std::string& text, std::int64_t now_ms);

}  // namespace shardjob::cli
