// The sender's queue, retries and shutdown, with a scripted channel in place of the network.

#include "plugins/error-handlers/common/alert_sender.h"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plugins/error-handlers/common/alert_text.h"
#include "plugins/error-handlers/common/alerting_error_handler.h"
#include "tests/alerts/test_logger.h"

namespace shardjob::error_handlers {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

constexpr std::chrono::seconds kPatience(10);

// What the scripted channel did, shared with the test (the sender owns the channel).
struct Script {
  std::mutex mutex;
  std::condition_variable changed;
  int failures = 0;  // attempts to fail before succeeding
  bool block = false;
  int attempts = 0;
  std::vector<std::string> delivered;  // the messages of the alerts delivered

  // Waits (bounded) for `done` to hold, under the lock.
  template <typename Predicate>
  bool WaitUntil(Predicate done) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, kPatience, done);
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mutex);
    block = false;
    changed.notify_all();
  }
};

class ScriptedChannel : public AlertChannel {
 public:
  explicit ScriptedChannel(std::shared_ptr<Script> script) : script_(std::move(script)) {}

  spi::Status Deliver(const Alert& alert, const std::atomic<bool>& abort) override {
    std::unique_lock<std::mutex> lock(script_->mutex);
    ++script_->attempts;
    script_->changed.notify_all();
    // Like libcurl, notices the abort flag by looking at it now and then.
    while (script_->block && !abort) script_->changed.wait_for(lock, milliseconds(5));
    if (abort) return spi::Status::Cancelled("aborted");
    if (script_->failures > 0) {
      --script_->failures;
      return spi::Status::Failed("receiver said 500");
    }
    script_->delivered.push_back(alert.error.message);
    script_->changed.notify_all();
    return spi::Status::Ok();
  }

 private:
  std::shared_ptr<Script> script_;
};

Alert MakeAlert(const std::string& message) {
  return Alert{spi::JobError{"order-sync", "1700000000000", 2, "host@1@ab", message},
               std::chrono::system_clock::now()};
}

class AlertSenderTest : public ::testing::Test {
 protected:
  std::unique_ptr<AlertSender> MakeSender() {
    return std::make_unique<AlertSender>(std::make_unique<ScriptedChannel>(script_), options_,
                                         logger_);
  }

  std::shared_ptr<Script> script_ = std::make_shared<Script>();
  SenderOptions options_ = [] {
    SenderOptions options;
    options.backoff = milliseconds(1);
    return options;
  }();
  RecordingLogger logger_;
};

TEST_F(AlertSenderTest, RetriesWithBackoffUntilDelivered) {
  script_->failures = 2;
  options_.max_attempts = 3;
  auto sender = MakeSender();
  ASSERT_TRUE(sender->Enqueue(MakeAlert("exit code 3")));
  ASSERT_TRUE(script_->WaitUntil([&] { return script_->delivered.size() == 1; }));
  EXPECT_EQ(script_->attempts, 3);
  ASSERT_TRUE(logger_.WaitFor("delivered on attempt 3"));
  EXPECT_TRUE(logger_.Has("attempt 1 of 3 failed (fire=1700000000000 shard=2): receiver said 500"));
  EXPECT_TRUE(logger_.Has("attempt 2 of 3 failed"));
  EXPECT_TRUE(logger_.Has("next attempt in 1 ms"));
  EXPECT_TRUE(logger_.Has("next attempt in 2 ms"));  // the backoff doubles
}

TEST_F(AlertSenderTest, GivesUpAfterMaxAttemptsAndLogsTheErrorItself) {
  script_->failures = 100;
  options_.max_attempts = 2;
  auto sender = MakeSender();
  ASSERT_TRUE(sender->Enqueue(MakeAlert("disk full on /data")));
  ASSERT_TRUE(logger_.WaitFor("alert not delivered"));
  sender.reset();
  EXPECT_EQ(script_->attempts, 2);
  bool found = false;
  for (const auto& [level, line] : logger_.Lines()) {
    if (line.find("alert not delivered") == std::string::npos) continue;
    found = true;
    EXPECT_EQ(level, spi::LogLevel::kError);
    EXPECT_THAT(line, HasSubstr("disk full on /data"));
    EXPECT_THAT(line, HasSubstr("instance=host@1@ab"));
    EXPECT_THAT(line, HasSubstr("2 attempt(s) failed, the last: receiver said 500"));
  }
  EXPECT_TRUE(found);
}

TEST_F(AlertSenderTest, AFullQueueDropsTheAlertAndSaysSo) {
  script_->block = true;
  options_.queue_size = 1;
  auto sender = MakeSender();
  ASSERT_TRUE(sender->Enqueue(MakeAlert("first")));
  // The first is in flight (blocked), so the second waits in the queue and fills it.
  ASSERT_TRUE(script_->WaitUntil([&] { return script_->attempts == 1; }));
  ASSERT_TRUE(sender->Enqueue(MakeAlert("second")));
  EXPECT_FALSE(sender->Enqueue(MakeAlert("third")));
  EXPECT_TRUE(logger_.Has("alert dropped, the alert queue is full (1 waiting)"));
  EXPECT_TRUE(logger_.Has("third (1 dropped so far)"));
  script_->Release();
  ASSERT_TRUE(script_->WaitUntil([&] { return script_->delivered.size() == 2; }));
  EXPECT_EQ(script_->delivered, (std::vector<std::string>{"first", "second"}));
}

TEST_F(AlertSenderTest, StoppingDeliversWhatIsQueued) {
  options_.shutdown_timeout = std::chrono::seconds(30);
  auto sender = MakeSender();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(sender->Enqueue(MakeAlert("alert " + std::to_string(i))));
  sender.reset();
  EXPECT_EQ(script_->delivered.size(), 5u);
  EXPECT_FALSE(logger_.Has("dropped"));
}

TEST_F(AlertSenderTest, StoppingGivesUpOnADeadReceiverAfterTheShutdownTimeout) {
  script_->block = true;  // never released: a receiver that accepts and never answers
  options_.shutdown_timeout = milliseconds(50);
  auto sender = MakeSender();
  ASSERT_TRUE(sender->Enqueue(MakeAlert("in flight")));
  ASSERT_TRUE(script_->WaitUntil([&] { return script_->attempts == 1; }));
  ASSERT_TRUE(sender->Enqueue(MakeAlert("queued")));
  sender.reset();  // returns: the attempt in flight is aborted
  EXPECT_TRUE(logger_.Has("in flight): the handler stopped before it got through"));
  EXPECT_TRUE(logger_.Has("1 queued alert(s) dropped: not sent within the 50 ms shutdown timeout"));
  EXPECT_TRUE(script_->delivered.empty());
}

TEST_F(AlertSenderTest, HandleReturnsAtOnceWhileTheReceiverHangs) {
  script_->block = true;
  options_.queue_size = 2;
  options_.shutdown_timeout = milliseconds(0);
  AlertingErrorHandler handler(std::make_unique<ScriptedChannel>(script_), options_, logger_);
  spi::JobError error{"order-sync", "1700000000000", 1, "host@1@ab", "exit code 1"};
  // One in flight, two queued, the rest dropped: every call returns OK, none waits.
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(handler.Handle(error).ok());
  ASSERT_TRUE(script_->WaitUntil([&] { return script_->attempts == 1; }));
  EXPECT_TRUE(logger_.Has("dropped so far"));
}

TEST_F(AlertSenderTest, HandleStampsTheAlertWithTheTimeOfTheError) {
  struct Stamp : AlertChannel {
    std::mutex mutex;
    std::condition_variable seen;
    std::chrono::system_clock::time_point time{};
    spi::Status Deliver(const Alert& alert, const std::atomic<bool>&) override {
      std::lock_guard<std::mutex> lock(mutex);
      time = alert.time;
      seen.notify_all();
      return spi::Status::Ok();
    }
  };
  auto channel = std::make_unique<Stamp>();
  Stamp* stamp = channel.get();
  auto before = std::chrono::system_clock::now();
  AlertingErrorHandler handler(std::move(channel), options_, logger_);
  ASSERT_TRUE(handler.Handle(spi::JobError{"j", "", -1, "i", "m"}).ok());
  auto after = std::chrono::system_clock::now();
  std::unique_lock<std::mutex> lock(stamp->mutex);
  ASSERT_TRUE(
      stamp->seen.wait_for(lock, kPatience, [&] { return stamp->time != decltype(before){}; }));
  EXPECT_GE(stamp->time, before);
  EXPECT_LE(stamp->time, after);
}

TEST(AlertTextTest, FormatsTimesInUtcWithMilliseconds) {
  std::chrono::system_clock::time_point time{milliseconds(1700000000123)};
  EXPECT_EQ(FormatIsoUtc(time), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(EpochMillis(time), 1700000000123);
  EXPECT_EQ(FormatIsoUtc(std::chrono::system_clock::time_point{milliseconds(-1)}),
            "1969-12-31T23:59:59.999Z");
}

TEST(AlertTextTest, KeepsElasticJobsFirstLineAndAddsTheFireShardAndInstance) {
  Alert alert{spi::JobError{"order-sync", "1700000000000", 2, "host@1@ab", "exit code 3"},
              std::chrono::system_clock::time_point{milliseconds(1700000000123)}};
  EXPECT_EQ(AlertText(alert),
            "Job 'order-sync' exception occur in job processing, caused by exit code 3\n"
            "fire: 1700000000000, shard: 2, instance: host@1@ab, time: 2023-11-14T22:13:20.123Z");
  alert.error.fire_id.clear();
  alert.error.sharding_item = -1;
  EXPECT_EQ(AlertText(alert),
            "Job 'order-sync' exception occur in job processing, caused by exit code 3\n"
            "instance: host@1@ab, time: 2023-11-14T22:13:20.123Z");
  EXPECT_EQ(AlertLabel(alert.error), "(not about one fire)");
}

}  // namespace
}  // namespace shardjob::error_handlers
