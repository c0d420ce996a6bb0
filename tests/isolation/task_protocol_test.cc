// The request and the frames between an instance and its task runners.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/job_config_json.h"
#include "isolation/task_protocol.h"

namespace shardjob::isolation {
namespace {

using ::testing::HasSubstr;

TaskRequest SampleRequest() {
  config::JobConfig job;
  job.name = "sync";
  job.job_class = "SOME_JOB";
  job.isolation = config::Isolation::kProcess;
  TaskRequest request;
  request.job_config_json = config::JobConfigToJson(job);
  request.libraries = {"/plugins/a.so", "/plugins/b.so"};
  request.context.job_name = "sync";
  request.context.fire_id = "1700000000000";
  request.context.task_id = "sync@-@1700000000000@-@2@-@host@1@ab";
  request.context.instance_id = "host@1@ab";
  request.context.sharding_total_count = 4;
  request.context.sharding_item = 2;
  request.context.sharding_parameter = "Shanghai \"east\"";
  request.context.job_parameter = "price$5";
  request.context.fencing_token = 9007199254740993;  // beyond a double's integers
  request.context.shard = 5;
  request.context.shard_count = 8;
  request.context.page = 1;
  request.context.page_count = 2;
  request.context.shard_label = "eu \"west\"";
  request.context.shard_params = {{"region", "eu"}, {"from", "2024-01-01"}, {"empty", ""}};
  request.checkpoint = CheckpointStart{"row=100", std::chrono::milliseconds(1234)};
  request.limits.cpu = std::chrono::seconds(10);
  request.limits.memory = 512ull << 20;
  request.limits.wall = std::chrono::milliseconds(60000);
  request.limits.kill_grace = std::chrono::milliseconds(1500);
  request.log_level = "debug";
  return request;
}

TEST(TaskProtocolTest, RequestRoundTripsEveryField) {
  const TaskRequest sent = SampleRequest();
  const TaskRequest got = DecodeRequest(EncodeRequest(sent));
  EXPECT_EQ(config::JobConfigFromJson(got.job_config_json, "got").name, "sync");
  EXPECT_EQ(got.job_config_json, sent.job_config_json);
  EXPECT_EQ(got.libraries, sent.libraries);
  EXPECT_EQ(got.context.job_name, sent.context.job_name);
  EXPECT_EQ(got.context.fire_id, sent.context.fire_id);
  EXPECT_EQ(got.context.task_id, sent.context.task_id);
  EXPECT_EQ(got.context.instance_id, sent.context.instance_id);
  EXPECT_EQ(got.context.sharding_total_count, 4);
  EXPECT_EQ(got.context.sharding_item, 2);
  EXPECT_EQ(got.context.sharding_parameter, sent.context.sharding_parameter);
  EXPECT_EQ(got.context.job_parameter, "price$5");
  EXPECT_EQ(got.context.fencing_token, 9007199254740993);
  EXPECT_EQ(got.context.shard, 5);
  EXPECT_EQ(got.context.shard_count, 8);
  EXPECT_EQ(got.context.page, 1);
  EXPECT_EQ(got.context.page_count, 2);
  EXPECT_EQ(got.context.shard_label, sent.context.shard_label);
  EXPECT_EQ(got.context.shard_params, sent.context.shard_params);
  EXPECT_EQ(got.checkpoint, sent.checkpoint);
  EXPECT_EQ(got.context.cancellation, nullptr);
  EXPECT_EQ(got.context.checkpoint, nullptr);
  EXPECT_EQ(got.limits, sent.limits);
  EXPECT_EQ(got.log_level, "debug");
}

TEST(TaskProtocolTest, AnAbsentShardingParameterStaysAbsent) {
  TaskRequest sent = SampleRequest();
  sent.context.sharding_parameter.reset();
  EXPECT_FALSE(DecodeRequest(EncodeRequest(sent)).context.sharding_parameter.has_value());
  sent.context.sharding_parameter = "";
  EXPECT_EQ(DecodeRequest(EncodeRequest(sent)).context.sharding_parameter, "");
}

// Without a store the job's context has no Checkpoint; with one but nothing saved yet, it loads
// nothing; a record is bytes, and arrives as it left, whatever they are.
TEST(TaskProtocolTest, TheCheckpointStartArrivesAsItWas) {
  TaskRequest sent = SampleRequest();
  sent.checkpoint.reset();
  EXPECT_FALSE(DecodeRequest(EncodeRequest(sent)).checkpoint.has_value());
  sent.checkpoint = CheckpointStart{};
  ASSERT_TRUE(DecodeRequest(EncodeRequest(sent)).checkpoint.has_value());
  EXPECT_FALSE(DecodeRequest(EncodeRequest(sent)).checkpoint->record.has_value());
  EXPECT_EQ(DecodeRequest(EncodeRequest(sent)).checkpoint->reply_timeout, std::chrono::seconds(30));
  for (std::size_t size : {0, 1, 2, 3, 4, 255, 256, 257}) {
    std::string record(size, '\0');
    for (std::size_t i = 0; i < size; ++i) record[i] = static_cast<char>(255 - i % 256);
    sent.checkpoint->record = record;
    EXPECT_EQ(DecodeRequest(EncodeRequest(sent)).checkpoint->record, record) << size;
  }
}

TEST(TaskProtocolTest, BadRequestsAreRefusedWithTheReason) {
  EXPECT_THROW(DecodeRequest("not json"), std::invalid_argument);
  try {
    DecodeRequest(R"({"protocol": 99})");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("protocol version 99"));
  }
  try {
    DecodeRequest(R"({"protocol": 2, "job": {}, "libraries": []})");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("missing 'context'"));
  }
}

TEST(TaskProtocolTest, FramesRoundTrip) {
  std::string line = EncodeLogFrame(spi::LogLevel::kWarn, "SIMPLE", "a\nmultiline \xff message");
  ASSERT_EQ(line.back(), '\n');
  ASSERT_EQ(line.find('\n'), line.size() - 1) << "one frame, one line";
  line.pop_back();
  std::optional<Frame> log = DecodeFrame(line);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->kind, Frame::Kind::kLog);
  EXPECT_EQ(log->level, spi::LogLevel::kWarn);
  EXPECT_EQ(log->source, "SIMPLE");
  EXPECT_THAT(log->text, HasSubstr("a\nmultiline"));  // the invalid byte is replaced

  std::string note = EncodeNoteFrame(kAllocationFailedNote);
  note.pop_back();
  ASSERT_TRUE(DecodeFrame(note));
  EXPECT_EQ(DecodeFrame(note)->kind, Frame::Kind::kNote);
  EXPECT_EQ(DecodeFrame(note)->text, kAllocationFailedNote);

  for (const spi::Status& status :
       {spi::Status::Ok(), spi::Status::Failed("boom"), spi::Status::Cancelled("stop"),
        spi::Status::TimedOut("late"), spi::Status::Internal("bug"),
        spi::Status::Unavailable("down")}) {
    std::string result = EncodeResultFrame(status, 25);
    result.pop_back();
    std::optional<Frame> frame = DecodeFrame(result);
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->kind, Frame::Kind::kResult);
    EXPECT_EQ(frame->status.code(), status.code());
    EXPECT_EQ(frame->status.message(), status.message());
    EXPECT_EQ(frame->items_processed, 25u);
  }
}

// A record of the largest size Checkpoint::Save takes, of bytes JSON would escape or could not
// carry at all, fits one frame whole.
TEST(TaskProtocolTest, ALargestCheckpointRecordFitsAFrameWhole) {
  std::string record(spi::kMaxCheckpointBytes, '\0');
  for (std::size_t i = 0; i < record.size(); ++i) record[i] = static_cast<char>(i % 256);
  std::string line = EncodeCheckpointFrame(42, record);
  ASSERT_EQ(line.find('\n'), line.size() - 1) << "one frame, one line";
  EXPECT_LT(line.size(), std::size_t{32} << 10);
  line.pop_back();
  std::optional<Frame> frame = DecodeFrame(line);
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->kind, Frame::Kind::kCheckpoint);
  EXPECT_EQ(frame->id, 42u);
  EXPECT_EQ(frame->text, record);

  std::string empty = EncodeCheckpointFrame(1, "");
  empty.pop_back();
  ASSERT_TRUE(DecodeFrame(empty));
  EXPECT_EQ(DecodeFrame(empty)->text, "");
}

TEST(TaskProtocolTest, CheckpointRepliesRoundTrip) {
  for (const spi::Status& status :
       {spi::Status::Ok(), spi::Status::Cancelled("claim lost"),
        spi::Status::Unavailable("registry down"), spi::Status::InvalidArgument("too big")}) {
    std::string line = EncodeCheckpointReply(CheckpointReply{7, status});
    ASSERT_EQ(line.find('\n'), line.size() - 1) << "one answer, one line";
    line.pop_back();
    std::optional<CheckpointReply> reply = DecodeCheckpointReply(line);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->id, 7u);
    EXPECT_EQ(reply->status.code(), status.code());
    EXPECT_EQ(reply->status.message(), status.message());
  }
  EXPECT_FALSE(DecodeCheckpointReply("plain text"));
  EXPECT_FALSE(
      DecodeCheckpointReply(R"({"checkpoint_saved": {"id": 1, "code": "bogus", "message": ""}})"));
  EXPECT_FALSE(DecodeCheckpointReply(R"({"checkpoint_saved": {"code": "ok", "message": ""}})"));
}

// A result with a huge message still fits the instance's 1 MiB line limit, so it is not lost.
TEST(TaskProtocolTest, AHugeMessageIsCutToFitAFrame) {
  std::string result = EncodeResultFrame(spi::Status::Failed(std::string(2 << 20, '\x01')), 0);
  EXPECT_LT(result.size(), std::size_t{1} << 20);
  result.pop_back();
  std::optional<Frame> frame = DecodeFrame(result);
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->status.code(), spi::Status::Code::kFailed);
  EXPECT_THAT(frame->status.message(), ::testing::EndsWith("... (cut at 64 KiB)"));
}

TEST(TaskProtocolTest, WhatIsNoFrameIsSaidSo) {
  EXPECT_FALSE(DecodeFrame("plain text"));
  EXPECT_FALSE(DecodeFrame("{}"));
  EXPECT_FALSE(DecodeFrame(R"({"result": {"code": "bogus", "message": ""}})"));
  EXPECT_FALSE(DecodeFrame(R"({"result": {"code": "ok", "message": "", "items": -1}})"));
  EXPECT_FALSE(DecodeFrame(R"({"log": {"level": "info"}})"));
  EXPECT_FALSE(DecodeFrame(R"({"checkpoint": {"id": 1, "record": "not base64!"}})"));
  EXPECT_FALSE(DecodeFrame(R"({"checkpoint": {"id": 1, "record": "QQ=A"}})"));
  EXPECT_FALSE(DecodeFrame(R"({"checkpoint": {"record": "QQ=="}})"));
}

}  // namespace
}  // namespace shardjob::isolation
