#include "execution/trace_dispatcher.h"

#include <condition_variable>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace shardjob::execution {
namespace {

using testing::WaitUntil;

std::string TaskIdOf(const spi::TraceEvent& event) {
  return std::visit([](const auto& e) { return e.task_id; }, event);
}

spi::StatusEvent Status(const std::string& task_id) {
  spi::StatusEvent event;
  event.task_id = task_id;
  return event;
}

// A store that can be held (a slow database), switched off (a dead one) or made to refuse.
class ScriptedTracer : public spi::Tracer {
 public:
  spi::Status Write(const std::vector<spi::TraceEvent>& events) noexcept override {
    std::unique_lock<std::mutex> lock(mutex_);
    ++calls_;
    ++inside_;
    changed_.notify_all();
    changed_.wait(lock, [this] { return !held_; });
    --inside_;
    if (!available_) return spi::Status::Unavailable("connection refused");
    if (refuse_next_) {
      refuse_next_ = false;
      return spi::Status::InvalidArgument("value too long");
    }
    for (const auto& event : events) {
      if (TaskIdOf(event) == refused_id_) return spi::Status::InvalidArgument("bad value");
    }
    for (const auto& event : events) stored_.push_back(TaskIdOf(event));
    return spi::Status::Ok();
  }

  void Hold(bool held) {
    std::lock_guard<std::mutex> lock(mutex_);
    held_ = held;
    changed_.notify_all();
  }
  void SetAvailable(bool available) {
    std::lock_guard<std::mutex> lock(mutex_);
    available_ = available;
  }
  void RefuseNext() {
    std::lock_guard<std::mutex> lock(mutex_);
    refuse_next_ = true;
  }
  // Refuses every batch holding this event, as a store refuses a value it cannot hold.
  void RefuseEvent(const std::string& task_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    refused_id_ = task_id;
  }
  int inside() {
    std::lock_guard<std::mutex> lock(mutex_);
    return inside_;
  }
  int calls() {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }
  std::vector<std::string> stored() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stored_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool held_ = false;
  bool available_ = true;
  bool refuse_next_ = false;
  std::string refused_id_;
  int inside_ = 0;
  int calls_ = 0;
  std::vector<std::string> stored_;
};

TraceDispatcherOptions Small(std::size_t capacity) {
  TraceDispatcherOptions options;
  options.capacity = capacity;
  options.max_batch = 2;
  options.min_backoff = std::chrono::milliseconds(5);
  options.max_backoff = std::chrono::milliseconds(20);
  options.drain_timeout = std::chrono::milliseconds(200);
  return options;
}

TEST(TraceDispatcherTest, ASlowStoreNeverBlocksPostAndOnlyEventsBeyondTheBoundAreDropped) {
  auto tracer = std::make_shared<ScriptedTracer>();
  tracer->Hold(true);
  {
    TraceDispatcher traces(tracer, Small(3));
    traces.Post(Status("first"));  // taken as a batch of one; the tracer holds it
    ASSERT_TRUE(WaitUntil([&] { return tracer->inside() == 1; }));
    for (const char* id : {"second", "third", "fourth", "fifth"}) traces.Post(Status(id));
    TraceCounters counters = traces.Counters();
    EXPECT_EQ(counters.queue_depth, 3u);  // the batch being written counts against the bound
    EXPECT_EQ(counters.dropped, 2u);
    tracer->Hold(false);
  }  // the destructor writes what is buffered
  EXPECT_EQ(tracer->stored(), (std::vector<std::string>{"first", "second", "third"}));
}

TEST(TraceDispatcherTest, AnOutageInsideTheBoundLosesNothingAndKeepsTheOrder) {
  auto tracer = std::make_shared<ScriptedTracer>();
  tracer->SetAvailable(false);
  TraceDispatcher traces(tracer, Small(10));
  std::vector<std::string> posted;
  for (int i = 0; i < 10; ++i) {
    posted.push_back("event-" + std::to_string(i));
    traces.Post(Status(posted.back()));
  }
  ASSERT_TRUE(WaitUntil([&] { return tracer->calls() >= 3; }));  // retried while down
  TraceCounters down = traces.Counters();
  EXPECT_FALSE(down.store_available);
  EXPECT_EQ(down.queue_depth, 10u);
  EXPECT_GE(down.retries, 2u);
  traces.Post(Status("over-the-bound"));
  EXPECT_EQ(traces.Counters().dropped, 1u);

  tracer->SetAvailable(true);
  ASSERT_TRUE(WaitUntil([&] { return traces.Counters().written == 10; }));
  EXPECT_EQ(tracer->stored(), posted);
  TraceCounters up = traces.Counters();
  EXPECT_TRUE(up.store_available);
  EXPECT_EQ(up.queue_depth, 0u);
  EXPECT_EQ(up.dropped, 1u);
}

TEST(TraceDispatcherTest, ABatchTheStoreRefusesIsDroppedAndCountedAndTheNextIsWritten) {
  auto tracer = std::make_shared<ScriptedTracer>();
  tracer->Hold(true);
  TraceDispatcher traces(tracer, Small(10));
  traces.Post(Status("refused"));
  ASSERT_TRUE(WaitUntil([&] { return tracer->inside() == 1; }));
  tracer->RefuseNext();
  traces.Post(Status("kept"));
  tracer->Hold(false);
  ASSERT_TRUE(WaitUntil([&] { return traces.Counters().written == 1; }));
  EXPECT_EQ(tracer->stored(), std::vector<std::string>{"kept"});
  EXPECT_EQ(traces.Counters().rejected, 1u);
  EXPECT_EQ(traces.Counters().retries, 0u);
}

TEST(TraceDispatcherTest, ARefusedBatchLosesOnlyTheEventTheStoreRefusesAlone) {
  auto tracer = std::make_shared<ScriptedTracer>();
  tracer->RefuseEvent("bad");
  tracer->Hold(true);
  TraceDispatcher traces(tracer, Small(10));
  traces.Post(Status("first"));  // held, so the next ones queue up: [good, bad] is one batch
  ASSERT_TRUE(WaitUntil([&] { return tracer->inside() == 1; }));
  for (const char* id : {"good", "bad", "after"}) traces.Post(Status(id));
  tracer->Hold(false);
  ASSERT_TRUE(WaitUntil([&] { return traces.Counters().written == 3; }));
  EXPECT_EQ(tracer->stored(), (std::vector<std::string>{"first", "good", "after"}));
  EXPECT_EQ(traces.Counters().rejected, 1u);
  EXPECT_EQ(traces.Counters().queue_depth, 0u);
}

TEST(TraceDispatcherTest, AtShutdownADeadStoreIsGivenTheDrainTimeoutThenTheRestIsCounted) {
  auto tracer = std::make_shared<ScriptedTracer>();
  tracer->SetAvailable(false);
  auto traces = std::make_unique<TraceDispatcher>(tracer, Small(10));
  for (int i = 0; i < 5; ++i) traces->Post(Status("event"));
  ASSERT_TRUE(WaitUntil([&] { return tracer->calls() >= 1; }));
  traces.reset();  // returns: the drain is bounded
  EXPECT_TRUE(tracer->stored().empty());
}

TEST(TraceDispatcherTest, WithoutATracerEventsAreDiscardedUncounted) {
  TraceDispatcher traces(nullptr, Small(1));
  for (int i = 0; i < 3; ++i) traces.Post(Status("event"));
  EXPECT_FALSE(traces.enabled());
  EXPECT_EQ(traces.Counters().dropped, 0u);
}

}  // namespace
}  // namespace shardjob::execution
