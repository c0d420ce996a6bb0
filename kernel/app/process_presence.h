#pragma once

// This process in the registry, besides its jobs: the ephemeral node that says it is alive
// (/<ns>/instances/<id>, what `ctl instances` lists) and the folder where operators leave it
// requests (/<ns>/commands/<id>), which it watches and obeys. Both come back after the session
// expires and a new one starts.

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "coordination/event_loop.h"
#include "operations/instance_commands.h"
#include "registry/registry.h"

namespace shardjob::app {

class ProcessPresence : public std::enable_shared_from_this<ProcessPresence> {
 public:
  // Called on the event loop, once per request, in the order they were left; must not block.
  using CommandHandler = std::function<void(const operations::InstanceCommand&)>;

  ProcessPresence(registry::Registry& registry, coordination::EventLoop& loop, std::string root,
                  operations::ProcessInfo info, CommandHandler on_command);

  // Creates the node and the folder (dropping requests left for an earlier process of the same
  // id, and the folders of processes that are gone), and starts watching. Throws
  // std::runtime_error naming the path when the registry refuses.
  void Start();
  // Deletes the node and the folder; later events are ignored. Idempotent.
  void Stop();

 private:
  std::string NodePath() const;
  std::string FolderPath() const;
  registry::Code Register();
  void RemoveFoldersOfGoneProcesses();
  void ReadCommands();  // on the loop
  void OnSessionState(registry::SessionState state);

  registry::Registry& registry_;
  coordination::EventLoop& loop_;
  const std::string root_;
  const operations::ProcessInfo info_;
  const CommandHandler on_command_;

  // Event loop only.
  bool watch_armed_ = false;   // the folder's watch is set
  bool session_lost_ = false;  // an expiry since the last connection

  std::mutex mutex_;
  bool stopped_ = false;
  bool registered_ = false;
};

}  // namespace shardjob::app
