// IsolatedExecutor on its own, without an instance: what the kernel's flags do to a task that
// runs in a task runner process, what it is told of its shard, and its checkpoint, saved through
// the instance.

#include "isolation/isolated_executor.h"

#include <poll.h>
#include <sys/socket.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/job_config_json.h"
#include "isolation/runner_location.h"
#include "isolation/task_process.h"
#include "isolation/task_protocol.h"
#include "shardjob/spi/cancellation.h"
#include "shardjob/spi/checkpoint.h"
#include "shardjob/spi/sharding_context.h"
#include "support/test_support.h"

namespace shardjob::isolation {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// The example DATAFLOW job streaming a backlog of a million orders, one per round: it only ends
// early if it is told to.
IsolatedExecutor::Options StreamingArchiveJob() {
  config::JobConfig job;
  job.name = "archive";
  job.job_class = "EXAMPLE_ORDER_ARCHIVE";
  job.props = {
      {"streaming.process", "true"}, {"example.backlog", "1000000"}, {"example.batch.size", "1"}};
  IsolatedExecutor::Options options;
  std::string why;
  options.runner = FindTaskRunner(&why);
  options.libraries = {SHARDJOB_PLUGIN_DIR "/shardjob_executor_dataflow.so",
                       SHARDJOB_PLUGIN_DIR "/shardjob_job_example_order_archive.so"};
  options.job_config_json = config::JobConfigToJson(job);
  options.job_interface = "DataflowJob";
  return options;
}

spi::ShardingContext Task(const spi::Cancellation& cancellation,
                          const spi::Cancellation& reassigned, spi::TaskProgress& progress) {
  spi::ShardingContext context;
  context.job_name = "archive";
  context.fire_id = "trigger-0000000001";
  context.task_id = "archive@-@trigger-0000000001@-@0@-@me";
  context.instance_id = "me";
  context.sharding_total_count = 1;
  context.cancellation = &cancellation;
  context.reassigned = &reassigned;
  context.progress = &progress;
  return context;
}

// A streaming task whose shard moved away ends after its round, inside its process too, and
// what it processed is counted.
TEST(IsolatedExecutorTest, AReassignedShardEndsAStreamingTaskInItsProcess) {
  IsolatedExecutor::Options options = StreamingArchiveJob();
  ASSERT_FALSE(options.runner.empty());
  IsolatedExecutor executor(std::move(options));
  spi::Cancellation cancellation;
  spi::Cancellation reassigned;
  spi::TaskProgress progress;
  reassigned.Cancel();  // the shard is gone before the task got going
  spi::Status status = executor.Execute(nullptr, Task(cancellation, reassigned, progress));
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_GE(progress.items_processed(), 1u);
  EXPECT_LT(progress.items_processed(), 1000000u);  // told, it did not stream to the end
}

// ---- checkpoints and the shard's fields ----

// The task's checkpoint store as the kernel would give it: it records what is saved, and can be
// told to refuse or to take its time.
class FakeCheckpoint : public spi::Checkpoint {
 public:
  explicit FakeCheckpoint(std::optional<std::string> record = std::nullopt)
      : record_(std::move(record)) {}

  std::optional<std::string> Load() const noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++loads_;
    return record_;
  }
  spi::Status Save(const std::string& record) noexcept override {
    std::chrono::milliseconds delay{0};
    {
      std::lock_guard<std::mutex> lock(mutex_);
      saves_.push_back(record);
      if (!delays_.empty()) {
        delay = delays_.front();
        delays_.erase(delays_.begin());
      }
    }
    std::this_thread::sleep_for(delay);
    std::lock_guard<std::mutex> lock(mutex_);
    if (saves_.size() == fail_at_) return failure_;
    record_ = record;
    return spi::Status::Ok();
  }

  // The save number `at` (from 1) returns `failure`.
  void FailAt(std::size_t at, spi::Status failure) {
    fail_at_ = at;
    failure_ = std::move(failure);
  }
  // The next saves take this long each before they answer.
  void DelaySaves(std::vector<std::chrono::milliseconds> delays) { delays_ = std::move(delays); }
  std::vector<std::string> saves() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return saves_;
  }
  int loads() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return loads_;
  }

 private:
  mutable std::mutex mutex_;
  std::optional<std::string> record_;
  std::vector<std::string> saves_;
  mutable int loads_ = 0;
  std::size_t fail_at_ = 0;
  spi::Status failure_;
  std::vector<std::chrono::milliseconds> delays_;
};

class IsolatedCheckpointTest : public ::testing::Test {
 protected:
  // ISOLATION_CHECKPOINT_JOB with `props`, recording into record_.
  IsolatedExecutor::Options CheckpointJob(std::map<std::string, std::string> props) {
    config::JobConfig job;
    job.name = "resumable";
    job.job_class = "ISOLATION_CHECKPOINT_JOB";
    job.props = std::move(props);
    job.props["record.file"] = record_;
    IsolatedExecutor::Options options;
    std::string why;
    options.runner = FindTaskRunner(&why);
    options.libraries = {SHARDJOB_PLUGIN_DIR "/shardjob_executor_simple.so",
                         SHARDJOB_ISOLATION_FIXTURE_DIR "/shardjob_test_isolation_jobs.so"};
    options.job_config_json = config::JobConfigToJson(job);
    options.job_interface = "SimpleJob";
    return options;
  }

  // Shard 5 of 8: page 1 of item 2's two pages, of a job whose shard source labelled it.
  spi::ShardingContext Task(spi::Checkpoint* checkpoint) {
    spi::ShardingContext context;
    context.job_name = "resumable";
    context.fire_id = "1700000000000";
    context.task_id = "resumable@-@1700000000000@-@5@-@me";
    context.instance_id = "me";
    context.sharding_total_count = 4;
    context.sharding_item = 2;
    context.shard = 5;
    context.shard_count = 8;
    context.page = 1;
    context.page_count = 2;
    context.shard_label = "eu-west";
    context.shard_params = {{"region", "eu"}, {"tier", "gold"}};
    context.cancellation = &cancellation_;
    context.checkpoint = checkpoint;
    return context;
  }

  spi::Status Run(IsolatedExecutor::Options options, spi::Checkpoint* checkpoint) {
    EXPECT_FALSE(options.runner.empty());
    IsolatedExecutor executor(std::move(options));
    return executor.Execute(nullptr, Task(checkpoint));
  }

  std::vector<std::string> Recorded() const { return testing::ReadLines(record_); }

  testing::TempDir dir_;
  std::string record_ = dir_.File("record.txt");
  spi::Cancellation cancellation_;
};

TEST_F(IsolatedCheckpointTest, TheJobSeesItsShardPageLabelAndParams) {
  ASSERT_TRUE(Run(CheckpointJob({}), nullptr).ok());
  EXPECT_THAT(Recorded(),
              ElementsAre("context shard=5 shard_count=8 page=1 page_count=2 label=eu-west "
                          "params=region:eu;tier:gold item=2 total=4",
                          "loaded (no store)"));
}

// Without a store in the instance the job's context has none either, as in process.
TEST_F(IsolatedCheckpointTest, WithoutAStoreASaveIsUnavailableAsInProcess) {
  ASSERT_TRUE(Run(CheckpointJob({{"checkpoint.saves", "a"}}), nullptr).ok());
  EXPECT_THAT(Recorded(), Contains("loaded (no store)"));
  EXPECT_THAT(Recorded(), Contains("save 1 unavailable: this task has no checkpoint store"));
}

TEST_F(IsolatedCheckpointTest, TheJobLoadsTheRecordItStartedWithAndSavesThroughTheInstance) {
  FakeCheckpoint checkpoint("row=100");
  ASSERT_TRUE(Run(CheckpointJob({{"checkpoint.saves", "row=200,row=300"}}), &checkpoint).ok());
  EXPECT_THAT(Recorded(), ElementsAre(StartsWith("context "), "loaded row=100", "save 7 OK",
                                      "after row=200", "save 7 OK", "after row=300"));
  EXPECT_THAT(checkpoint.saves(), ElementsAre("row=200", "row=300"));
  EXPECT_EQ(checkpoint.loads(), 1) << "loaded once, at the start";
}

TEST_F(IsolatedCheckpointTest, TheJobSeesTheInstancesFailureToSave) {
  FakeCheckpoint checkpoint;
  checkpoint.FailAt(2, spi::Status::Cancelled("claim lost"));
  ASSERT_TRUE(Run(CheckpointJob({{"checkpoint.saves", "a,b,c"}}), &checkpoint).ok());
  EXPECT_THAT(Recorded(),
              ElementsAre(StartsWith("context "), "loaded (none)", "save 1 OK", "after a",
                          "save 1 cancelled: claim lost", "after a", "save 1 OK", "after c"));
  EXPECT_THAT(checkpoint.saves(), ElementsAre("a", "b", "c"));
}

// A record of the limit, of every byte value, arrives whole.
TEST_F(IsolatedCheckpointTest, ARecordOfTheLargestSizeArrivesWhole) {
  FakeCheckpoint checkpoint;
  const std::size_t size = spi::kMaxCheckpointBytes;
  ASSERT_TRUE(
      Run(CheckpointJob({{"checkpoint.save.bytes", std::to_string(size)}}), &checkpoint).ok());
  EXPECT_THAT(Recorded(), Contains("save " + std::to_string(size) + " OK"));
  EXPECT_THAT(Recorded(), Contains("after " + std::to_string(size) + " bytes same"));
  std::string expected(size, '\0');
  for (std::size_t i = 0; i < size; ++i) expected[i] = static_cast<char>(i % 256);
  ASSERT_EQ(checkpoint.saves().size(), 1u);
  EXPECT_TRUE(checkpoint.saves()[0] == expected) << "the record changed on the way";
}

// Refused in the runner: the instance never sees it.
TEST_F(IsolatedCheckpointTest, ALargerRecordIsRefused) {
  FakeCheckpoint checkpoint("start");
  const std::size_t size = spi::kMaxCheckpointBytes + 1;
  ASSERT_TRUE(
      Run(CheckpointJob({{"checkpoint.save.bytes", std::to_string(size)}}), &checkpoint).ok());
  EXPECT_THAT(Recorded(),
              Contains("save 16385 invalid argument: a checkpoint of 16385 bytes is larger "
                       "than the 16384 allowed"));
  EXPECT_THAT(Recorded(), Contains("after start"));
  EXPECT_THAT(checkpoint.saves(), IsEmpty());
}

// The instance takes longer than the runner waits: the job's Save says so instead of hanging,
// and the answer that comes late is not taken for the answer to the next save.
TEST_F(IsolatedCheckpointTest, ASaveNotAnsweredInTimeIsUnavailable) {
  FakeCheckpoint checkpoint("start");
  checkpoint.DelaySaves({std::chrono::milliseconds(2000)});
  IsolatedExecutor::Options options =
      CheckpointJob({{"checkpoint.saves", "a,b"}, {"checkpoint.pause.ms", "2500"}});
  options.checkpoint_reply_timeout = std::chrono::milliseconds(1000);
  ASSERT_TRUE(Run(std::move(options), &checkpoint).ok());
  EXPECT_THAT(Recorded(), ElementsAre(StartsWith("context "), "loaded start",
                                      StartsWith("save 1 unavailable: no answer from the instance"),
                                      "after start", "save 1 OK", "after b"));
  EXPECT_THAT(checkpoint.saves(), ElementsAre("a", "b"));
}

// Reads the runner's frames up to its result, answering nothing: the answers' socket is closed
// at the first checkpoint frame, as when the instance is gone.
TEST_F(IsolatedCheckpointTest, ASaveIsUnavailableOnceTheInstanceIsGone) {
  IsolatedExecutor::Options options = CheckpointJob({{"checkpoint.saves", "a"}});
  ASSERT_FALSE(options.runner.empty());
  TaskRequest request;
  request.job_config_json = options.job_config_json;
  request.libraries = options.libraries;
  request.context = Task(nullptr);
  request.context.cancellation = nullptr;
  request.checkpoint = CheckpointStart{"start", std::chrono::minutes(10)};
  const std::string encoded = EncodeRequest(request);

  TaskProcess process({options.runner, "--task", request.context.task_id});
  std::size_t sent = 0;
  std::string received;
  bool saw_checkpoint = false;
  std::optional<spi::Status> result;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!result && std::chrono::steady_clock::now() < deadline) {
    pollfd fds[2] = {{process.control().get(), POLLIN, 0}, {process.input().get(), POLLOUT, 0}};
    ASSERT_GE(::poll(fds, process.input().valid() ? 2 : 1, 100), 0);
    while (process.input().valid() && sent < encoded.size()) {
      const ssize_t n = ::send(process.input().get(), encoded.data() + sent, encoded.size() - sent,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    if (sent == encoded.size()) process.input().Reset();
    char buffer[4096];
    const ssize_t n = ::read(process.control().get(), buffer, sizeof(buffer));
    if (n == 0) break;
    if (n > 0) received.append(buffer, static_cast<std::size_t>(n));
    for (std::size_t newline = received.find('\n'); newline != std::string::npos;
         newline = received.find('\n')) {
      std::optional<Frame> frame = DecodeFrame(std::string_view(received).substr(0, newline));
      received.erase(0, newline + 1);
      if (!frame) continue;
      if (frame->kind == Frame::Kind::kCheckpoint) {
        saw_checkpoint = true;
        process.replies().Reset();
      } else if (frame->kind == Frame::Kind::kResult) {
        result = frame->status;
      }
    }
  }
  process.Reap();
  EXPECT_TRUE(saw_checkpoint);
  ASSERT_TRUE(result) << "no result within 20 s: the job's Save waits for an instance that left";
  EXPECT_TRUE(result->ok()) << result->ToString();
  EXPECT_THAT(Recorded(),
              ElementsAre(StartsWith("context "), "loaded start",
                          StartsWith("save 1 unavailable: the instance is gone"), "after start"));
}

}  // namespace
}  // namespace shardjob::isolation
