#include "api/history_query.h"

#include <array>
#include <cctype>
#include <limits>

#include <nlohmann/json.hpp>

#include "api/request_parsing.h"

namespace shardjob::api {
namespace {

using nlohmann::json;

// Offsets beyond this are refused rather than handed to the store.
constexpr std::uint64_t kMaxOffset = 1'000'000'000;

const std::string* Find(const std::map<std::string, std::string>& query, const char* key) {
  auto found = query.find(key);
  return found == query.end() ? nullptr : &found->second;
}

template <typename Query>
void ParseCommon(const std::map<std::string, std::string>& query, Query* parsed) {
  if (const std::string* job = Find(query, "job"); job && !job->empty()) {
    parsed->job_name = CheckJobName(*job);
  }
  if (const std::string* instance = Find(query, "instance"); instance && !instance->empty()) {
    parsed->instance_id = CheckInstanceId(*instance);
  }
  if (const std::string* fire = Find(query, "fire")) {
    if (fire->size() > 255) throw Invalid("fire: longer than 255 characters");
    parsed->fire_id = *fire;
  }
  if (const std::string* since = Find(query, "since"))
    parsed->since_ms = ParseTime(*since, "since");
  if (const std::string* until = Find(query, "until"))
    parsed->until_ms = ParseTime(*until, "until");
  if (parsed->until_ms != 0 && parsed->since_ms > parsed->until_ms) {
    throw Invalid("since is after until");
  }
  if (const std::string* offset = Find(query, "offset")) {
    parsed->offset = static_cast<std::size_t>(ParseUnsigned(*offset, "offset", kMaxOffset));
  }
  if (const std::string* limit = Find(query, "limit")) {
    parsed->limit = static_cast<std::size_t>(ParseUnsigned(*limit, "limit", spi::kMaxHistoryPage));
  }
}

json TimeJson(std::int64_t ms) { return ms == 0 ? json(nullptr) : json(FormatTime(ms)); }

}  // namespace

spi::ExecutionQuery ParseExecutionQuery(const std::map<std::string, std::string>& query) {
  CheckQueryKeys(
      query, {"job", "instance", "fire", "item", "success", "since", "until", "offset", "limit"});
  spi::ExecutionQuery parsed;
  ParseCommon(query, &parsed);
  if (const std::string* item = Find(query, "item")) {
    parsed.sharding_item = static_cast<int>(
        ParseUnsigned(*item, "item", static_cast<std::uint64_t>(std::numeric_limits<int>::max())));
  }
  if (const std::string* success = Find(query, "success")) {
    parsed.success = ParseBool(*success, "success");
  }
  return parsed;
}

spi::StatusQuery ParseStatusQuery(const std::map<std::string, std::string>& query) {
  CheckQueryKeys(query, {"job", "instance", "fire", "state", "since", "until", "offset", "limit"});
  spi::StatusQuery parsed;
  ParseCommon(query, &parsed);
  if (const std::string* state = Find(query, "state")) parsed.state = ParseTaskState(*state);
  return parsed;
}

spi::TaskState ParseTaskState(const std::string& text) {
  static constexpr std::array<spi::TaskState, 5> kStates = {
      spi::TaskState::kStaging, spi::TaskState::kRunning, spi::TaskState::kFinished,
      spi::TaskState::kError, spi::TaskState::kDropped};
  std::string upper = text;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper.compare(0, 5, "TASK_") != 0) upper = "TASK_" + upper;
  std::string names;
  for (spi::TaskState state : kStates) {
    if (upper == spi::TaskStateName(state)) return state;
    names += (names.empty() ? "" : ", ") + std::string(spi::TaskStateName(state));
  }
  throw Invalid("state: expected one of " + names + ", got '" + text.substr(0, 64) + "'");
}

json ExecutionEventJson(const spi::ExecutionEvent& event) {
  return json{{"id", event.id},
              {"hostname", event.hostname},
              {"ip", event.ip},
              {"task_id", event.task_id},
              {"job_name", event.job_name},
              {"source", spi::ExecutionSourceName(event.source)},
              {"sharding_item", event.sharding_item},
              {"start_time_ms", event.start_time_ms},
              {"start_time", TimeJson(event.start_time_ms)},
              {"complete_time_ms", event.complete_time_ms},
              {"complete_time", TimeJson(event.complete_time_ms)},
              {"success", event.success},
              {"failure_cause", event.failure_cause},
              {"fire_id", event.fire_id},
              {"instance_id", event.instance_id},
              {"fencing_token", event.fencing_token},
              {"items_processed", event.items_processed}};
}

json StatusEventJson(const spi::StatusEvent& event) {
  return json{{"id", event.id},
              {"job_name", event.job_name},
              {"original_task_id", event.original_task_id},
              {"task_id", event.task_id},
              {"slave_id", event.slave_id},
              {"execution_type", event.execution_type},
              {"sharding_items", event.sharding_items},
              {"state", spi::TaskStateName(event.state)},
              {"message", event.message},
              {"creation_time_ms", event.creation_time_ms},
              {"creation_time", TimeJson(event.creation_time_ms)},
              {"fire_id", event.fire_id}};
}

json ExecutionPageJson(const spi::ExecutionQuery& query, const spi::ExecutionPage& page) {
  json events = json::array();
  for (const spi::ExecutionEvent& event : page.events) events.push_back(ExecutionEventJson(event));
  return json{{"total", page.total},
              {"offset", query.offset},
              {"limit", query.limit},
              {"events", std::move(events)}};
}

json StatusPageJson(const spi::StatusQuery& query, const spi::StatusPage& page) {
  json events = json::array();
  for (const spi::StatusEvent& event : page.events) events.push_back(StatusEventJson(event));
  return json{{"total", page.total},
              {"offset", query.offset},
              {"limit", query.limit},
              {"events", std::move(events)}};
}

}  // namespace shardjob::api
