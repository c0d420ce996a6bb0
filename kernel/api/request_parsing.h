#pragma once

// Strict readers for what arrives in a request's path, query and body. Each throws a
// RequestError (400) naming the parameter and what was expected.

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "api/request_error.h"

namespace shardjob::api {

// Digits only (no sign, no spaces, no "12abc"), at most `max`.
std::uint64_t ParseUnsigned(std::string_view text, std::string_view name, std::uint64_t max);

// "true" or "false".
bool ParseBool(std::string_view text, std::string_view name);

// Epoch milliseconds ("1763805605000") or RFC 3339 ("2025-11-22T10:00:05Z",
// "2025-11-22T10:00:05.250+01:00"); returns epoch milliseconds.
std::int64_t ParseTime(std::string_view text, std::string_view name);

// "2025-11-22T10:00:05Z", with ".250" when the milliseconds are not zero.
std::string FormatTime(std::int64_t epoch_ms);

// Refuses every query parameter not in `allowed`.
void CheckQueryKeys(const std::map<std::string, std::string>& query,
                    std::initializer_list<std::string_view> allowed);

// The body as JSON: nesting bounded (kMaxJsonDepth), the text well-formed UTF-8 JSON. An empty
// body is null.
inline constexpr int kMaxJsonDepth = 64;
nlohmann::json ParseJsonBody(const std::string& body);

// A job name or an instance id from the path: what can be one registry path segment.
const std::string& CheckJobName(const std::string& name);
const std::string& CheckInstanceId(const std::string& id);

}  // namespace shardjob::api
