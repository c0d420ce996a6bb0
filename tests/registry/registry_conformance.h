#pragma once

// What every Registry implementation must do alike, written once and run against each of them
// (value-parameterized over a small backend factory): versions and error codes, sequential names,
// zxids and stats, ephemerals, atomic multi, one-shot watches on an event thread. Each test works
// under its own root path, so backends that keep a tree between tests (a real ZooKeeper server)
// need no cleanup. Behaviour that differs (session expiry, ZooKeeper's own path rules) is tested
// per implementation.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "registry/registry.h"

namespace shardjob::registry::conformance {

// Bounds every wait; a passing test never comes near it.
inline constexpr auto kTimeout = std::chrono::seconds(10);

// Collects watch events and session states as they are delivered, and waits for them (bounded).
class Recorder {
 public:
  struct Record {
    std::string tag;
    WatchEvent event;
    std::thread::id thread;
  };

  Watcher Watch(std::string tag) {
    return [this, tag](const WatchEvent& event) {
      std::lock_guard<std::mutex> lock(mutex_);
      records_.push_back(Record{tag, event, std::this_thread::get_id()});
      changed_.notify_all();
    };
  }

  SessionListener Listen() {
    return [this](SessionState state) { AddState(state); };
  }

  void AddState(SessionState state) {
    std::lock_guard<std::mutex> lock(mutex_);
    states_.push_back(state);
    changed_.notify_all();
  }

  bool WaitForEvents(std::size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, kTimeout, [&] { return records_.size() >= count; });
  }

  bool WaitForStates(std::size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, kTimeout, [&] { return states_.size() >= count; });
  }

  // Waits until `state` has been seen after `after` was (or at all, when `after` is null).
  bool WaitForStateAfter(SessionState state, const SessionState* after = nullptr) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, kTimeout, [&] {
      auto from = states_.begin();
      if (after != nullptr) {
        from = std::find(states_.begin(), states_.end(), *after);
        if (from == states_.end()) return false;
      }
      return std::find(from, states_.end(), state) != states_.end();
    });
  }

  std::vector<Record> Events() {
    std::lock_guard<std::mutex> lock(mutex_);
    return records_;
  }

  std::size_t CountOf(const std::string& tag) {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<std::size_t>(std::count_if(records_.begin(), records_.end(),
                                                  [&](const Record& r) { return r.tag == tag; }));
  }

  std::vector<SessionState> States() {
    std::lock_guard<std::mutex> lock(mutex_);
    return states_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Record> records_;
  std::vector<SessionState> states_;
};

// One implementation under test: sessions it opens share one tree.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::unique_ptr<Registry> OpenSession() = 0;
};

struct BackendFactory {
  std::string name;
  std::function<std::unique_ptr<Backend>()> make;
  // Writers per thread in the many-threads test: a real server is slower than memory.
  int increments_per_thread = 100;
};

// For test names and failure messages.
inline void PrintTo(const BackendFactory& factory, std::ostream* out) { *out << factory.name; }

class RegistryConformanceTest : public ::testing::TestWithParam<BackendFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // `relative` ("/a/b") under this test's root.
  std::string P(const std::string& relative) const { return root_ + relative; }

  // Returns once every watch event `session` was owed before the call has been delivered: events
  // reach a session in order, so a watch of its own that it triggers now fires after all of them.
  void Drain(Registry& session);

  Stat StatOf(const std::string& path);
  std::string DataOf(const std::string& path);
  std::vector<std::string> ChildrenOf(const std::string& path);

  Recorder recorder_;  // outlives the sessions, whose event threads call it
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Registry> a_;
  std::unique_ptr<Registry> b_;
  std::string root_;
  int drains_ = 0;
};

}  // namespace shardjob::registry::conformance
