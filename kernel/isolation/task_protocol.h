#pragma once

// What an instance and a task runner process say to each other (docs/isolation.md).
//
// The instance writes one TaskRequest, as a JSON object, on the runner's stdin and closes it.
// The runner answers on its descriptor kControlFd with frames, one JSON object per line: log
// lines of the job's plugins, notes, checkpoint records to save, and last the task's result. Its
// stdout and stderr are plain text, forwarded to the instance's log line by line. The instance's
// only words after the request are its answers to checkpoint saves, one JSON object per line on
// the runner's descriptor kReplyFd.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "shardjob/spi/logger.h"
#include "shardjob/spi/sharding_context.h"
#include "shardjob/spi/status.h"

namespace shardjob::isolation {

// Bumped when a field changes meaning; the runner refuses a request of another version (it can
// only come from a different build).
inline constexpr int kProtocolVersion = 2;
// Where the runner writes its frames: the first descriptor after stdin, stdout and stderr.
inline constexpr int kControlFd = 3;
// Where the runner reads the instance's answers to its checkpoint saves.
inline constexpr int kReplyFd = 4;

// The task's checkpoint store as the runner gets it: what Checkpoint::Load() returned in the
// instance when the task started, and how long the runner waits for the answer to a Save.
struct CheckpointStart {
  std::optional<std::string> record;  // any bytes, up to spi::kMaxCheckpointBytes
  std::chrono::milliseconds reply_timeout{30000};
  bool operator==(const CheckpointStart&) const = default;
};

struct TaskRequest {
  std::string job_config_json;  // config::JobConfigToJson of the job
  // The plugin libraries that provide the job's executor and class: the runner loads only these.
  std::vector<std::string> libraries;
  // Every field but the pointers: the cancellation and reassigned flags, which the runner owns
  // (SIGTERM and SIGUSR1 raise them), the progress counter and the checkpoint store.
  spi::ShardingContext context;
  // nullopt when the task has no checkpoint store (context.checkpoint is null in the instance).
  std::optional<CheckpointStart> checkpoint;
  config::IsolationLimits limits;
  std::string log_level = "info";  // lines below it are not sent
};

std::string EncodeRequest(const TaskRequest& request);
// Throws std::invalid_argument naming what is missing or malformed.
TaskRequest DecodeRequest(std::string_view json);

struct Frame {
  enum class Kind { kLog, kNote, kResult, kCheckpoint };
  Kind kind = Kind::kLog;
  // kLog: the line, and the type name of the plugin (or "task-runner") that wrote it.
  spi::LogLevel level = spi::LogLevel::kInfo;
  std::string source;
  // kLog: the message; kNote: the note's name (kAllocationFailedNote); kCheckpoint: the record.
  std::string text;
  spi::Status status;                 // kResult
  std::uint64_t items_processed = 0;  // kResult: what the task reported (spi::TaskProgress)
  std::uint64_t id = 0;               // kCheckpoint: what the answer names
};

// The instance's answer to the checkpoint frame `id`: what Checkpoint::Save returned.
struct CheckpointReply {
  std::uint64_t id = 0;
  spi::Status status;
};

// The runner watches for its signals now: from here on SIGUSR1 (sent to the runner alone, never
// to its group) raises the task's `reassigned` flag. Sent before it could kill the runner, it
// would end the task.
inline constexpr const char* kReadyNote = "ready";

// An allocation failed in the runner while it had an address-space limit: sent the moment it
// happens, since the job may not survive to report anything else.
inline constexpr const char* kAllocationFailedNote = "allocation_failed";

// Each returns one line, '\n' included.
std::string EncodeLogFrame(spi::LogLevel level, std::string_view source, std::string_view text);
std::string EncodeNoteFrame(std::string_view note);
std::string EncodeResultFrame(const spi::Status& status, std::uint64_t items_processed);
// A record the job saves: the runner waits for the CheckpointReply with the same id. The record
// travels as base64, so any bytes arrive as they were; one of spi::kMaxCheckpointBytes takes
// about 22 KiB, far below the instance's frame limit.
std::string EncodeCheckpointFrame(std::uint64_t id, std::string_view record);
// nullopt for a line that is not a frame (the instance logs it and goes on).
std::optional<Frame> DecodeFrame(std::string_view line);

// On kReplyFd. One line, '\n' included; nullopt for a line that is not an answer.
std::string EncodeCheckpointReply(const CheckpointReply& reply);
std::optional<CheckpointReply> DecodeCheckpointReply(std::string_view line);

// "debug", "info", "warn", "error".
const char* LogLevelName(spi::LogLevel level);

}  // namespace shardjob::isolation
