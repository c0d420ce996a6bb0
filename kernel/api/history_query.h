#pragma once

// The trace history's queries from a request's query string, and its pages as JSON.
//
//   /api/history/executions?job=&instance=&fire=&item=&success=&since=&until=&offset=&limit=
//   /api/history/status?job=&instance=&fire=&state=&since=&until=&offset=&limit=
//
// since/until take epoch milliseconds or RFC 3339; limit is 0..kMaxHistoryPage (default 50).
// Anything else, or a value that does not parse, is a RequestError (400).

#include <map>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "shardjob/spi/trace_history.h"

namespace shardjob::api {

spi::ExecutionQuery ParseExecutionQuery(const std::map<std::string, std::string>& query);
spi::StatusQuery ParseStatusQuery(const std::map<std::string, std::string>& query);

// "TASK_RUNNING", or without its prefix ("running"), in any case.
spi::TaskState ParseTaskState(const std::string& text);

// Every field in snake_case; times as "<name>_ms" and as RFC 3339 "<name>" (null when 0).
nlohmann::json ExecutionEventJson(const spi::ExecutionEvent& event);
nlohmann::json StatusEventJson(const spi::StatusEvent& event);

// {"total", "offset", "limit", "events": [...]}
nlohmann::json ExecutionPageJson(const spi::ExecutionQuery& query, const spi::ExecutionPage& page);
nlohmann::json StatusPageJson(const spi::StatusQuery& query, const spi::StatusPage& page);

}  // namespace shardjob::api
