#include "app/process_presence.h"

#include <stdexcept>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

namespace shardjob::app {

using registry::Code;
using registry::NodeMode;

namespace {
// Folders of gone processes removed per start: enough to keep up, bounded in time.
constexpr std::size_t kMaxFoldersRemovedPerStart = 100;
}  // namespace

ProcessPresence::ProcessPresence(registry::Registry& registry, coordination::EventLoop& loop,
                                 std::string root, operations::ProcessInfo info,
                                 CommandHandler on_command)
    : registry_(registry),
      loop_(loop),
      root_(std::move(root)),
      info_(std::move(info)),
      on_command_(std::move(on_command)) {}

std::string ProcessPresence::NodePath() const {
  return operations::ProcessNodePath(root_, info_.id);
}

std::string ProcessPresence::FolderPath() const {
  return operations::CommandsPath(root_, info_.id);
}

void ProcessPresence::Start() {
  // The node first: the folder of a process with no node is taken for a gone process's.
  Code code = Register();
  if (code != Code::kOk) {
    throw std::runtime_error(
        "cannot register this process at " + NodePath() +
        " in the registry: " + registry::CodeName(code) +
        (code == Code::kNodeExists ? " (another live process has this id)" : ""));
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    registered_ = true;
  }
  // Requests left for an earlier process with the same (configured) id are not for this one.
  code = registry::DeleteTree(registry_, FolderPath());
  if (code == Code::kOk) code = registry::EnsurePath(registry_, FolderPath());
  if (code != Code::kOk) {
    throw std::runtime_error("cannot create " + FolderPath() +
                             " in the registry: " + registry::CodeName(code));
  }
  RemoveFoldersOfGoneProcesses();
  std::weak_ptr<ProcessPresence> weak = weak_from_this();
  registry_.AddSessionListener([weak, loop = &loop_](registry::SessionState state) {
    loop->Post([weak, state] {
      if (auto self = weak.lock()) self->OnSessionState(state);
    });
  });
  loop_.Post([weak] {
    if (auto self = weak.lock()) self->ReadCommands();
  });
}

Code ProcessPresence::Register() {
  Code code = registry::EnsurePath(registry_, root_ + "/instances");
  if (code != Code::kOk) return code;
  code = registry_.Create(NodePath(), operations::FormatProcessInfo(info_), NodeMode::kEphemeral,
                          nullptr);
  if (code != Code::kNodeExists) return code;
  // Ours (the session survived), or another process's that was given our configured id.
  registry::Stat stat;
  code = registry_.Exists(NodePath(), &stat, nullptr);
  if (code != Code::kOk) return code;
  if (stat.ephemeral_owner == registry_.SessionId()) return Code::kOk;
  spdlog::error("instance={} another live process registered the same instance id at {}", info_.id,
                NodePath());
  return Code::kNodeExists;
}

void ProcessPresence::RemoveFoldersOfGoneProcesses() {
  std::vector<std::string> folders;
  if (registry_.GetChildren(root_ + "/commands", &folders, nullptr) != Code::kOk) return;
  std::size_t removed = 0;
  for (const std::string& id : folders) {
    if (removed == kMaxFoldersRemovedPerStart) break;
    if (registry_.Exists(operations::ProcessNodePath(root_, id), nullptr, nullptr) !=
        Code::kNoNode) {
      continue;
    }
    if (registry::DeleteTree(registry_, operations::CommandsPath(root_, id), 1000) == Code::kOk) {
      ++removed;
    }
  }
}

void ProcessPresence::OnSessionState(registry::SessionState state) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;
  }
  if (state == registry::SessionState::kExpired) session_lost_ = true;
  if (state != registry::SessionState::kConnected) return;
  const bool session_changed = session_lost_;
  session_lost_ = false;
  // After an expiry the node is gone and the watch with it; after a mere disconnection a read
  // that failed meanwhile did not re-arm it. Either way: register (a no-op for a live node) and
  // read again, unless the watch is still set (one more would fire twice).
  Code code = Register();
  if (code != Code::kOk) {
    spdlog::error("instance={} cannot register again at {}: {}", info_.id, NodePath(),
                  registry::CodeName(code));
  }
  if (session_changed || !watch_armed_) ReadCommands();
}

void ProcessPresence::ReadCommands() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;
  }
  std::weak_ptr<ProcessPresence> weak = weak_from_this();
  std::vector<std::string> names;
  Code code = registry_.GetChildren(FolderPath(), &names, [weak, loop = &loop_](const auto&) {
    loop->Post([weak] {
      if (auto self = weak.lock()) {
        self->watch_armed_ = false;
        self->ReadCommands();
      }
    });
  });
  watch_armed_ = code == Code::kOk;
  if (code == Code::kNoNode) {
    // Removed by hand or by a process that took us for gone: make it again, and watch it.
    if (registry::EnsurePath(registry_, FolderPath()) == Code::kOk) {
      loop_.Post([weak] {
        if (auto self = weak.lock()) self->ReadCommands();
      });
    }
    return;
  }
  if (code != Code::kOk) {
    spdlog::warn("instance={} cannot read its requests at {}: {}; reading again on reconnection",
                 info_.id, FolderPath(), registry::CodeName(code));
    return;
  }
  for (const std::string& name : names) {
    const std::string path = FolderPath() + "/" + name;
    std::string data;
    if (registry_.Get(path, &data, nullptr, nullptr) != Code::kOk) continue;
    // Deleted before it is obeyed: a request is carried out at most once.
    Code deleted = registry_.Delete(path, registry::kAnyVersion);
    if (deleted != Code::kOk) continue;
    std::optional<operations::InstanceCommand> command = operations::ParseCommand(data);
    if (!command) {
      spdlog::error("instance={} ignoring an unknown request at {}: {}", info_.id, path, data);
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopped_) return;
    }
    on_command_(*command);
  }
}

void ProcessPresence::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    // A start that failed (the id is another live process's) leaves that process's nodes alone.
    if (!registered_) return;
  }
  Code code = registry::DeleteTree(registry_, FolderPath(), 1000);
  if (code != Code::kOk) {
    spdlog::warn("instance={} could not remove {}: {}", info_.id, FolderPath(),
                 registry::CodeName(code));
  }
  code = registry_.Delete(NodePath(), registry::kAnyVersion);
  if (code != Code::kOk && code != Code::kNoNode) {
    spdlog::warn("instance={} could not remove {}: {}", info_.id, NodePath(),
                 registry::CodeName(code));
  }
}

}  // namespace shardjob::app
