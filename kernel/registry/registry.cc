#include "registry/registry.h"

#include <utility>

namespace shardjob::registry {

Registry::~Registry() = default;

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kNoNode:
      return "no node";
    case Code::kNodeExists:
      return "node exists";
    case Code::kBadVersion:
      return "bad version";
    case Code::kNotEmpty:
      return "not empty";
    case Code::kNoChildrenForEphemerals:
      return "no children for ephemerals";
    case Code::kBadArguments:
      return "bad arguments";
    case Code::kNoAuth:
      return "not authorised (ACL)";
    case Code::kConnectionLoss:
      return "connection loss";
    case Code::kSessionExpired:
      return "session expired";
    case Code::kClosed:
      return "closed";
  }
  return "unknown";
}

const char* SessionStateName(SessionState state) {
  switch (state) {
    case SessionState::kConnecting:
      return "connecting";
    case SessionState::kConnected:
      return "connected";
    case SessionState::kExpired:
      return "expired";
    case SessionState::kClosed:
      return "closed";
  }
  return "unknown";
}

Op Op::Create(std::string path, std::string data, NodeMode mode) {
  Op op;
  op.type = Type::kCreate;
  op.path = std::move(path);
  op.data = std::move(data);
  op.mode = mode;
  return op;
}

Op Op::Delete(std::string path, std::int32_t version) {
  Op op;
  op.type = Type::kDelete;
  op.path = std::move(path);
  op.version = version;
  return op;
}

Op Op::SetData(std::string path, std::string data, std::int32_t version) {
  Op op;
  op.type = Type::kSetData;
  op.path = std::move(path);
  op.data = std::move(data);
  op.version = version;
  return op;
}

Op Op::Check(std::string path, std::int32_t version) {
  Op op;
  op.type = Type::kCheck;
  op.path = std::move(path);
  op.version = version;
  return op;
}

Code EnsurePath(Registry& registry, const std::string& path) {
  if (path.empty() || path[0] != '/') return Code::kBadArguments;
  Code exists = registry.Exists(path, nullptr, nullptr);
  if (exists != Code::kNoNode) return exists;
  std::size_t next = 0;
  while (next != std::string::npos) {
    next = path.find('/', next + 1);
    std::string prefix = path.substr(0, next);
    Code code = registry.Create(prefix, "", NodeMode::kPersistent, nullptr);
    if (code != Code::kOk && code != Code::kNodeExists) return code;
  }
  return Code::kOk;
}

Code DeleteTree(Registry& registry, const std::string& path, std::size_t max_nodes) {
  // Listed first, parents before children, then deleted in reverse: children before parents.
  std::vector<std::string> nodes{path};
  for (std::size_t next = 0; next < nodes.size(); ++next) {
    std::vector<std::string> children;
    Code code = registry.GetChildren(nodes[next], &children, nullptr);
    if (code == Code::kNoNode) continue;
    if (code != Code::kOk) return code;
    for (const std::string& child : children) {
      if (nodes.size() >= max_nodes) return Code::kBadArguments;
      nodes.push_back(nodes[next] + "/" + child);
    }
  }
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    Code code = registry.Delete(*it, kAnyVersion);
    if (code != Code::kOk && code != Code::kNoNode) return code;
  }
  return Code::kOk;
}

}  // namespace shardjob::registry
