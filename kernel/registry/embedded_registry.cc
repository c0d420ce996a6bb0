#include "registry/embedded_registry.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

namespace shardjob::registry {
namespace {

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool IsValidPath(const std::string& path) {
  if (path.empty() || path[0] != '/') return false;
  if (path.size() > 1 && path.back() == '/') return false;
  return path.find("//") == std::string::npos;
}

std::string ParentOf(const std::string& path) {
  std::size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string NameOf(const std::string& path) { return path.substr(path.rfind('/') + 1); }

bool IsEphemeral(NodeMode mode) {
  return mode == NodeMode::kEphemeral || mode == NodeMode::kEphemeralSequential;
}

bool IsSequential(NodeMode mode) {
  return mode == NodeMode::kPersistentSequential || mode == NodeMode::kEphemeralSequential;
}

struct Node {
  std::string data;
  Stat stat;
  std::set<std::string> children;
  std::int32_t next_sequence = 0;
};

}  // namespace

// The tree, the sessions' ephemeral nodes, the pending watches and the event thread. Every
// mutation happens under mutex_; watchers and session listeners run on the event thread, never
// under the lock, so a watcher may call back into the registry.
class EmbeddedStore::State {
 public:
  State() : event_thread_([this] { RunEvents(); }) {
    Node root;
    nodes_.emplace("/", std::move(root));
  }

  ~State() {
    {
      std::lock_guard<std::mutex> lock(events_mutex_);
      stopping_ = true;
    }
    events_changed_.notify_all();
    event_thread_.join();
  }

  void SetClockOffset(std::int64_t offset_ms) { clock_offset_ms_ = offset_ms; }

  std::int64_t OpenSession() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::int64_t id = ++last_session_id_;
    sessions_[id];
    return id;
  }

  // Removes the session and its ephemeral nodes. `final_state` is what its listeners are told.
  void EndSession(std::int64_t session, SessionState final_state) {
    std::vector<std::function<void()>> notifications;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = sessions_.find(session);
      if (it == sessions_.end()) return;
      std::set<std::string> ephemerals = std::move(it->second.ephemerals);
      for (auto& listener : it->second.listeners) {
        notifications.push_back([listener, final_state] { listener(final_state); });
      }
      sessions_.erase(it);
      ended_sessions_[session] = final_state;
      // The ended session's own watches never fire: their owner is going away.
      data_watches_.DropSession(session);
      child_watches_.DropSession(session);
      ++last_zxid_;
      // Ephemeral nodes have no children, so any order of deletion works.
      for (const std::string& path : ephemerals) {
        if (nodes_.count(path) != 0) DeleteLocked(path, &notifications, nullptr);
      }
    }
    Post(std::move(notifications));
  }

  Code Check(std::int64_t session) {
    auto ended = ended_sessions_.find(session);
    if (ended == ended_sessions_.end()) return Code::kOk;
    return ended->second == SessionState::kExpired ? Code::kSessionExpired : Code::kClosed;
  }

  SessionState StateOf(std::int64_t session) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto ended = ended_sessions_.find(session);
    return ended == ended_sessions_.end() ? SessionState::kConnected : ended->second;
  }

  void AddSessionListener(std::int64_t session, SessionListener listener) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = sessions_.find(session);
    if (it != sessions_.end()) it->second.listeners.push_back(std::move(listener));
  }

  Code Create(std::int64_t session, const std::string& path, const std::string& data, NodeMode mode,
              std::string* created_path) {
    std::vector<std::function<void()>> notifications;
    Code code;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      code = Check(session);
      if (code == Code::kOk) {
        ++last_zxid_;
        code = CreateLocked(session, path, data, mode, created_path, &notifications, nullptr);
      }
    }
    Post(std::move(notifications));
    return code;
  }

  Code Delete(std::int64_t session, const std::string& path, std::int32_t version) {
    std::vector<std::function<void()>> notifications;
    Code code;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      code = Check(session);
      if (code == Code::kOk) code = CheckDelete(path, version);
      if (code == Code::kOk) {
        ++last_zxid_;
        DeleteLocked(path, &notifications, nullptr);
      }
    }
    Post(std::move(notifications));
    return code;
  }

  Code Set(std::int64_t session, const std::string& path, const std::string& data,
           std::int32_t version, Stat* stat) {
    std::vector<std::function<void()>> notifications;
    Code code;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      code = Check(session);
      if (code == Code::kOk) code = CheckVersion(path, version);
      if (code == Code::kOk) {
        ++last_zxid_;
        SetLocked(path, data, stat, &notifications, nullptr);
      }
    }
    Post(std::move(notifications));
    return code;
  }

  Code Read(std::int64_t session, const std::string& path, std::string* data, Stat* stat,
            Watcher watcher, bool set_watch_if_missing) {
    std::lock_guard<std::mutex> lock(mutex_);
    Code code = Check(session);
    if (code != Code::kOk) return code;
    if (!IsValidPath(path)) return Code::kBadArguments;
    auto it = nodes_.find(path);
    if (it == nodes_.end()) {
      if (watcher && set_watch_if_missing) data_watches_.Add(path, session, std::move(watcher));
      return Code::kNoNode;
    }
    if (data != nullptr) *data = it->second.data;
    if (stat != nullptr) *stat = it->second.stat;
    if (watcher) data_watches_.Add(path, session, std::move(watcher));
    return Code::kOk;
  }

  Code GetChildren(std::int64_t session, const std::string& path,
                   std::vector<std::string>* children, Watcher watcher) {
    std::lock_guard<std::mutex> lock(mutex_);
    Code code = Check(session);
    if (code != Code::kOk) return code;
    if (!IsValidPath(path)) return Code::kBadArguments;
    auto it = nodes_.find(path);
    if (it == nodes_.end()) return Code::kNoNode;
    children->assign(it->second.children.begin(), it->second.children.end());
    if (watcher) child_watches_.Add(path, session, std::move(watcher));
    return Code::kOk;
  }

  Code Multi(std::int64_t session, const std::vector<Op>& ops, std::vector<OpResult>* results) {
    std::vector<std::function<void()>> notifications;
    results->assign(ops.size(), OpResult{});
    Code outcome = Code::kOk;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      outcome = Check(session);
      if (outcome != Code::kOk) return outcome;
      ++last_zxid_;
      // Ops apply one by one, each seeing the effect of the previous ones, as in ZooKeeper; on the
      // first failure the undo log puts the tree back and no watch fires.
      std::vector<std::function<void()>> undo;
      std::vector<std::function<void()>> staged;
      for (std::size_t i = 0; i < ops.size() && outcome == Code::kOk; ++i) {
        const Op& op = ops[i];
        OpResult& result = (*results)[i];
        switch (op.type) {
          case Op::Type::kCreate:
            result.code = CreateLocked(session, op.path, op.data, op.mode, &result.created_path,
                                       &staged, &undo);
            break;
          case Op::Type::kDelete:
            result.code = CheckDelete(op.path, op.version);
            if (result.code == Code::kOk) {
              undo.push_back(SnapshotForUndo(op.path));
              DeleteLocked(op.path, &staged, &undo);
            }
            break;
          case Op::Type::kSetData:
            result.code = CheckVersion(op.path, op.version);
            if (result.code == Code::kOk) SetLocked(op.path, op.data, &result.stat, &staged, &undo);
            break;
          case Op::Type::kCheck:
            result.code = CheckVersion(op.path, op.version);
            break;
        }
        outcome = result.code;
      }
      if (outcome != Code::kOk) {
        for (auto it = undo.rbegin(); it != undo.rend(); ++it) (*it)();
        --last_zxid_;
      } else {
        notifications = std::move(staged);
      }
    }
    Post(std::move(notifications));
    return outcome;
  }

 private:
  // Pending one-shot watches on paths, remembered with the session that set them.
  class WatchTable {
   public:
    void Add(const std::string& path, std::int64_t session, Watcher watcher) {
      watches_[path].emplace_back(session, std::move(watcher));
    }
    // Removes the path's watches and queues them for delivery. With an undo log (in a multi),
    // undoing puts them back: a multi that fails must leave its watches armed.
    void Fire(const std::string& path, EventType type,
              std::vector<std::function<void()>>* notifications,
              std::vector<std::function<void()>>* undo) {
      auto it = watches_.find(path);
      if (it == watches_.end()) return;
      for (auto& entry : it->second) {
        notifications->push_back([watcher = entry.second, type, path] {
          watcher(WatchEvent{type, path});
        });
      }
      if (undo != nullptr) {
        undo->push_back([this, path, removed = std::move(it->second)] {
          auto& list = watches_[path];
          list.insert(list.begin(), removed.begin(), removed.end());
        });
      }
      watches_.erase(it);
    }
    void DropSession(std::int64_t session) {
      for (auto it = watches_.begin(); it != watches_.end();) {
        auto& list = it->second;
        std::erase_if(list, [session](const auto& entry) { return entry.first == session; });
        it = list.empty() ? watches_.erase(it) : std::next(it);
      }
    }

   private:
    std::map<std::string, std::vector<std::pair<std::int64_t, Watcher>>> watches_;
  };

  struct SessionRecord {
    std::set<std::string> ephemerals;
    std::vector<SessionListener> listeners;
  };

  Code CheckVersion(const std::string& path, std::int32_t version) {
    if (!IsValidPath(path)) return Code::kBadArguments;
    auto it = nodes_.find(path);
    if (it == nodes_.end()) return Code::kNoNode;
    if (version != kAnyVersion && version != it->second.stat.version) return Code::kBadVersion;
    return Code::kOk;
  }

  Code CheckDelete(const std::string& path, std::int32_t version) {
    if (path == "/") return Code::kBadArguments;
    Code code = CheckVersion(path, version);
    if (code != Code::kOk) return code;
    return nodes_[path].children.empty() ? Code::kOk : Code::kNotEmpty;
  }

  Code CreateLocked(std::int64_t session, const std::string& requested_path,
                    const std::string& data, NodeMode mode, std::string* created_path,
                    std::vector<std::function<void()>>* notifications,
                    std::vector<std::function<void()>>* undo) {
    if (!IsValidPath(requested_path) || requested_path == "/") return Code::kBadArguments;
    std::string parent_path = ParentOf(requested_path);
    auto parent = nodes_.find(parent_path);
    if (parent == nodes_.end()) return Code::kNoNode;
    if (parent->second.stat.ephemeral_owner != 0) return Code::kNoChildrenForEphemerals;
    std::string path = requested_path;
    if (IsSequential(mode)) {
      char suffix[16];
      std::snprintf(suffix, sizeof(suffix), "%010d", parent->second.next_sequence);
      path += suffix;
    }
    if (nodes_.count(path) != 0) return Code::kNodeExists;
    if (undo != nullptr) {
      std::int32_t old_sequence = parent->second.next_sequence;
      std::int32_t old_cversion = parent->second.stat.cversion;
      undo->push_back([this, path, parent_path, old_sequence, old_cversion, session] {
        nodes_.erase(path);
        Node& restored_parent = nodes_[parent_path];
        restored_parent.children.erase(NameOf(path));
        restored_parent.next_sequence = old_sequence;
        restored_parent.stat.cversion = old_cversion;
        restored_parent.stat.num_children =
            static_cast<std::int32_t>(restored_parent.children.size());
        auto owner = sessions_.find(session);
        if (owner != sessions_.end()) owner->second.ephemerals.erase(path);
      });
    }
    ++parent->second.next_sequence;
    Node node;
    node.data = data;
    node.stat.czxid = node.stat.mzxid = last_zxid_;
    node.stat.ctime_ms = node.stat.mtime_ms = NowMs() + clock_offset_ms_;
    if (IsEphemeral(mode)) {
      node.stat.ephemeral_owner = session;
      sessions_[session].ephemerals.insert(path);
    }
    nodes_.emplace(path, std::move(node));
    parent->second.children.insert(NameOf(path));
    ++parent->second.stat.cversion;
    parent->second.stat.num_children = static_cast<std::int32_t>(parent->second.children.size());
    if (created_path != nullptr) *created_path = path;
    data_watches_.Fire(path, EventType::kCreated, notifications, undo);
    child_watches_.Fire(parent_path, EventType::kChildrenChanged, notifications, undo);
    return Code::kOk;
  }

  // REQUIRES: CheckDelete(path) was kOk.
  void DeleteLocked(const std::string& path, std::vector<std::function<void()>>* notifications,
                    std::vector<std::function<void()>>* undo) {
    auto it = nodes_.find(path);
    if (it->second.stat.ephemeral_owner != 0) {
      auto owner = sessions_.find(it->second.stat.ephemeral_owner);
      if (owner != sessions_.end()) owner->second.ephemerals.erase(path);
    }
    nodes_.erase(it);
    std::string parent_path = ParentOf(path);
    Node& parent = nodes_[parent_path];
    parent.children.erase(NameOf(path));
    ++parent.stat.cversion;
    parent.stat.num_children = static_cast<std::int32_t>(parent.children.size());
    data_watches_.Fire(path, EventType::kDeleted, notifications, undo);
    child_watches_.Fire(path, EventType::kDeleted, notifications, undo);
    child_watches_.Fire(parent_path, EventType::kChildrenChanged, notifications, undo);
  }

  // An undo action that re-inserts a node about to be deleted.
  std::function<void()> SnapshotForUndo(const std::string& path) {
    Node saved = nodes_[path];
    std::string parent_path = ParentOf(path);
    Stat parent_stat = nodes_[parent_path].stat;
    return [this, path, parent_path, saved, parent_stat] {
      nodes_[path] = saved;
      Node& parent = nodes_[parent_path];
      parent.children.insert(NameOf(path));
      parent.stat = parent_stat;
      if (saved.stat.ephemeral_owner != 0) {
        auto owner = sessions_.find(saved.stat.ephemeral_owner);
        if (owner != sessions_.end()) owner->second.ephemerals.insert(path);
      }
    };
  }

  void SetLocked(const std::string& path, const std::string& data, Stat* stat,
                 std::vector<std::function<void()>>* notifications,
                 std::vector<std::function<void()>>* undo) {
    Node& node = nodes_[path];
    if (undo != nullptr) {
      undo->push_back([this, path, old_data = node.data, old_stat = node.stat] {
        Node& restored = nodes_[path];
        restored.data = old_data;
        restored.stat = old_stat;
      });
    }
    node.data = data;
    node.stat.mzxid = last_zxid_;
    node.stat.mtime_ms = NowMs() + clock_offset_ms_;
    ++node.stat.version;
    if (stat != nullptr) *stat = node.stat;
    data_watches_.Fire(path, EventType::kDataChanged, notifications, undo);
  }

  void Post(std::vector<std::function<void()>> notifications) {
    if (notifications.empty()) return;
    {
      std::lock_guard<std::mutex> lock(events_mutex_);
      for (auto& notification : notifications) events_.push_back(std::move(notification));
    }
    events_changed_.notify_one();
  }

  void RunEvents() {
    std::unique_lock<std::mutex> lock(events_mutex_);
    while (true) {
      events_changed_.wait(lock, [this] { return stopping_ || !events_.empty(); });
      if (events_.empty()) return;  // stopping, and everything queued was delivered
      std::function<void()> event = std::move(events_.front());
      events_.pop_front();
      lock.unlock();
      event();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::map<std::string, Node> nodes_;
  std::map<std::int64_t, SessionRecord> sessions_;
  std::map<std::int64_t, SessionState> ended_sessions_;
  WatchTable data_watches_;
  WatchTable child_watches_;
  std::int64_t last_zxid_ = 0;
  std::atomic<std::int64_t> clock_offset_ms_{0};
  std::int64_t last_session_id_ = 0;

  std::mutex events_mutex_;
  std::condition_variable events_changed_;
  std::deque<std::function<void()>> events_;
  bool stopping_ = false;
  std::thread event_thread_;  // last: starts after everything it uses exists
};

class EmbeddedStore::Session : public Registry {
 public:
  explicit Session(std::shared_ptr<EmbeddedStore::State> state)
      : state_(std::move(state)), id_(state_->OpenSession()) {}
  ~Session() override { state_->EndSession(id_, SessionState::kClosed); }

  Code Create(const std::string& path, const std::string& data, NodeMode mode,
              std::string* created_path) override {
    ++requests_;
    return state_->Create(id_, path, data, mode, created_path);
  }
  Code Delete(const std::string& path, std::int32_t version) override {
    ++requests_;
    return state_->Delete(id_, path, version);
  }
  Code Exists(const std::string& path, Stat* stat, Watcher watcher) override {
    ++requests_;
    return state_->Read(id_, path, nullptr, stat, std::move(watcher), true);
  }
  Code Get(const std::string& path, std::string* data, Stat* stat, Watcher watcher) override {
    ++requests_;
    return state_->Read(id_, path, data, stat, std::move(watcher), false);
  }
  Code Set(const std::string& path, const std::string& data, std::int32_t version,
           Stat* stat) override {
    ++requests_;
    return state_->Set(id_, path, data, version, stat);
  }
  Code GetChildren(const std::string& path, std::vector<std::string>* children,
                   Watcher watcher) override {
    ++requests_;
    return state_->GetChildren(id_, path, children, std::move(watcher));
  }
  Code Multi(const std::vector<Op>& ops, std::vector<OpResult>* results) override {
    ++requests_;
    return state_->Multi(id_, ops, results);
  }
  std::int64_t SessionId() const override { return id_; }
  SessionState State() const override { return state_->StateOf(id_); }
  void AddSessionListener(SessionListener listener) override {
    state_->AddSessionListener(id_, std::move(listener));
  }
  std::uint64_t RequestCount() const override { return requests_.load(); }

 private:
  std::shared_ptr<EmbeddedStore::State> state_;
  std::int64_t id_;
  std::atomic<std::uint64_t> requests_{0};
};

EmbeddedStore::EmbeddedStore() : state_(std::make_shared<State>()) {}
EmbeddedStore::~EmbeddedStore() = default;

std::unique_ptr<Registry> EmbeddedStore::OpenSession() { return std::make_unique<Session>(state_); }

void EmbeddedStore::SetClockOffsetForTest(std::chrono::milliseconds offset) {
  state_->SetClockOffset(offset.count());
}

void EmbeddedStore::ExpireSession(std::int64_t session_id) {
  state_->EndSession(session_id, SessionState::kExpired);
}

}  // namespace shardjob::registry
