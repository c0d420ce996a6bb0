#include "plugins/error-handlers/common/alert_text.h"

#include <time.h>

#include <cstdio>

namespace shardjob::error_handlers {

std::string FormatIsoUtc(std::chrono::system_clock::time_point time) {
  std::int64_t millis = EpochMillis(time);
  // Floor division, so instants before 1970 still get a millisecond part in [0, 999].
  std::int64_t seconds = millis / 1000 - (millis % 1000 < 0 ? 1 : 0);
  int milli_part = static_cast<int>(millis - seconds * 1000);
  time_t as_time_t = static_cast<time_t>(seconds);
  struct tm utc {};
  gmtime_r(&as_time_t, &utc);
  char text[96];  // room for any int the compiler imagines, not just 4-digit years
  std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, milli_part);
  return text;
}

std::int64_t EpochMillis(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

std::string AlertLabel(const spi::JobError& error) {
  std::string label;
  if (!error.fire_id.empty()) label += "fire=" + error.fire_id;
  if (error.sharding_item >= 0) {
    if (!label.empty()) label += ' ';
    label += "shard=" + std::to_string(error.sharding_item);
  }
  return label.empty() ? "(not about one fire)" : label;
}

std::string AlertText(const Alert& alert) {
  const spi::JobError& error = alert.error;
  std::string text = "Job '" + error.job_name + "' exception occur in job processing, caused by " +
                     error.message + "\n";
  if (!error.fire_id.empty()) text += "fire: " + error.fire_id + ", ";
  if (error.sharding_item >= 0) text += "shard: " + std::to_string(error.sharding_item) + ", ";
  text += "instance: " + error.instance_id + ", time: " + FormatIsoUtc(alert.time);
  return text;
}

}  // namespace shardjob::error_handlers
