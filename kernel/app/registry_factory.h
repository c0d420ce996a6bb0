#pragma once

// Opens the registry a config names: the embedded store (one process) or a ZooKeeper ensemble.

#include <chrono>
#include <memory>
#include <string>

#include "config/config.h"
#include "registry/registry.h"

namespace shardjob::app {

struct OpenedRegistry {
  std::shared_ptr<void> backing;  // the embedded store, when there is one; outlives the session
  std::unique_ptr<registry::Registry> session;
  std::string root;  // "/<namespace>": every path the kernel uses starts with it
  std::chrono::milliseconds session_timeout{0};
};

// Throws std::runtime_error naming the config file and the servers when it cannot connect.
OpenedRegistry OpenRegistry(const config::Config& config);

}  // namespace shardjob::app
