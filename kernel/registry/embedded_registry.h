#pragma once

// The registry for a single process: ZooKeeper's semantics (versions, ephemeral and sequential
// nodes, atomic multi, one-shot watches delivered on one event thread) held in memory. It lets one
// shardjob process run sharded jobs with no server, and runs the same coordination code as
// ZooKeeper does.

#include <chrono>
#include <cstdint>
#include <memory>

#include "registry/registry.h"

namespace shardjob::registry {

class EmbeddedStore {
 public:
  EmbeddedStore();
  ~EmbeddedStore();
  EmbeddedStore(const EmbeddedStore&) = delete;
  EmbeddedStore& operator=(const EmbeddedStore&) = delete;

  // A new session on this store. The store must outlive every session.
  std::unique_ptr<Registry> OpenSession();
  // Ends a session as ZooKeeper's expiry does: its ephemeral nodes go, watches on them fire, and
  // the session reports kExpired; every later call on it returns kSessionExpired.
  void ExpireSession(std::int64_t session_id);
  // Stamps node times `offset` ahead of this host's clock, as a registry whose clock is skewed
  // would (tests of max_time_diff_seconds).
  void SetClockOffsetForTest(std::chrono::milliseconds offset);

 private:
  class State;
  class Session;
  std::shared_ptr<State> state_;
};

}  // namespace shardjob::registry
