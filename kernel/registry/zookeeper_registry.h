#pragma once

// The registry on a ZooKeeper ensemble, through the ZooKeeper C client (zookeeper_mt, synchronous
// API). One object is one logical session that outlives the ZooKeeper sessions under it:
//
// - Session expiry is a normal event. When the server says the session expired, listeners are
//   told kExpired, the dead handle is closed (on the registry's own reconnect thread, never on the
//   client's event thread) and a new session is opened with capped exponential backoff, forever,
//   until the object is destroyed. Digest auth is added again to every new session. Listeners are
//   then told kConnected and SessionId() returns the new id. The kernel relies on this to
//   re-register: everything it owned through the old session (ephemerals, watches) is gone.
// - While there is no live session (after kExpired, before the next kConnected) and while the
//   client is reconnecting (kConnecting), calls are not sent and return kConnectionLoss. A call
//   that was in flight on a session that expired returns kConnectionLoss or kSessionExpired.
//   Neither says whether the request took effect.
// - kConnecting lasts as long as no server answers. The registry never declares expiry by itself:
//   the server decides, and tells the client when it reconnects. Callers that hold leases treat
//   them as lost once NegotiatedSessionTimeout() has passed in kConnecting.
//
// Watchers and session listeners run on the C client's completion thread of the ZooKeeper session
// they belong to: all callbacks of one session come from one thread, in order. A new session has a
// new thread. Callbacks may call back into the registry but must not destroy it.
//
// Paths are absolute, as given: no chroot. The kernel puts its namespace in its paths itself.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "registry/registry.h"

namespace shardjob::registry {

enum class ZookeeperLogLevel { kInfo, kWarning, kError };
using ZookeeperLogger = std::function<void(ZookeeperLogLevel level, const std::string& message)>;

struct ZookeeperOptions {
  // "host:port[,host:port...]", as zookeeper_init takes it.
  std::string connect_string;
  // Asked of the server, which clamps it to its min/maxSessionTimeout (see
  // NegotiatedSessionTimeout(); a difference is logged as a warning).
  std::chrono::milliseconds session_timeout{10000};
  // How long Connect() waits for the first session before giving up.
  std::chrono::milliseconds connect_timeout{15000};
  // "user:password" for the "digest" scheme. When set, every node is created with an ACL that gives
  // only the creator's identity any right (ZOO_CREATOR_ALL_ACL); when empty, nodes are open to all.
  std::string digest_auth;
  // Delay before the second attempt to open a new session after expiry; doubles per failed attempt
  // up to the maximum. The first attempt is immediate.
  std::chrono::milliseconds reconnect_backoff_initial{100};
  std::chrono::milliseconds reconnect_backoff_max{10000};
  // Session changes, negotiated timeouts and unexpected errors. Default: warnings and errors to
  // stderr. Called from any thread, never under the registry's locks.
  ZookeeperLogger logger;
};

namespace zookeeper_internal {
class Client;
}

// Code mapping (ZooKeeper → Code):
//   ZOK, ZNONODE, ZNODEEXISTS, ZBADVERSION, ZNOTEMPTY, ZNOCHILDRENFOREPHEMERALS, ZBADARGUMENTS
//                                      → the code of the same name
//   ZCONNECTIONLOSS, ZOPERATIONTIMEOUT → kConnectionLoss (outcome unknown)
//   ZSESSIONEXPIRED, ZINVALIDSTATE, ZAUTHFAILED
//                                      → kSessionExpired (the handle is dead; a new session
//                                      follows)
//   ZNOAUTH                            → kNoAuth: refused for good by the node's ACL
//   ZINVALIDACL                        → kBadArguments
//   anything else                      → kConnectionLoss: the outcome is unknown; logged as a
//   warning
// Calls made with no live session return kConnectionLoss without being sent; calls made during or
// after destruction (from a callback) return kClosed.
class ZookeeperRegistry final : public Registry {
 public:
  // Opens the first session and waits for it, up to options.connect_timeout. On failure returns
  // null and says why in *error (the servers, the timeout, or the client's error).
  static std::unique_ptr<ZookeeperRegistry> Connect(const ZookeeperOptions& options,
                                                    std::string* error);
  // Closes the session (its ephemerals go at once), frees every pending watcher unfired, and tells
  // listeners kClosed. Must not be called from a watcher or listener.
  ~ZookeeperRegistry() override;
  ZookeeperRegistry(const ZookeeperRegistry&) = delete;
  ZookeeperRegistry& operator=(const ZookeeperRegistry&) = delete;

  Code Create(const std::string& path, const std::string& data, NodeMode mode,
              std::string* created_path) override;
  Code Delete(const std::string& path, std::int32_t version) override;
  Code Exists(const std::string& path, Stat* stat, Watcher watcher) override;
  // Data larger than 16 KiB costs a second, unwatched read (the watch from the first one stays).
  Code Get(const std::string& path, std::string* data, Stat* stat, Watcher watcher) override;
  Code Set(const std::string& path, const std::string& data, std::int32_t version,
           Stat* stat) override;
  Code GetChildren(const std::string& path, std::vector<std::string>* children,
                   Watcher watcher) override;
  // On success each result has kOk, with created_path for creates and stat for set-data ops. On
  // failure the ops ZooKeeper reports as the cause carry their real code; ops before them kOk, and
  // ops after them kOk too (ZooKeeper says ZRUNTIMEINCONSISTENCY: "rolled back, not itself at
  // fault"). The return value is the first real failure. When no per-op answer came back
  // (connection loss, expiry), every result carries the returned code. Malformed paths are refused
  // before sending, as kBadArguments on that op (the C client would call them a marshalling error).
  Code Multi(const std::vector<Op>& ops, std::vector<OpResult>* results) override;

  // The current session's id; after expiry, the old id until the new session is up.
  std::int64_t SessionId() const override;
  // kConnected, kConnecting (the client is reconnecting; the session may be alive), kExpired (no
  // session; a new one is being opened), kClosed (during destruction).
  SessionState State() const override;
  void AddSessionListener(SessionListener listener) override;
  // Requests handed to the client over the object's life, across sessions; a multi counts as one.
  // Calls refused for lack of a live session are not counted.
  std::uint64_t RequestCount() const override;

  // The session timeout the server granted; zero before the first session.
  std::chrono::milliseconds NegotiatedSessionTimeout() const;

  // Test hooks. The session's password (16 bytes), as zoo_client_id() gives it.
  std::string SessionPasswordForTest() const;
  // Makes the server expire this object's current session the standard way (see
  // ExpireSessionForTest) and waits, up to `timeout`, until the registry has noticed (kExpired or a
  // new session id). Retries if the server did not expire it. True when it expired.
  bool ForceExpiryForTest(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Opens a second handle on `session_id` with its password, waits for it to connect, and closes
  // it: closing ends the session on the server, so its owner sees expiry when it reconnects. True
  // when the second handle connected and closed.
  static bool ExpireSessionForTest(const std::string& connect_string, std::int64_t session_id,
                                   const std::string& password,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  explicit ZookeeperRegistry(std::unique_ptr<zookeeper_internal::Client> client);

  std::unique_ptr<zookeeper_internal::Client> client_;
};

}  // namespace shardjob::registry
