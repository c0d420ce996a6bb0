// shardjob-task-runner: the program an instance starts for each task of a job with
// `isolation: process` (docs/isolation.md). It reads the task on stdin, limits itself, loads the
// job's plugin libraries, builds the job's executor and job object, runs the one task, reports
// its result on kControlFd and exits. Whatever the job does to this process (a crash, a leak, a
// hang) is the instance's to observe from outside.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "app/job_assembly.h"
#include "config/job_config_json.h"
#include "isolation/runner_limits.h"
#include "isolation/task_protocol.h"
#include "plugin/plugin_registry.h"
#include "shardjob/spi/cancellation.h"
#include "shardjob/spi/checkpoint.h"

#if defined(__SANITIZE_ADDRESS__)
#define SHARDJOB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SHARDJOB_ASAN 1
#endif
#endif
#ifdef SHARDJOB_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(SHARDJOB_ASAN) || defined(__SANITIZE_THREAD__)
// A sanitizer's handlers would turn a job's SIGSEGV (SIGBUS, SIGFPE, SIGILL) into a report and an
// exit code, and the instance could not tell a crash from a job that exits with that code. In the
// runner a crash stays a signal, as in a normal build; ASAN_OPTIONS or TSAN_OPTIONS set in the
// environment still win.
#define SHARDJOB_RUNNER_SANITIZER_OPTIONS \
  "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0"
#ifdef SHARDJOB_ASAN
extern "C" __attribute__((visibility("default"), used)) const char* __asan_default_options() {
  return SHARDJOB_RUNNER_SANITIZER_OPTIONS;
}
#else
extern "C" __attribute__((visibility("default"), used)) const char* __tsan_default_options() {
  return SHARDJOB_RUNNER_SANITIZER_OPTIONS;
}
#endif
#endif

namespace shardjob::isolation {
namespace {

constexpr const char* kUsage =
    "usage: shardjob-task-runner --task TASK_ID\n"
    "A shardjob instance starts this program for each task of a job with `isolation: process`;\n"
    "it reads the task from stdin and reports on descriptor 3. It is not meant to be run by "
    "hand.\n";
constexpr std::size_t kMaxRequestBytes = 64 << 20;

// Frames to the instance. Each is one write() under a lock, so lines from concurrent threads of
// the job never interleave. Nothing allocates under the lock: the allocation-failure hook below
// takes it too.
class ControlChannel {
 public:
  void Write(std::string_view frame) {
    std::lock_guard<std::mutex> lock(mutex_);
    WriteAll(frame);
  }
  // For a dying process: no lock, which the dying thread may hold.
  static void WriteUnlocked(std::string_view frame) { WriteAll(frame); }

 private:
  static void WriteAll(std::string_view frame) {
    while (!frame.empty()) {
      const ssize_t n = ::write(kControlFd, frame.data(), frame.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // the instance is gone; nobody is left to tell
      frame.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  std::mutex mutex_;
};

ControlChannel& Channel() {
  static ControlChannel channel;
  return channel;
}

// Sends `status` as the task's result and ends the process. _exit: the job's objects may be in
// any state, and static destructors of its libraries must not get a say in how the task ended;
// whatever the job leaked goes with the process.
[[noreturn]] void Exit() {
  std::fflush(nullptr);  // what the job printed and did not flush yet
  ::_exit(0);
}

[[noreturn]] void Finish(const spi::Status& status) {
  Channel().Write(EncodeResultFrame(status, 0));
  Exit();
}

class FrameLogger : public spi::Logger {
 public:
  FrameLogger(std::string source, spi::LogLevel least)
      : source_(std::move(source)), least_(least) {}
  void Log(spi::LogLevel level, std::string_view message) override {
    if (level < least_) return;
    Channel().Write(EncodeLogFrame(level, source_, message));
  }

 private:
  const std::string source_;
  const spi::LogLevel least_;
};

spi::LogLevel ParseLevel(const std::string& name) {
  for (spi::LogLevel level :
       {spi::LogLevel::kDebug, spi::LogLevel::kInfo, spi::LogLevel::kWarn, spi::LogLevel::kError}) {
    if (name == LogLevelName(level)) return level;
  }
  return spi::LogLevel::kInfo;
}

// ---- signals: SIGTERM raises the task's cancellation flag, SIGUSR1 its reassigned flag ----

spi::Cancellation& TaskCancellation() {
  static spi::Cancellation cancellation;
  return cancellation;
}

spi::Cancellation& TaskReassigned() {
  static spi::Cancellation reassigned;
  return reassigned;
}

int signal_pipe_write = -1;
constexpr char kTermByte = 'T';
constexpr char kReassignedByte = 'R';

// Async-signal-safe: a byte on a pipe. Raising a flag takes a lock, so a thread does it.
void WriteSignalByte(char byte) {
  const int saved = errno;
  const ssize_t ignored = ::write(signal_pipe_write, &byte, 1);
  (void)ignored;
  errno = saved;
}
void OnTerm(int) { WriteSignalByte(kTermByte); }
void OnReassigned(int) { WriteSignalByte(kReassignedByte); }

// Handlers, not blocked signals and sigwait: a blocked mask survives exec, and a script the job
// starts with system() must still die of the SIGTERM its group gets. A handler does not.
std::string WatchForSignals() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::string("pipe2: ") + std::strerror(errno);
  signal_pipe_write = fds[1];
  std::thread([read_end = fds[0]] {
    char byte;
    while (true) {
      const ssize_t n = ::read(read_end, &byte, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      (byte == kReassignedByte ? TaskReassigned() : TaskCancellation()).Cancel();
    }
  }).detach();  // lives until _exit
  for (const auto& [signal, handler] :
       {std::pair{SIGTERM, &OnTerm}, std::pair{SIGUSR1, &OnReassigned}}) {
    struct sigaction action;
    std::memset(&action, 0, sizeof(action));
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    if (::sigaction(signal, &action, nullptr) != 0) {
      return std::string("sigaction: ") + std::strerror(errno);
    }
  }
  return "";
}

// ---- allocation failures under the address-space limit ----

std::string allocation_note;  // encoded before the hooks are installed: they must not allocate
std::atomic<bool> allocation_noted{false};

// operator new calls this when malloc fails; throwing bad_alloc keeps new's contract. The note
// goes first, as the job may not survive its bad_alloc to report anything.
void OnAllocationFailure() {
  if (!allocation_noted.exchange(true)) Channel().Write(allocation_note);
  throw std::bad_alloc();
}

#ifdef SHARDJOB_ASAN
// ASan's operator new does not call the new-handler: it reports "out-of-memory" and dies, and
// printing the report may itself run out of memory (a FATAL that skips the error-report
// callback). Both paths end in the death callback, while the report's kind is still readable.
void OnAsanDeath() {
  if (__asan_report_present() != 0 &&
      std::strcmp(__asan_get_report_description(), "out-of-memory") == 0 &&
      !allocation_noted.exchange(true)) {
    ControlChannel::WriteUnlocked(allocation_note);
  }
}
#endif

void NoteAllocationFailures() {
  allocation_note = EncodeNoteFrame(kAllocationFailedNote);
  std::set_new_handler(OnAllocationFailure);
#ifdef SHARDJOB_ASAN
  __sanitizer_set_death_callback(OnAsanDeath);
#endif
}

// ---- checkpoints: saved by the instance, which answers on kReplyFd ----

// The job's Checkpoint in the runner. Load() returns the record the task started with, then the
// last one saved; Save() sends the record to the instance, which saves it through the task's
// real Checkpoint, and waits for the answer. Saves from several threads of the job take turns.
class RunnerCheckpoint : public spi::Checkpoint {
 public:
  RunnerCheckpoint(std::optional<std::string> record, std::chrono::milliseconds reply_timeout)
      : record_(std::move(record)), reply_timeout_(reply_timeout) {}

  std::optional<std::string> Load() const noexcept override {
    std::lock_guard<std::mutex> lock(record_mutex_);
    return record_;
  }

  spi::Status Save(const std::string& record) noexcept override {
    try {
      if (record.size() > spi::kMaxCheckpointBytes) {
        // As the instance's Checkpoint says it.
        return spi::Status::InvalidArgument("a checkpoint of " + std::to_string(record.size()) +
                                            " bytes is larger than the " +
                                            std::to_string(spi::kMaxCheckpointBytes) + " allowed");
      }
      const Clock::time_point deadline = Clock::now() + reply_timeout_;
      std::unique_lock<std::timed_mutex> turn(save_mutex_, deadline);
      if (!turn.owns_lock()) return NoAnswer();
      if (gone_) return Gone();
      const std::uint64_t id = ++last_id_;
      Channel().Write(EncodeCheckpointFrame(id, record));
      spi::Status status = AwaitReply(id, deadline);
      if (status.ok()) {
        std::lock_guard<std::mutex> lock(record_mutex_);
        record_ = record;
      }
      return status;
    } catch (const std::exception& e) {
      return spi::Status::Internal(std::string("checkpoint save in the task runner: ") + e.what());
    }
  }

 private:
  using Clock = std::chrono::steady_clock;

  spi::Status NoAnswer() const {
    return spi::Status::Unavailable("no answer from the instance to a checkpoint save within " +
                                    std::to_string(reply_timeout_.count()) +
                                    " ms (the record may or may not be saved)");
  }
  static spi::Status Gone() {
    return spi::Status::Unavailable(
        "the instance is gone: the checkpoint record may or may not be saved");
  }

  // Reads answers until the one to save `id`; earlier ones (to saves that timed out) are dropped.
  spi::Status AwaitReply(std::uint64_t id, Clock::time_point deadline) {
    while (true) {
      for (std::size_t newline = received_.find('\n'); newline != std::string::npos;
           newline = received_.find('\n')) {
        std::optional<CheckpointReply> reply =
            DecodeCheckpointReply(std::string_view(received_).substr(0, newline));
        received_.erase(0, newline + 1);
        if (reply && reply->id == id) return std::move(reply->status);
      }
      if (received_.size() > kMaxReplyBytes) received_.clear();  // no answer of ours
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return NoAnswer();
      pollfd fd{kReplyFd, POLLIN, 0};
      const int ready =
          ::poll(&fd, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 60000)));
      if (ready < 0 && errno != EINTR) return Gone();  // kReplyFd missing: nobody to answer
      if (ready <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(kReplyFd, buffer, sizeof(buffer));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        gone_ = true;
        return Gone();
      }
      received_.append(buffer, static_cast<std::size_t>(n));
    }
  }

  static constexpr std::size_t kMaxReplyBytes = 1 << 20;

  mutable std::mutex record_mutex_;
  std::optional<std::string> record_;
  const std::chrono::milliseconds reply_timeout_;
  std::timed_mutex save_mutex_;  // the rest is the saving thread's
  std::uint64_t last_id_ = 0;
  std::string received_;
  bool gone_ = false;
};

// ---- the task ----

std::string ReadRequest() {
  std::string text;
  char buffer[16 << 10];
  while (text.size() <= kMaxRequestBytes) {
    const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      Finish(spi::Status::Internal(std::string("task runner: cannot read its task: ") +
                                   std::strerror(errno)));
    if (n == 0) return text;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  Finish(spi::Status::Internal("task runner: the task request is over 64 MiB"));
}

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string joined;
  for (const std::string& line : lines) joined += (joined.empty() ? "" : "; ") + line;
  return joined;
}

[[noreturn]] void RunTask() {
  if (std::string problem = WatchForSignals(); !problem.empty()) {
    Finish(spi::Status::Internal("task runner: cannot watch for its signals: " + problem));
  }
  Channel().Write(EncodeNoteFrame(kReadyNote));
  TaskRequest request;
  try {
    request = DecodeRequest(ReadRequest());
  } catch (const std::exception& e) {
    Finish(spi::Status::Internal(std::string("task runner: bad task request: ") + e.what()));
  }
  if (request.limits.memory > 0) NoteAllocationFailures();
  if (std::string problem = ApplyLimits(request.limits); !problem.empty()) {
    Finish(spi::Status::InvalidArgument("isolation_limits: " + problem));
  }

  plugin::PluginRegistry plugins;
  for (const std::string& library : request.libraries) {
    if (!plugins.LoadLibrary(library)) {
      Finish(spi::Status::Internal("task runner: cannot load " + library + ": " +
                                   plugins.Refused().back().reason));
    }
  }
  config::JobConfig job;
  try {
    job = config::JobConfigFromJson(request.job_config_json, "task request");
  } catch (const std::exception& e) {
    Finish(spi::Status::Internal(std::string("task runner: bad job config: ") + e.what()));
  }
  const spi::LogLevel least = ParseLevel(request.log_level);
  app::TaskObjects task;
  std::vector<std::string> problems;
  const bool built = app::AssembleTask(
      job, plugins,
      [least](const std::string& type) { return std::make_unique<FrameLogger>(type, least); },
      &task, &problems);
  if (!built) Finish(spi::Status::Internal("task runner: " + JoinLines(problems)));

  spi::ShardingContext context = request.context;
  context.cancellation = &TaskCancellation();
  context.reassigned = &TaskReassigned();
  spi::TaskProgress progress;
  context.progress = &progress;
  std::optional<RunnerCheckpoint> checkpoint;
  if (request.checkpoint) {
    checkpoint.emplace(request.checkpoint->record, request.checkpoint->reply_timeout);
    context.checkpoint = &*checkpoint;
  }
  const spi::Status status = task.executor->Execute(task.job_object.get(), context);
  Channel().Write(EncodeResultFrame(status, progress.items_processed()));
  // As when an in-process job stops: the job's objects are destroyed, so a job that flushes or
  // closes in its destructor does so. The instance kills a runner that hangs here.
  task = app::TaskObjects();
  Exit();
}

}  // namespace
}  // namespace shardjob::isolation

int main(int argc, char** argv) {
  using namespace shardjob::isolation;
  if (argc != 3 || std::strcmp(argv[1], "--task") != 0 || ::fcntl(kControlFd, F_GETFD) < 0) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  // Job code that execs must not take the control channel along (a script could write frames),
  // nor the instance's answers.
  ::fcntl(kControlFd, F_SETFD, FD_CLOEXEC);
  ::fcntl(kReplyFd, F_SETFD, FD_CLOEXEC);
  // stdout is a pipe, so fully buffered by default: a job's lines would reach the instance's log
  // only at exit, and not at all if it crashed.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  try {
    RunTask();
  } catch (const std::exception& e) {
    Finish(shardjob::spi::Status::Internal(std::string("task runner: ") + e.what()));
  }
}
