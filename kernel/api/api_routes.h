#pragma once

// The JSON API under /api (docs/api.md): the operations of cluster_operations.h, the trace
// history, and what only this process knows (its plugins), with the endpoint's access rules.

#include <functional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "http/router.h"
#include "operations/cluster_operations.h"
#include "shardjob/spi/trace_history.h"

namespace shardjob::api {

// What only the serving process knows.
struct LocalInstance {
  std::string instance_id;
  // {"loaded": [{"kind", "type", "file", "abi"}], "refused": [{"file", "reason"}]}
  std::function<nlohmann::json()> plugins;
  // Looks for new libraries in the plugin dirs now; returns what plugins() returns afterwards.
  std::function<nlohmann::json()> rescan_plugins;
};

struct AccessRules {
  std::string token;          // http.token: when set, every /api call needs "Bearer <token>"
  bool loopback_only = true;  // the endpoint listens on loopback addresses only
};

// Adds every /api route. `operations` and `history` (null when no trace store is configured)
// must outlive the router.
void AddApiRoutes(http::Router& router, operations::ClusterOperations& operations,
                  spi::TraceHistory* history, LocalInstance local, AccessRules rules);

}  // namespace shardjob::api
