#pragma once

// Reading back what a tracer stored: the execution and status-trace history that the HTTP API,
// `shardjob ctl history` and the console show. A tracer plugin that can be read registers a
// `trace_history` entry under the same type name as its `tracer` entry, built from the same
// props.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shardjob/spi/status.h"
#include "shardjob/spi/tracer.h"

namespace shardjob::spi {

// Every filter is optional (empty or nullopt: any). Times are epoch milliseconds, `since`
// inclusive and `until` exclusive (0: open). Results are newest first (start time for
// executions, creation time for status events), then by id, so that paging is stable.
struct ExecutionQuery {
  std::string job_name;
  std::string instance_id;
  std::string fire_id;
  std::optional<int> sharding_item;
  std::optional<bool> success;  // only finished executions match a value
  std::int64_t since_ms = 0;
  std::int64_t until_ms = 0;
  std::size_t offset = 0;
  std::size_t limit = 50;  // the kernel caps it at kMaxHistoryPage
};

struct StatusQuery {
  std::string job_name;
  std::string instance_id;  // the event's slave_id
  std::string fire_id;
  std::optional<TaskState> state;
  std::int64_t since_ms = 0;
  std::int64_t until_ms = 0;
  std::size_t offset = 0;
  std::size_t limit = 50;
};

inline constexpr std::size_t kMaxHistoryPage = 1000;

struct ExecutionPage {
  std::vector<ExecutionEvent> events;
  std::uint64_t total = 0;  // how many match the filters, over all pages
};

struct StatusPage {
  std::vector<StatusEvent> events;
  std::uint64_t total = 0;
};

// Unavailable when the store cannot be reached; InvalidArgument for a query it cannot run.
// Called from any thread; an implementation serialises its own access to its connection.
class TraceHistory {
 public:
  virtual ~TraceHistory();
  virtual Status QueryExecutions(const ExecutionQuery& query, ExecutionPage* page) noexcept = 0;
  virtual Status QueryStatus(const StatusQuery& query, StatusPage* page) noexcept = 0;
};

}  // namespace shardjob::spi
