#pragma once

// The process-wide nodes an instance keeps and the requests operators leave for it
// (cluster_operations.h): shared by the instance that obeys and the operations that ask.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shardjob::operations {

// /<ns>/instances/<id>: ephemeral, the process's ProcessInfo.
std::string ProcessNodePath(const std::string& root, const std::string& instance_id);
// /<ns>/commands/<id>: persistent, the folder of requests to the process.
std::string CommandsPath(const std::string& root, const std::string& instance_id);

struct ProcessInfo {
  std::string id;
  std::string host;
  std::string ip;
  std::int64_t pid = 0;
  std::vector<std::string> labels;
  std::string version;
  std::string http;  // "127.0.0.1:8899", or "" without an endpoint
  std::int64_t started_ms = 0;
};

std::string FormatProcessInfo(const ProcessInfo& info);
// Tolerates missing or mistyped fields (another writer's data): they stay empty.
ProcessInfo ParseProcessInfo(const std::string& id, const std::string& data);

struct InstanceCommand {
  enum class Op { kShutdown, kShutdownJob };
  Op op = Op::kShutdown;
  std::string job;  // for kShutdownJob
};

// {"op": "shutdown"} or {"op": "shutdown_job", "job": J}
std::string FormatCommand(const InstanceCommand& command);
// nullopt for anything else; the instance logs it and deletes it.
std::optional<InstanceCommand> ParseCommand(const std::string& data);

}  // namespace shardjob::operations
