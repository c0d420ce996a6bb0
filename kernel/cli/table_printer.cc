#include "cli/table_printer.h"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <regex>

namespace shardjob::cli {

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  for (std::string& cell : cells) {
    if (cell.empty()) cell.push_back('-');  // not `= "-"`: g++ 12 -O2 warns (-Wrestrict) on it
  }
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& out) const {
  std::vector<std::size_t> widths(headers_.size());
  for (std::size_t i = 0; i < headers_.size(); ++i) widths[i] = headers_[i].size();
  for (const auto& row : rows_) {
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  auto print_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      line += cells[i];
      if (i + 1 < cells.size()) line += std::string(widths[i] - cells[i].size() + 2, ' ');
    }
    out << line << "\n";
  };
  print_row(headers_);
  for (const auto& row : rows_) print_row(row);
}

std::string FormatLocalTime(std::int64_t epoch_ms) {
  if (epoch_ms == 0) return "-";
  std::int64_t seconds = epoch_ms / 1000;
  int millis = static_cast<int>(epoch_ms % 1000);
  if (millis < 0) {
    millis += 1000;
    --seconds;
  }
  time_t t = static_cast<time_t>(seconds);
  struct tm local;
  localtime_r(&t, &local);
  char date[32];
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &local);
  std::string text = date;
  if (millis != 0) {
    char fraction[8];
    std::snprintf(fraction, sizeof fraction, ".%03d", millis);
    text += fraction;
  }
  long offset = local.tm_gmtoff;
  if (offset == 0) return text + "Z";
  char zone[48];
  std::snprintf(zone, sizeof zone, "%c%02ld:%02ld", offset < 0 ? '-' : '+',
                std::labs(offset) / 3600, (std::labs(offset) % 3600) / 60);
  return text + zone;
}

std::string FormatDuration(std::int64_t ms) {
  char text[48];
  if (ms < 1000) {
    std::snprintf(text, sizeof text, "%lldms", static_cast<long long>(ms));
  } else if (ms < 60000) {
    std::snprintf(text, sizeof text, "%.1fs", static_cast<double>(ms) / 1000.0);
  } else if (ms < 3600000) {
    std::snprintf(text, sizeof text, "%lldm%02llds", static_cast<long long>(ms / 60000),
                  static_cast<long long>((ms / 1000) % 60));
  } else {
    std::snprintf(text, sizeof text, "%lldh%02lldm", static_cast<long long>(ms / 3600000),
                  static_cast<long long>((ms / 60000) % 60));
  }
  return text;
}

std::optional<std::int64_t> ParseTime(const std::string& text, std::int64_t now_ms) {
  std::smatch match;
  // Epoch milliseconds up to year 9999 (13 digits), amounts up to 10^9 units: no overflow.
  static const std::regex digits(R"(\d{10,13})");
  if (std::regex_match(text, digits)) return std::stoll(text);
  static const std::regex relative(R"((\d{1,9})(ms|s|m|h|d))");
  if (std::regex_match(text, match, relative)) {
    std::int64_t amount = std::stoll(match[1].str());
    const std::string unit = match[2].str();
    std::int64_t scale = unit == "ms"  ? 1
                         : unit == "s" ? 1000
                         : unit == "m" ? 60000
                         : unit == "h" ? 3600000
                                       : 86400000;
    return now_ms - amount * scale;
  }
  static const std::regex date_time(
      R"((\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)"
      R"((Z|z|[+-]\d{2}:?\d{2})?)");
  if (!std::regex_match(text, match, date_time)) return std::nullopt;
  struct tm fields = {};
  fields.tm_year = std::stoi(match[1].str()) - 1900;
  fields.tm_mon = std::stoi(match[2].str()) - 1;
  fields.tm_mday = std::stoi(match[3].str());
  fields.tm_hour = match[4].matched ? std::stoi(match[4].str()) : 0;
  fields.tm_min = match[5].matched ? std::stoi(match[5].str()) : 0;
  fields.tm_sec = match[6].matched ? std::stoi(match[6].str()) : 0;
  if (fields.tm_mon > 11 || fields.tm_mday < 1 || fields.tm_mday > 31 || fields.tm_hour > 23 ||
      fields.tm_min > 59 || fields.tm_sec > 60) {
    return std::nullopt;
  }
  if (match[8].matched && !match[4].matched) return std::nullopt;  // a zone needs a time
  std::int64_t millis = 0;
  if (match[7].matched) {
    std::string fraction = (match[7].str() + "00").substr(0, 3);
    millis = std::stoll(fraction);
  }
  std::int64_t seconds = 0;
  if (match[8].matched) {
    seconds = static_cast<std::int64_t>(timegm(&fields));
    std::string zone = match[8].str();
    if (zone != "Z" && zone != "z") {
      zone.erase(std::remove(zone.begin(), zone.end(), ':'), zone.end());
      int hours = std::stoi(zone.substr(1, 2));
      int minutes = std::stoi(zone.substr(3, 2));
      std::int64_t offset = (hours * 3600 + minutes * 60) * (zone[0] == '-' ? -1 : 1);
      seconds -= offset;
    }
  } else {
    fields.tm_isdst = -1;
    seconds = static_cast<std::int64_t>(mktime(&fields));
  }
  return seconds * 1000 + millis;
}

}  // namespace shardjob::cli
