#pragma once

// The one thread per process on which coordination reacts to registry events. Watchers only
// post here: they run on the registry's own event thread, where a blocking registry call would
// deadlock the ZooKeeper client.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace shardjob::coordination {

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();  // runs what is queued, then joins
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  void Post(std::function<void()> task);
  // Runs `task` on the loop once `delay` has passed (or when the loop stops, whichever is first:
  // delayed tasks must check whether they still matter).
  void PostAfter(std::chrono::milliseconds delay, std::function<void()> task);

 private:
  void Run();

  std::mutex mutex_;
  std::condition_variable queued_;
  std::deque<std::function<void()>> tasks_;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> delayed_;
  bool stopping_ = false;
  std::thread thread_;  // last
};

}  // namespace shardjob::coordination
