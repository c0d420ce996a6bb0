#include "registry/zookeeper_registry.h"

#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include "failpoint/failpoint.h"

namespace shardjob::registry {
namespace zookeeper_internal {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct ZhandleCloser {
  void operator()(zhandle_t* zh) const { zookeeper_close(zh); }
};
using ZhandlePtr = std::unique_ptr<zhandle_t, ZhandleCloser>;

// Most node data is small; larger data costs a second read sized from the first one's stat.
constexpr int kInitialDataBuffer = 16 * 1024;
// What a sequential create appends to the name.
constexpr std::size_t kSequenceSuffix = 10;
// Marks a multi result the client left untouched; every ZooKeeper code is zero or negative.
constexpr int kUnfilled = 1;

Code ToCode(int rc) {
  switch (rc) {
    case ZOK:
      return Code::kOk;
    case ZNONODE:
      return Code::kNoNode;
    case ZNODEEXISTS:
      return Code::kNodeExists;
    case ZBADVERSION:
      return Code::kBadVersion;
    case ZNOTEMPTY:
      return Code::kNotEmpty;
    case ZNOCHILDRENFOREPHEMERALS:
      return Code::kNoChildrenForEphemerals;
    case ZBADARGUMENTS:
      return Code::kBadArguments;
    case ZCONNECTIONLOSS:
    case ZOPERATIONTIMEOUT:
      return Code::kConnectionLoss;
    case ZSESSIONEXPIRED:
    case ZINVALIDSTATE:
    case ZAUTHFAILED:
      return Code::kSessionExpired;
    // Refused for good: a retry cannot succeed, so it must not read as an unknown outcome.
    case ZNOAUTH:
      return Code::kNoAuth;
    case ZINVALIDACL:
      return Code::kBadArguments;
    default:
      // The request may or may not have been applied (marshalling errors, throttling, moved
      // sessions, closing...): the caller's "outcome unknown" path is the only safe one.
      return Code::kConnectionLoss;
  }
}

// Codes callers expect in normal operation; anything else is logged.
bool IsOrdinary(int rc) {
  switch (rc) {
    case ZOK:
    case ZNONODE:
    case ZNODEEXISTS:
    case ZBADVERSION:
    case ZNOTEMPTY:
    case ZNOCHILDRENFOREPHEMERALS:
    case ZBADARGUMENTS:
    case ZCONNECTIONLOSS:
    case ZSESSIONEXPIRED:
    case ZINVALIDSTATE:
      return true;
    default:
      return false;
  }
}

Stat ToStat(const ::Stat& in) {
  Stat out;
  out.czxid = in.czxid;
  out.mzxid = in.mzxid;
  out.ctime_ms = in.ctime;
  out.mtime_ms = in.mtime;
  out.version = in.version;
  out.cversion = in.cversion;
  out.ephemeral_owner = in.ephemeralOwner;
  out.num_children = in.numChildren;
  return out;
}

bool IsSequential(NodeMode mode) {
  return mode == NodeMode::kPersistentSequential || mode == NodeMode::kEphemeralSequential;
}

int ToCreateMode(NodeMode mode) {
  switch (mode) {
    case NodeMode::kPersistent:
      return ZOO_PERSISTENT;
    case NodeMode::kEphemeral:
      return ZOO_EPHEMERAL;
    case NodeMode::kPersistentSequential:
      return ZOO_PERSISTENT_SEQUENTIAL;
    case NodeMode::kEphemeralSequential:
      return ZOO_EPHEMERAL_SEQUENTIAL;
  }
  return ZOO_PERSISTENT;
}

bool ToEventType(int type, EventType* out) {
  if (type == ZOO_CREATED_EVENT) {
    *out = EventType::kCreated;
  } else if (type == ZOO_DELETED_EVENT) {
    *out = EventType::kDeleted;
  } else if (type == ZOO_CHANGED_EVENT) {
    *out = EventType::kDataChanged;
  } else if (type == ZOO_CHILD_EVENT) {
    *out = EventType::kChildrenChanged;
  } else {
    return false;
  }
  return true;
}

// ZooKeeper's rules (PathUtils.validatePath), for multi ops only: the C client checks single
// calls itself, but turns a bad path inside a multi into ZMARSHALLINGERROR.
bool IsValidPath(const std::string& path, bool sequential_create) {
  if (path.empty() || path[0] != '/') return false;
  if (path.size() == 1) return true;
  std::size_t start = 1;
  while (true) {
    std::size_t end = path.find('/', start);
    std::string_view part(path.data() + start,
                          (end == std::string::npos ? path.size() : end) - start);
    bool last = end == std::string::npos;
    if (part.empty() && !(last && sequential_create)) return false;
    if (part == "." || part == "..") return false;
    for (char c : part) {
      auto byte = static_cast<unsigned char>(c);
      if (byte < 0x20 || byte == 0x7f) return false;
    }
    if (last) return true;
    start = end + 1;
  }
}

// A failpoint (test builds only): lets a fault test expire this session from outside.
void WriteSessionFileForTests(std::int64_t session_id, const std::string& password) {
  const std::string path = failpoint::SessionFile();
  if (path.empty()) return;
  char id[24];
  std::snprintf(id, sizeof(id), "%llx", static_cast<unsigned long long>(session_id));
  std::string text = std::string(id) + " ";
  for (unsigned char byte : password) {
    char hex[3];
    std::snprintf(hex, sizeof(hex), "%02x", byte);
    text += hex;
  }
  const std::string temporary = path + ".tmp";
  if (std::FILE* file = std::fopen(temporary.c_str(), "w")) {
    std::fputs((text + "\n").c_str(), file);
    std::fclose(file);
    std::rename(temporary.c_str(), path.c_str());
  }
}

std::string SessionIdText(std::int64_t id) {
  char text[32];
  std::snprintf(text, sizeof(text), "0x%llx", static_cast<unsigned long long>(id));
  return text;
}

std::string StateText(int state) {
  if (state == ZOO_CONNECTED_STATE) return "connected";
  if (state == ZOO_CONNECTING_STATE) return "connecting";
  if (state == ZOO_ASSOCIATING_STATE) return "associating";
  if (state == ZOO_EXPIRED_SESSION_STATE) return "expired";
  if (state == ZOO_AUTH_FAILED_STATE) return "auth failed";
  if (state == ZOO_READONLY_STATE) return "read-only";
  return "state " + std::to_string(state);
}

int ToIntMs(milliseconds value) {
  return static_cast<int>(std::clamp<std::int64_t>(value.count(), 1, INT_MAX));
}

}  // namespace

class Handle;
class Client;

// What a watch-setting call hands the C client: the watcher, and the session it was set on.
struct WatchContext {
  Handle* handle;
  Watcher watcher;
};

// One zhandle (one ZooKeeper session, or an attempt at one) and the watches set through it. The
// handle owns every watch context still pending, so none leaks whatever becomes of the session:
// a context goes when its event fires, when the call that would have set it fails, or when the
// zhandle has been closed and no callback can run any more.
class Handle {
 public:
  explicit Handle(Client* client) : client_(client) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  Client* client() const { return client_; }

  // The pointer to pass as the watch context.
  WatchContext* AddWatch(Watcher watcher) {
    auto context = std::make_unique<WatchContext>(WatchContext{this, std::move(watcher)});
    WatchContext* raw = context.get();
    std::lock_guard<std::mutex> lock(watches_mutex_);
    watches_.emplace(raw, std::move(context));
    return raw;
  }

  // Gives the context back to whoever runs its one event, or frees it when the call that was to
  // set it failed (the client registers a watch only on a successful answer).
  std::unique_ptr<WatchContext> TakeWatch(WatchContext* watch) {
    std::lock_guard<std::mutex> lock(watches_mutex_);
    auto it = watches_.find(watch);
    if (it == watches_.end()) return nullptr;
    std::unique_ptr<WatchContext> owned = std::move(it->second);
    watches_.erase(it);
    return owned;
  }

  // The session expired: no watch can fire. Their watchers (and what they hold) go now; the
  // contexts stay until the zhandle is closed, since the client still lists them.
  void DisarmWatches() {
    std::vector<Watcher> released;
    {
      std::lock_guard<std::mutex> lock(watches_mutex_);
      for (auto& entry : watches_) released.push_back(std::move(entry.second->watcher));
    }
  }

  // REQUIRES: the zhandle is closed.
  void FreeWatches() {
    std::unordered_map<WatchContext*, std::unique_ptr<WatchContext>> released;
    std::lock_guard<std::mutex> lock(watches_mutex_);
    released.swap(watches_);
  }

  // Guarded by Client::mutex_.
  ZhandlePtr owned;          // set once zookeeper_init returned; closed by Client::CloseHandle
  zhandle_t* zh = nullptr;   // for calls: set once connected and authenticated
  bool initialized = false;  // zookeeper_init and zoo_add_auth returned
  int active_calls = 0;

 private:
  Client* const client_;
  std::mutex watches_mutex_;
  std::unordered_map<WatchContext*, std::unique_ptr<WatchContext>> watches_;
};

namespace {

void WatchTrampoline(zhandle_t*, int type, int, const char* path, void* context) {
  auto* watch = static_cast<WatchContext*>(context);
  // The client also shows every pending watch each session change (it copies them all into
  // session events). That is not the watch's one event; the session watcher handles expiry.
  if (type == ZOO_SESSION_EVENT) return;
  std::unique_ptr<WatchContext> owned = watch->handle->TakeWatch(watch);
  EventType event_type;
  if (!owned || !owned->watcher || !ToEventType(type, &event_type)) return;
  owned->watcher(WatchEvent{event_type, path != nullptr ? path : ""});
}

void SessionTrampoline(zhandle_t* zh, int type, int state, const char*, void* context);

}  // namespace

class Client {
 public:
  explicit Client(ZookeeperOptions options)
      : options_(std::move(options)),
        acl_(options_.digest_auth.empty() ? &ZOO_OPEN_ACL_UNSAFE : &ZOO_CREATOR_ALL_ACL) {}

  ~Client() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    if (reconnect_thread_.joinable()) reconnect_thread_.join();
    std::vector<SessionListener> listeners;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      std::vector<std::shared_ptr<Handle>> handles = std::move(dead_);
      dead_.clear();
      if (current_) handles.push_back(std::move(current_));
      if (pending_) handles.push_back(std::move(pending_));
      for (const auto& handle : handles) CloseHandle(lock, handle);
      state_ = SessionState::kClosed;
      listeners = listeners_;
    }
    for (const auto& listener : listeners) listener(SessionState::kClosed);
  }

  bool Start(std::string* error) {
    if (options_.connect_string.empty()) {
      *error = "ZooKeeper connect string is empty";
      return false;
    }
    if (!options_.digest_auth.empty() && options_.digest_auth.find(':') == std::string::npos) {
      *error = "ZooKeeper digest auth must be \"user:password\"";
      return false;
    }
    auto handle = std::make_shared<Handle>(this);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pending_ = handle;
    }
    if (!InitHandle(handle, error)) return false;
    std::string failure;
    bool connected;
    std::vector<std::pair<ZookeeperLogLevel, std::string>> logs;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait_for(lock, options_.connect_timeout, [&] { return pending_ != handle; });
      connected = current_ == handle;
      if (connected) {
        started_ = true;
        AddEstablishedLogsLocked(&logs);
      } else {
        if (pending_ == handle) pending_.reset();
        std::erase(dead_, handle);
        failure = last_failure_;
        CloseHandle(lock, handle);
      }
    }
    for (const auto& [level, message] : logs) Log(level, message);
    if (!connected) {
      *error = "could not connect to ZooKeeper at " + options_.connect_string + " within " +
               std::to_string(options_.connect_timeout.count()) + " ms" +
               (failure.empty() ? "" : ": " + failure);
      return false;
    }
    reconnect_thread_ = std::thread([this] { ReconnectLoop(); });
    return true;
  }

  Code Create(const std::string& path, const std::string& data, NodeMode mode,
              std::string* created_path) {
    if (data.size() > INT_MAX) return Code::kBadArguments;
    Call call(*this);
    if (!call) return call.code();
    std::string buffer(path.size() + kSequenceSuffix + 1, '\0');
    int rc = zoo_create(call.zh(), path.c_str(), data.data(), static_cast<int>(data.size()), acl_,
                        ToCreateMode(mode), buffer.data(), static_cast<int>(buffer.size()));
    if (rc == ZOK && created_path != nullptr) *created_path = buffer.c_str();
    return Finish(rc, "create", path);
  }

  Code Delete(const std::string& path, std::int32_t version) {
    Call call(*this);
    if (!call) return call.code();
    return Finish(zoo_delete(call.zh(), path.c_str(), version), "delete", path);
  }

  Code Exists(const std::string& path, Stat* stat, Watcher watcher) {
    Call call(*this);
    if (!call) return call.code();
    WatchContext* watch = watcher ? call.handle().AddWatch(std::move(watcher)) : nullptr;
    ::Stat zstat{};
    int rc = zoo_wexists(call.zh(), path.c_str(), watch != nullptr ? WatchTrampoline : nullptr,
                         watch, &zstat);
    // exists watches a missing node too.
    if (watch != nullptr && rc != ZOK && rc != ZNONODE) call.handle().TakeWatch(watch);
    if (rc == ZOK && stat != nullptr) *stat = ToStat(zstat);
    return Finish(rc, "exists", path);
  }

  Code Get(const std::string& path, std::string* data, Stat* stat, Watcher watcher) {
    Call call(*this);
    if (!call) return call.code();
    WatchContext* watch = watcher ? call.handle().AddWatch(std::move(watcher)) : nullptr;
    std::string buffer(kInitialDataBuffer, '\0');
    int length = static_cast<int>(buffer.size());
    ::Stat zstat{};
    int rc = zoo_wget(call.zh(), path.c_str(), watch != nullptr ? WatchTrampoline : nullptr, watch,
                      buffer.data(), &length, &zstat);
    if (watch != nullptr && rc != ZOK) call.handle().TakeWatch(watch);
    // Truncated: read again into a buffer that fits. The watch set above stays, and fires if the
    // data changed in between; the data and stat returned are the later read's.
    while (rc == ZOK && zstat.dataLength > length) {
      requests_.fetch_add(1);
      buffer.assign(static_cast<std::size_t>(zstat.dataLength), '\0');
      length = static_cast<int>(buffer.size());
      rc = zoo_wget(call.zh(), path.c_str(), nullptr, nullptr, buffer.data(), &length, &zstat);
    }
    if (rc == ZOK) {
      if (data != nullptr)
        data->assign(buffer.data(), static_cast<std::size_t>(std::max(length, 0)));
      if (stat != nullptr) *stat = ToStat(zstat);
    }
    return Finish(rc, "get", path);
  }

  Code Set(const std::string& path, const std::string& data, std::int32_t version, Stat* stat) {
    if (data.size() > INT_MAX) return Code::kBadArguments;
    Call call(*this);
    if (!call) return call.code();
    ::Stat zstat{};
    int rc = zoo_set2(call.zh(), path.c_str(), data.data(), static_cast<int>(data.size()), version,
                      &zstat);
    if (rc == ZOK && stat != nullptr) *stat = ToStat(zstat);
    return Finish(rc, "set", path);
  }

  Code GetChildren(const std::string& path, std::vector<std::string>* children, Watcher watcher) {
    Call call(*this);
    if (!call) return call.code();
    WatchContext* watch = watcher ? call.handle().AddWatch(std::move(watcher)) : nullptr;
    String_vector strings{};
    int rc = zoo_wget_children(call.zh(), path.c_str(),
                               watch != nullptr ? WatchTrampoline : nullptr, watch, &strings);
    if (watch != nullptr && rc != ZOK) call.handle().TakeWatch(watch);
    if (rc == ZOK) {
      std::vector<std::string> names(strings.data, strings.data + strings.count);
      std::sort(names.begin(), names.end());
      if (children != nullptr) *children = std::move(names);
      deallocate_String_vector(&strings);
    }
    return Finish(rc, "getChildren", path);
  }

  Code Multi(const std::vector<Op>& ops, std::vector<OpResult>* results) {
    std::vector<OpResult> unused;
    if (results == nullptr) results = &unused;
    results->assign(ops.size(), OpResult{});
    if (ops.size() > INT_MAX) return Code::kBadArguments;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const Op& op = ops[i];
      bool sequential = op.type == Op::Type::kCreate && IsSequential(op.mode);
      if (!IsValidPath(op.path, sequential) || op.data.size() > INT_MAX) {
        (*results)[i].code = Code::kBadArguments;
        return Code::kBadArguments;
      }
    }
    Call call(*this);
    if (!call) {
      for (OpResult& result : *results) result.code = call.code();
      return call.code();
    }
    const std::size_t count = ops.size();
    // Never empty: an empty multi is legal, but the client wants real arrays.
    std::vector<zoo_op_t> zops(std::max<std::size_t>(count, 1));
    std::vector<zoo_op_result_t> zresults(std::max<std::size_t>(count, 1));
    std::vector<std::string> created(count);
    std::vector<::Stat> stats(count);
    for (std::size_t i = 0; i < count; ++i) {
      const Op& op = ops[i];
      const int length = static_cast<int>(op.data.size());
      switch (op.type) {
        case Op::Type::kCreate:
          created[i].assign(op.path.size() + kSequenceSuffix + 1, '\0');
          zoo_create_op_init(&zops[i], op.path.c_str(), op.data.data(), length, acl_,
                             ToCreateMode(op.mode), created[i].data(),
                             static_cast<int>(created[i].size()));
          break;
        case Op::Type::kDelete:
          zoo_delete_op_init(&zops[i], op.path.c_str(), op.version);
          break;
        case Op::Type::kSetData:
          zoo_set_op_init(&zops[i], op.path.c_str(), op.data.data(), length, op.version, &stats[i]);
          break;
        case Op::Type::kCheck:
          zoo_check_op_init(&zops[i], op.path.c_str(), op.version);
          break;
      }
      zresults[i].err = kUnfilled;
    }
    int rc = zoo_multi(call.zh(), static_cast<int>(count), zops.data(), zresults.data());
    Code overall = Finish(rc, "multi", count == 0 ? std::string("(empty)") : ops[0].path);
    Code first_failure = Code::kOk;
    for (std::size_t i = 0; i < count; ++i) {
      OpResult& result = (*results)[i];
      int err = zresults[i].err;
      if (err == kUnfilled) {
        result.code = overall;  // no per-op answer came back
      } else if (err == ZRUNTIMEINCONSISTENCY && rc != ZOK) {
        result.code = Code::kOk;  // rolled back with the rest, not itself at fault
      } else {
        result.code = ToCode(err);
        if (err != ZOK && first_failure == Code::kOk) first_failure = result.code;
      }
      if (rc == ZOK && ops[i].type == Op::Type::kCreate) result.created_path = created[i].c_str();
      if (rc == ZOK && ops[i].type == Op::Type::kSetData) result.stat = ToStat(stats[i]);
    }
    if (rc == ZOK) return Code::kOk;
    return first_failure != Code::kOk ? first_failure : overall;
  }

  std::int64_t SessionId() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return session_id_;
  }

  SessionState State() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return state_;
  }

  void AddSessionListener(SessionListener listener) {
    std::lock_guard<std::mutex> lock(mutex_);
    listeners_.push_back(std::move(listener));
  }

  std::uint64_t RequestCount() const { return requests_.load(); }

  milliseconds NegotiatedSessionTimeout() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return milliseconds(negotiated_timeout_ms_);
  }

  std::string SessionPassword() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return password_;
  }

  bool ForceExpiry(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::int64_t target;
    std::string password;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (!changed_.wait_until(lock, deadline,
                               [&] { return stopping_ || state_ == SessionState::kConnected; }) ||
          stopping_) {
        return false;
      }
      target = session_id_;
      password = password_;
    }
    // The owner's client reconnects within a millisecond of being pushed off its session, and if
    // it gets back in before the second handle's close arrives, the session lives on. So retry
    // soon, always at the same session (never at the new one that follows expiry), and judge by
    // what the owner sees. The client backs off after repeated losses, which lets a close win.
    milliseconds patience(100);
    while (true) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left <= milliseconds(0)) return false;
      ZookeeperRegistry::ExpireSessionForTest(options_.connect_string, target, password, left);
      std::unique_lock<std::mutex> lock(mutex_);
      if (changed_.wait_until(lock, std::min(deadline, Clock::now() + patience), [&] {
            return stopping_ || state_ == SessionState::kExpired || session_id_ != target;
          })) {
        return !stopping_;
      }
      patience = std::min(patience * 2, milliseconds(1000));
    }
  }

  // Session events of `handle`, on its completion thread.
  void OnSessionEvent(Handle* handle, zhandle_t* zh, int state) {
    std::vector<std::pair<ZookeeperLogLevel, std::string>> logs;
    std::vector<SessionListener> listeners;
    std::optional<SessionState> notify;
    bool disarm = false;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (state == ZOO_CONNECTED_STATE && pending_.get() == handle) {
        // Auth must be queued before the first call goes out on this session; it is, once
        // zoo_add_auth has returned (a few microseconds after zookeeper_init).
        changed_.wait(lock, [&] { return stopping_ || handle->initialized; });
      }
      if (stopping_) return;
      const bool is_current = current_.get() == handle;
      const bool is_pending = pending_.get() == handle;
      if (!is_current && !is_pending) return;  // an attempt already given up
      if (state == ZOO_CONNECTED_STATE) {
        const clientid_t* id = zoo_client_id(zh);
        const int negotiated = zoo_recv_timeout(zh);
        handle->zh = zh;
        if (is_pending) {
          current_ = std::move(pending_);
          session_id_ = id->client_id;
          password_.assign(id->passwd, sizeof(id->passwd));
          WriteSessionFileForTests(session_id_, password_);
          negotiated_timeout_ms_ = negotiated;
          failures_ = 0;
          // Start() logs the first one itself, before Connect() returns.
          if (started_) AddEstablishedLogsLocked(&logs);
        } else {
          logs.emplace_back(ZookeeperLogLevel::kInfo,
                            "ZooKeeper session " + SessionIdText(session_id_) + " reconnected");
        }
        if (state_ != SessionState::kConnected) notify = SessionState::kConnected;
        state_ = SessionState::kConnected;
      } else if (state == ZOO_CONNECTING_STATE || state == ZOO_ASSOCIATING_STATE) {
        // Only a session that was up reports this; it may still be alive on the server.
        if (is_current && state_ == SessionState::kConnected) {
          state_ = SessionState::kConnecting;
          notify = SessionState::kConnecting;
          logs.emplace_back(ZookeeperLogLevel::kWarning, "ZooKeeper session " +
                                                             SessionIdText(session_id_) +
                                                             " lost its connection; reconnecting");
        }
      } else if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE) {
        disarm = true;
        // Closed by the reconnect thread: zookeeper_close must not run on this thread.
        dead_.push_back(is_current ? std::move(current_) : std::move(pending_));
        const bool expired = state == ZOO_EXPIRED_SESSION_STATE;
        last_failure_ = expired ? "session expired" : "authentication failed";
        if (is_current) {
          state_ = SessionState::kExpired;
          notify = SessionState::kExpired;
          logs.emplace_back(expired ? ZookeeperLogLevel::kWarning : ZookeeperLogLevel::kError,
                            "ZooKeeper session " + SessionIdText(session_id_) +
                                (expired ? " expired" : ": authentication failed") +
                                "; opening a new session");
        } else {
          ++failures_;
          logs.emplace_back(ZookeeperLogLevel::kError, "new ZooKeeper session at " +
                                                           options_.connect_string +
                                                           " failed: " + StateText(state));
        }
      } else {
        logs.emplace_back(ZookeeperLogLevel::kInfo,
                          "ZooKeeper session event ignored: " + StateText(state));
      }
      if (notify) listeners = listeners_;
    }
    changed_.notify_all();
    // The handle stays alive: closing it joins this thread first.
    if (disarm) handle->DisarmWatches();
    for (const auto& [level, message] : logs) Log(level, message);
    for (const auto& listener : listeners) listener(*notify);
  }

 private:
  // A call on the live session. Keeps the handle from being closed until the call returns.
  class Call {
   public:
    explicit Call(Client& client) : client_(client) {
      std::lock_guard<std::mutex> lock(client_.mutex_);
      if (client_.stopping_) {
        code_ = Code::kClosed;
        return;
      }
      const std::shared_ptr<Handle>& current = client_.current_;
      if (!current || client_.state_ != SessionState::kConnected || current->zh == nullptr) {
        code_ = Code::kConnectionLoss;
        return;
      }
      handle_ = current;
      zh_ = current->zh;
      ++handle_->active_calls;
      client_.requests_.fetch_add(1);
    }
    ~Call() {
      if (!handle_) return;
      std::lock_guard<std::mutex> lock(client_.mutex_);
      if (--handle_->active_calls == 0) client_.changed_.notify_all();
    }
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;

    explicit operator bool() const { return handle_ != nullptr; }
    Code code() const { return code_; }
    zhandle_t* zh() const { return zh_; }
    Handle& handle() const { return *handle_; }

   private:
    Client& client_;
    std::shared_ptr<Handle> handle_;
    zhandle_t* zh_ = nullptr;
    Code code_ = Code::kOk;
  };

  void AddEstablishedLogsLocked(
      std::vector<std::pair<ZookeeperLogLevel, std::string>>* logs) const {
    logs->emplace_back(ZookeeperLogLevel::kInfo,
                       "ZooKeeper session " + SessionIdText(session_id_) + " established at " +
                           options_.connect_string + ", session timeout " +
                           std::to_string(negotiated_timeout_ms_) + " ms");
    if (negotiated_timeout_ms_ != ToIntMs(options_.session_timeout)) {
      logs->emplace_back(ZookeeperLogLevel::kWarning,
                         "ZooKeeper granted a session timeout of " +
                             std::to_string(negotiated_timeout_ms_) + " ms instead of the " +
                             std::to_string(options_.session_timeout.count()) +
                             " ms asked for (the server's min/maxSessionTimeout)");
    }
  }

  Code Finish(int rc, const char* operation, const std::string& path) const {
    Code code = ToCode(rc);
    if (!IsOrdinary(rc)) {
      Log(ZookeeperLogLevel::kWarning, std::string("ZooKeeper ") + operation + " " + path + ": " +
                                           zerror(rc) + " (" + std::to_string(rc) +
                                           "), reported as " + CodeName(code));
    }
    return code;
  }

  // Starts a session attempt for `handle`, which is already pending_ so that its first event
  // cannot be missed. Marks it initialized whatever happens.
  bool InitHandle(const std::shared_ptr<Handle>& handle, std::string* error) {
    errno = 0;
    ZhandlePtr zh(zookeeper_init(options_.connect_string.c_str(), SessionTrampoline,
                                 ToIntMs(options_.session_timeout), nullptr, handle.get(), 0));
    int rc = ZOK;
    if (!zh) {
      *error = "zookeeper_init(\"" + options_.connect_string +
               "\") failed: " + (errno != 0 ? std::strerror(errno) : "unknown error");
    } else if (!options_.digest_auth.empty()) {
      // Kept by the handle and sent again on every reconnect of this session.
      rc = zoo_add_auth(zh.get(), "digest", options_.digest_auth.data(),
                        static_cast<int>(options_.digest_auth.size()), nullptr, nullptr);
      if (rc != ZOK) *error = std::string("zoo_add_auth failed: ") + zerror(rc);
    }
    const bool ok = zh && rc == ZOK;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      handle->initialized = true;
      if (ok) {
        handle->owned = std::move(zh);
      } else if (pending_ == handle) {
        pending_.reset();  // so that its events, if any, are ignored
      }
    }
    changed_.notify_all();
    // A failed zh closes here, once its events can no longer promote it.
    return ok;
  }

  // Closes a handle no call can reach any more (it is neither current_ nor pending_).
  void CloseHandle(std::unique_lock<std::mutex>& lock, const std::shared_ptr<Handle>& handle) {
    changed_.wait(lock, [&] { return handle->active_calls == 0; });
    ZhandlePtr zh = std::move(handle->owned);
    handle->zh = nullptr;
    lock.unlock();
    // Joins the handle's threads; their callbacks may still take mutex_ until then.
    zh.reset();
    handle->FreeWatches();
    lock.lock();
  }

  milliseconds BackoffLocked() const {
    milliseconds delay = options_.reconnect_backoff_initial;
    for (int i = 1; i < failures_ && delay < options_.reconnect_backoff_max; ++i) delay *= 2;
    return std::min(delay, options_.reconnect_backoff_max);
  }

  // Closes dead handles and opens a new session whenever there is none, until destruction.
  void ReconnectLoop() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      changed_.wait(lock, [&] { return stopping_ || !dead_.empty() || (!current_ && !pending_); });
      if (stopping_) return;
      if (!dead_.empty()) {
        std::shared_ptr<Handle> dead = std::move(dead_.back());
        dead_.pop_back();
        CloseHandle(lock, dead);
        continue;
      }
      if (failures_ > 0) {
        milliseconds delay = BackoffLocked();
        lock.unlock();
        Log(ZookeeperLogLevel::kWarning,
            "retrying a new ZooKeeper session in " + std::to_string(delay.count()) + " ms");
        lock.lock();
        if (changed_.wait_for(lock, delay, [&] { return stopping_; })) return;
        if (current_ || pending_ || !dead_.empty()) continue;
      }
      auto handle = std::make_shared<Handle>(this);
      pending_ = handle;
      lock.unlock();
      std::string error;
      const bool ok = InitHandle(handle, &error);
      if (!ok) Log(ZookeeperLogLevel::kError, error);
      lock.lock();
      if (!ok) ++failures_;
    }
  }

  void Log(ZookeeperLogLevel level, const std::string& message) const {
    if (options_.logger) {
      options_.logger(level, message);
    } else if (level != ZookeeperLogLevel::kInfo) {
      std::cerr << (level == ZookeeperLogLevel::kError ? "ERROR " : "WARN ") << message << '\n';
    }
  }

  const ZookeeperOptions options_;
  const ACL_vector* const acl_;

  mutable std::mutex mutex_;
  // Signals every change below: session state, handles, active calls.
  std::condition_variable changed_;
  std::shared_ptr<Handle> current_;  // the session calls go to (connected or reconnecting)
  std::shared_ptr<Handle> pending_;  // a new session not yet connected
  std::vector<std::shared_ptr<Handle>>
      dead_;  // expired or failed, for the reconnect thread to close
  SessionState state_ = SessionState::kConnecting;
  std::int64_t session_id_ = 0;
  std::string password_;
  int negotiated_timeout_ms_ = 0;
  int failures_ = 0;  // consecutive failed attempts at a new session
  std::string last_failure_;
  bool started_ = false;  // the first session is up
  bool stopping_ = false;
  std::vector<SessionListener> listeners_;

  std::atomic<std::uint64_t> requests_{0};
  std::thread reconnect_thread_;
};

namespace {

void SessionTrampoline(zhandle_t* zh, int type, int state, const char*, void* context) {
  if (type != ZOO_SESSION_EVENT) return;  // no default watches are ever set
  auto* handle = static_cast<Handle*>(context);
  handle->client()->OnSessionEvent(handle, zh, state);
}

// For ExpireSessionForTest: waits for the second handle's first state.
struct ExpiryProbe {
  std::mutex mutex;
  std::condition_variable changed;
  int state = 0;
};

void ExpiryProbeWatcher(zhandle_t*, int type, int state, const char*, void* context) {
  if (type != ZOO_SESSION_EVENT) return;
  auto* probe = static_cast<ExpiryProbe*>(context);
  std::lock_guard<std::mutex> lock(probe->mutex);
  probe->state = state;
  probe->changed.notify_all();
}

}  // namespace
}  // namespace zookeeper_internal

std::unique_ptr<ZookeeperRegistry> ZookeeperRegistry::Connect(const ZookeeperOptions& options,
                                                              std::string* error) {
  // The C client logs every connection attempt at INFO to stderr; this level is process-wide.
  static std::once_flag quiet_client;
  std::call_once(quiet_client, [] { zoo_set_debug_level(ZOO_LOG_LEVEL_WARN); });
  std::string ignored;
  if (error == nullptr) error = &ignored;
  auto client = std::make_unique<zookeeper_internal::Client>(options);
  if (!client->Start(error)) return nullptr;
  return std::unique_ptr<ZookeeperRegistry>(new ZookeeperRegistry(std::move(client)));
}

ZookeeperRegistry::ZookeeperRegistry(std::unique_ptr<zookeeper_internal::Client> client)
    : client_(std::move(client)) {}

ZookeeperRegistry::~ZookeeperRegistry() = default;

Code ZookeeperRegistry::Create(const std::string& path, const std::string& data, NodeMode mode,
                               std::string* created_path) {
  return client_->Create(path, data, mode, created_path);
}

Code ZookeeperRegistry::Delete(const std::string& path, std::int32_t version) {
  return client_->Delete(path, version);
}

Code ZookeeperRegistry::Exists(const std::string& path, Stat* stat, Watcher watcher) {
  return client_->Exists(path, stat, std::move(watcher));
}

Code ZookeeperRegistry::Get(const std::string& path, std::string* data, Stat* stat,
                            Watcher watcher) {
  return client_->Get(path, data, stat, std::move(watcher));
}

Code ZookeeperRegistry::Set(const std::string& path, const std::string& data, std::int32_t version,
                            Stat* stat) {
  return client_->Set(path, data, version, stat);
}

Code ZookeeperRegistry::GetChildren(const std::string& path, std::vector<std::string>* children,
                                    Watcher watcher) {
  return client_->GetChildren(path, children, std::move(watcher));
}

Code ZookeeperRegistry::Multi(const std::vector<Op>& ops, std::vector<OpResult>* results) {
  return client_->Multi(ops, results);
}

std::int64_t ZookeeperRegistry::SessionId() const { return client_->SessionId(); }

SessionState ZookeeperRegistry::State() const { return client_->State(); }

void ZookeeperRegistry::AddSessionListener(SessionListener listener) {
  client_->AddSessionListener(std::move(listener));
}

std::uint64_t ZookeeperRegistry::RequestCount() const { return client_->RequestCount(); }

std::chrono::milliseconds ZookeeperRegistry::NegotiatedSessionTimeout() const {
  return client_->NegotiatedSessionTimeout();
}

std::string ZookeeperRegistry::SessionPasswordForTest() const { return client_->SessionPassword(); }

bool ZookeeperRegistry::ForceExpiryForTest(std::chrono::milliseconds timeout) {
  return client_->ForceExpiry(timeout);
}

bool ZookeeperRegistry::ExpireSessionForTest(const std::string& connect_string,
                                             std::int64_t session_id, const std::string& password,
                                             std::chrono::milliseconds timeout) {
  clientid_t id{};
  if (password.size() != sizeof(id.passwd)) return false;
  id.client_id = session_id;
  std::memcpy(id.passwd, password.data(), sizeof(id.passwd));
  zookeeper_internal::ExpiryProbe probe;
  zookeeper_internal::ZhandlePtr zh(
      zookeeper_init(connect_string.c_str(), zookeeper_internal::ExpiryProbeWatcher,
                     zookeeper_internal::ToIntMs(timeout), &id, &probe, 0));
  if (!zh) return false;
  bool connected;
  {
    std::unique_lock<std::mutex> lock(probe.mutex);
    probe.changed.wait_for(lock, timeout, [&] {
      return probe.state == ZOO_CONNECTED_STATE || probe.state == ZOO_EXPIRED_SESSION_STATE ||
             probe.state == ZOO_AUTH_FAILED_STATE;
    });
    connected = probe.state == ZOO_CONNECTED_STATE;
  }
  // Closing a connected handle ends its session on the server: that is the expiry.
  int rc = zookeeper_close(zh.release());
  return connected && rc == ZOK;
}

}  // namespace shardjob::registry
