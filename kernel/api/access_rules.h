#pragma once

// Who may call the API (docs/api.md, "Access"): the bearer token, the network rule, and the
// cross-site defences for a tokenless endpoint on loopback.

#include <optional>

#include "api/api_routes.h"
#include "http/http_types.h"

namespace shardjob::api {

// GET and HEAD read; every other method changes something.
bool IsMutating(const http::Request& request);

// Nullopt when `request` may proceed; else the refusal to answer (401, 403 or 415).
std::optional<http::Response> CheckAccess(const AccessRules& rules, const http::Request& request);

// Compares without an early exit, so that the time taken says nothing of where they differ.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

}  // namespace shardjob::api
