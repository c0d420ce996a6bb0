#include "tracers/log/log_tracer.h"

#include <cstdint>
#include <cstdio>
#include <string_view>
#include <utility>
#include <variant>

namespace shardjob::tracers {
namespace {

bool NeedsQuotes(std::string_view value) {
  if (value.empty()) return true;
  for (unsigned char c : value) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7F) return true;
  }
  return false;
}

class LineBuilder {
 public:
  explicit LineBuilder(const char* event) : line_(event) {}

  LineBuilder& Add(const char* key, std::string_view value) {
    line_ += ' ';
    line_ += key;
    line_ += '=';
    if (!NeedsQuotes(value)) {
      line_.append(value);
      return *this;
    }
    line_ += '"';
    for (unsigned char c : value) {
      switch (c) {
        case '"':
          line_ += "\\\"";
          break;
        case '\\':
          line_ += "\\\\";
          break;
        case '\n':
          line_ += "\\n";
          break;
        case '\r':
          line_ += "\\r";
          break;
        case '\t':
          line_ += "\\t";
          break;
        default:
          if (c < 0x20 || c == 0x7F) {
            char escaped[8];
            std::snprintf(escaped, sizeof(escaped), "\\x%02x", c);
            line_ += escaped;
          } else {
            line_ += static_cast<char>(c);
          }
      }
    }
    line_ += '"';
    return *this;
  }
  LineBuilder& Add(const char* key, std::int64_t value) { return Add(key, std::to_string(value)); }
  LineBuilder& Add(const char* key, bool value) { return Add(key, value ? "true" : "false"); }
  // const char* would otherwise pick the bool overload.
  LineBuilder& Add(const char* key, const char* value) { return Add(key, std::string_view(value)); }

  std::string Take() { return std::move(line_); }

 private:
  std::string line_;
};

}  // namespace

std::string LogTracer::Format(const spi::ExecutionEvent& event) {
  LineBuilder line("JobExecutionEvent");
  line.Add("id", event.id)
      .Add("hostname", event.hostname)
      .Add("ip", event.ip)
      .Add("taskId", event.task_id)
      .Add("jobName", event.job_name)
      .Add("source", spi::ExecutionSourceName(event.source))
      .Add("shardingItem", std::int64_t{event.sharding_item})
      .Add("startTime", event.start_time_ms);
  if (event.complete_time_ms == 0) {
    line.Add("completeTime", "null");
  } else {
    line.Add("completeTime", event.complete_time_ms);
  }
  line.Add("success", event.success)
      .Add("failureCause", event.failure_cause)
      .Add("fireId", event.fire_id)
      .Add("instanceId", event.instance_id)
      .Add("fencingToken", event.fencing_token)
      .Add("itemsProcessed", static_cast<std::int64_t>(event.items_processed));
  return line.Take();
}

std::string LogTracer::Format(const spi::StatusEvent& event) {
  LineBuilder line("JobStatusTraceEvent");
  line.Add("id", event.id)
      .Add("jobName", event.job_name)
      .Add("originalTaskId", event.original_task_id)
      .Add("taskId", event.task_id)
      .Add("slaveId", event.slave_id)
      .Add("executionType", event.execution_type)
      .Add("shardingItems", event.sharding_items)
      .Add("state", spi::TaskStateName(event.state))
      .Add("message", event.message)
      .Add("creationTime", event.creation_time_ms)
      .Add("fireId", event.fire_id);
  return line.Take();
}

spi::Status LogTracer::Write(const std::vector<spi::TraceEvent>& events) noexcept {
  return spi::CatchAsStatus("LOG tracer", [&] {
    for (const spi::TraceEvent& event : events) {
      logger_.Log(spi::LogLevel::kInfo, std::visit([](const auto& e) { return Format(e); }, event));
    }
  });
}

}  // namespace shardjob::tracers
