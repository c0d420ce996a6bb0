#pragma once

// The coordination store, shaped after ZooKeeper's data model so that the ZooKeeper client and the
// embedded, in-process store are interchangeable: a tree of nodes with data and versions,
// ephemeral nodes tied to a session, sequential names, atomic multi-operations and one-shot
// watches. Each Registry object is one session.
//
// Calls return a Code, as ZooKeeper's do: kNoNode, kNodeExists and kBadVersion are ordinary,
// expected outcomes that callers branch on; kConnectionLoss means the outcome is unknown.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace shardjob::registry {

enum class Code {
  kOk,
  kNoNode,
  kNodeExists,
  kBadVersion,
  kNotEmpty,                 // delete of a node that has children
  kNoChildrenForEphemerals,  // create under an ephemeral node
  kBadArguments,             // malformed path
  kNoAuth,                   // refused by the node's ACL: this session's identity may not do it
  kConnectionLoss,           // outcome unknown; the session may still be alive
  kSessionExpired,           // the session is gone, and with it its ephemeral nodes
  kClosed,                   // the Registry object was closed
};
const char* CodeName(Code code);

// Any version, for Set, Delete and Check.
inline constexpr std::int32_t kAnyVersion = -1;

struct Stat {
  std::int64_t czxid = 0;  // the transaction that created the node; never reused
  std::int64_t mzxid = 0;  // the transaction that last changed its data
  std::int64_t ctime_ms = 0;
  std::int64_t mtime_ms = 0;
  std::int32_t version = 0;  // data version, +1 per Set
  std::int32_t cversion = 0;
  std::int64_t ephemeral_owner = 0;  // session id, 0 for persistent nodes
  std::int32_t num_children = 0;
};

enum class NodeMode { kPersistent, kEphemeral, kPersistentSequential, kEphemeralSequential };

enum class SessionState { kConnecting, kConnected, kExpired, kClosed };
const char* SessionStateName(SessionState state);

enum class EventType { kCreated, kDeleted, kDataChanged, kChildrenChanged };

struct WatchEvent {
  EventType type;
  std::string path;
};

// One-shot: called once, on the registry's event thread, for the first change after it was set.
// It must not block; re-arm by reading again.
using Watcher = std::function<void(const WatchEvent&)>;
using SessionListener = std::function<void(SessionState)>;

struct Op {
  enum class Type { kCreate, kDelete, kSetData, kCheck };
  Type type = Type::kCheck;
  std::string path;
  std::string data;
  NodeMode mode = NodeMode::kPersistent;
  std::int32_t version = kAnyVersion;

  static Op Create(std::string path, std::string data, NodeMode mode = NodeMode::kPersistent);
  static Op Delete(std::string path, std::int32_t version = kAnyVersion);
  static Op SetData(std::string path, std::string data, std::int32_t version = kAnyVersion);
  static Op Check(std::string path, std::int32_t version);
};

struct OpResult {
  Code code = Code::kOk;
  std::string created_path;  // for kCreate
  Stat stat;                 // for kSetData
};

class Registry {
 public:
  virtual ~Registry();

  virtual Code Create(const std::string& path, const std::string& data, NodeMode mode,
                      std::string* created_path) = 0;
  virtual Code Delete(const std::string& path, std::int32_t version) = 0;
  virtual Code Exists(const std::string& path, Stat* stat, Watcher watcher) = 0;
  virtual Code Get(const std::string& path, std::string* data, Stat* stat, Watcher watcher) = 0;
  virtual Code Set(const std::string& path, const std::string& data, std::int32_t version,
                   Stat* stat) = 0;
  // Children names (not paths), sorted ascending.
  virtual Code GetChildren(const std::string& path, std::vector<std::string>* children,
                           Watcher watcher) = 0;
  // All or nothing. On failure `results` holds each op's code: the first failing op's real code,
  // the others kOk or left untouched, as in ZooKeeper.
  virtual Code Multi(const std::vector<Op>& ops, std::vector<OpResult>* results) = 0;

  virtual std::int64_t SessionId() const = 0;
  virtual SessionState State() const = 0;
  // Called on the event thread for every session state change.
  virtual void AddSessionListener(SessionListener listener) = 0;
  // Requests sent since the session started: what "registry operations per fire" counts.
  virtual std::uint64_t RequestCount() const = 0;
};

// Creates `path` and any missing parents as empty persistent nodes; kOk if it already exists.
Code EnsurePath(Registry& registry, const std::string& path);

// Deletes `path` and everything under it, children first; kOk when it is gone (or was never
// there). Gives up with kBadArguments before deleting anything when the tree holds more than
// `max_nodes` nodes; with the registry's code when a delete fails (kNotEmpty: someone created a
// node under it meanwhile).
Code DeleteTree(Registry& registry, const std::string& path, std::size_t max_nodes = 100000);

}  // namespace shardjob::registry
