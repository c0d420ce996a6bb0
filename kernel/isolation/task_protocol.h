#pragma once

// What an instance and a task runner process say to each other (docs/isolation.md).
//
// The instance writes one TaskRequest, as a JSON object, on the runner's stdin and closes it.
// The runner answers on its descriptor kControlFd with frames, one JSON object per line: log
// lines of the job's plugins, notes, and last the task's result. Its stdout and stderr are plain
// text, forwarded to the instance's log line by line.

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
inline constexpr int kProtocolVersion = 1;
// Where the runner writes its frames: the first descriptor after stdin, stdout and stderr.
inline constexpr int kControlFd = 3;

struct TaskRequest {
  std::string job_config_json;  // config::JobConfigToJson of the job
  // The plugin libraries that provide the job's executor and class: the runner loads only these.
  std::vector<std::string> libraries;
  // Every field but the cancellation flag, which the runner owns (SIGTERM raises it).
  spi::ShardingContext context;
  config::IsolationLimits limits;
  std::string log_level = "info";  // lines below it are not sent
};

std::string EncodeRequest(const TaskRequest& request);
// Throws std::invalid_argument naming what is missing or malformed.
TaskRequest DecodeRequest(std::string_view json);

struct Frame {
  enum class Kind { kLog, kNote, kResult };
  Kind kind = Kind::kLog;
  // kLog: the line, and the type name of the plugin (or "task-runner") that wrote it.
  spi::LogLevel level = spi::LogLevel::kInfo;
  std::string source;
  // kLog: the message; kNote: the note's name (kAllocationFailedNote).
  std::string text;
  spi::Status status;                 // kResult
  std::uint64_t items_processed = 0;  // kResult: what the task reported (spi::TaskProgress)
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
// nullopt for a line that is not a frame (the instance logs it and goes on).
std::optional<Frame> DecodeFrame(std::string_view line);

// "debug", "info", "warn", "error".
const char* LogLevelName(spi::LogLevel level);

}  // namespace shardjob::isolation
