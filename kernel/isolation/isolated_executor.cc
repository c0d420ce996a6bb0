#include "isolation/isolated_executor.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <functional>
#include <memory>
#include <system_error>
#include <utility>

#include <spdlog/spdlog.h>

#include "isolation/task_outcome.h"
#include "isolation/task_process.h"
#include "isolation/task_protocol.h"

namespace shardjob::isolation {
namespace {

using Clock = std::chrono::steady_clock;

// The cancellation flag is a condition variable, not a descriptor, so it is polled this often.
constexpr std::chrono::milliseconds kCancellationPollInterval{50};
// Without a pidfd (Linux before 5.3) the exit is polled this often.
constexpr std::chrono::milliseconds kExitPollInterval{50};
// Once the runner has exited (and its group is killed), output still in flight is read this long.
constexpr std::chrono::milliseconds kDrainAfterExit{200};
// A runner that reported its result and is still there this much later (a job object's
// destructor that hangs) is killed; the result stands.
constexpr std::chrono::milliseconds kExitAfterResult{2000};
// A control frame longer than this is no frame; an output line longer than this is cut.
constexpr std::size_t kMaxFrameBytes = 1 << 20;
constexpr std::size_t kMaxOutputLine = 8 << 10;
constexpr std::size_t kReadChunk = 16 << 10;
// Answers to checkpoint saves the runner has not read yet; a runner that waits for each (the
// task runner does) has at most one.
constexpr std::size_t kMaxPendingReplies = 1 << 20;

// Splits a byte stream into lines (without their '\n'). A line longer than `max` is passed on in
// pieces of `max`, so a child that never writes a newline cannot grow the instance's memory.
class LineSplitter {
 public:
  using Handler = std::function<void(std::string_view)>;
  LineSplitter(std::size_t max, Handler handler) : max_(max), handler_(std::move(handler)) {}

  void Append(std::string_view chunk) {
    while (!chunk.empty()) {
      const std::size_t newline = chunk.find('\n');
      const std::string_view piece = chunk.substr(0, newline);
      partial_.append(piece);
      while (partial_.size() > max_) {
        handler_(std::string_view(partial_).substr(0, max_));
        partial_.erase(0, max_);
      }
      if (newline == std::string_view::npos) return;
      handler_(partial_);
      partial_.clear();
      chunk.remove_prefix(newline + 1);
    }
  }

  // What is left after the stream ended without a final newline.
  void Finish() {
    if (!partial_.empty()) handler_(partial_);
    partial_.clear();
  }

 private:
  const std::size_t max_;
  const Handler handler_;
  std::string partial_;
};

spdlog::level::level_enum SpdlogLevel(spi::LogLevel level) {
  switch (level) {
    case spi::LogLevel::kDebug:
      return spdlog::level::debug;
    case spi::LogLevel::kInfo:
      return spdlog::level::info;
    case spi::LogLevel::kWarn:
      return spdlog::level::warn;
    case spi::LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

// The runner sends no line the instance would drop anyway.
std::string CurrentLogLevel() {
  switch (spdlog::get_level()) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return LogLevelName(spi::LogLevel::kDebug);
    case spdlog::level::info:
      return LogLevelName(spi::LogLevel::kInfo);
    case spdlog::level::warn:
      return LogLevelName(spi::LogLevel::kWarn);
    default:
      return LogLevelName(spi::LogLevel::kError);
  }
}

int CeilMilliseconds(Clock::duration duration) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(duration).count();
  return static_cast<int>(std::clamp<std::int64_t>(ms, 0, INT_MAX));
}

// Reads what is there; resets `fd` at end of stream or on an error.
void ReadAvailable(UniqueFd& fd, LineSplitter& lines) {
  char buffer[kReadChunk];
  while (fd.valid()) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n > 0) {
      lines.Append(std::string_view(buffer, static_cast<std::size_t>(n)));
      if (static_cast<std::size_t>(n) < sizeof(buffer)) return;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else {
      lines.Finish();
      fd.Reset();
    }
  }
}

// Sends what the socket takes of `data` from `*sent` on, never waiting. False when the socket
// is full; `fd` is reset when the runner is gone (EPIPE: its exit tells the rest).
bool Send(UniqueFd& fd, const std::string& data, std::size_t* sent) {
  while (fd.valid() && *sent < data.size()) {
    const ssize_t n =
        ::send(fd.get(), data.data() + *sent, data.size() - *sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      *sent += static_cast<std::size_t>(n);
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN) {
      return false;
    } else {
      fd.Reset();
    }
  }
  return true;
}

// The request: closes `fd` once all is sent, as the runner reads to end of stream.
void SendAvailable(UniqueFd& fd, const std::string& data, std::size_t* sent) {
  if (Send(fd, data, sent)) fd.Reset();
}

// Answers to checkpoint saves: what was sent is dropped from `pending`, the socket stays open.
void SendPending(UniqueFd& fd, std::string* pending) {
  if (pending->empty()) return;
  std::size_t sent = 0;
  Send(fd, *pending, &sent);
  if (!fd.valid()) {
    pending->clear();
  } else {
    pending->erase(0, sent);
  }
}

// Watches one task process from its start to its reaping: feeds it the request, forwards what it
// writes, signals its group when the task is cancelled or runs past its wall time, and collects
// how it ended. One per Execute(), on the calling thread.
class Supervision {
 public:
  Supervision(TaskProcess& process, const spi::ShardingContext& context,
              const config::IsolationLimits& limits, std::string request)
      : process_(process),
        context_(context),
        limits_(limits),
        request_(std::move(request)),
        job_(context.job_name),
        shard_(context.sharding_item),
        pid_(process.pid()),
        control_(kMaxFrameBytes, [this](std::string_view line) { OnFrame(line); }),
        output_(kMaxOutputLine,
                [this](std::string_view line) {
                  spdlog::info("[task job={} shard={} pid={} stdout] {}", job_, shard_, pid_, line);
                }),
        errors_(kMaxOutputLine, [this](std::string_view line) {
          end_.last_error_line = line;
          spdlog::warn("[task job={} shard={} pid={} stderr] {}", job_, shard_, pid_, line);
        }) {
    if (limits_.wall.count() > 0) wall_deadline_ = Clock::now() + limits_.wall;
  }

  // Returns once the process is reaped and its group killed.
  TaskEnd Run() {
    while (true) {
      const Clock::time_point now = Clock::now();
      Decide(now);
      const bool streams_open =
          process_.control().valid() || process_.output().valid() || process_.errors().valid();
      if (exited_ && (!streams_open || now - exited_at_ >= kDrainAfterExit)) break;
      Transfer(WaitFrom(now));
    }
    process_.input().Reset();
    process_.replies().Reset();
    for (UniqueFd* fd : {&process_.control(), &process_.output(), &process_.errors()}) {
      fd->Reset();
    }
    control_.Finish();
    output_.Finish();
    errors_.Finish();
    const TaskProcess::End reaped = process_.Reap();
    end_.status_known = reaped.status_known;
    end_.wait_status = reaped.wait_status;
    end_.cpu_seconds = reaped.cpu_seconds;
    return std::move(end_);
  }

 private:
  // Acts on what has happened by `now`: the runner's exit, a result, the wall time, the
  // cancellation flag, the end of the grace.
  void Decide(Clock::time_point now) {
    if (!exited_ && process_.HasExited()) {
      exited_ = true;
      exited_at_ = now;
      // Whatever the runner started in its group goes with it: nothing of a task outlives it.
      process_.SignalGroup(SIGKILL);
    }
    if (end_.result && !result_at_) result_at_ = now;
    if (exited_ || killed_) return;
    if (end_.stop == TaskEnd::Stop::kNone && wall_deadline_ && now >= *wall_deadline_) {
      end_.stop = TaskEnd::Stop::kWallTimeout;
      Kill();
      return;
    }
    if (ready_ && !reassigned_told_ && context_.IsReassigned()) {
      // To the runner alone: SIGUSR1 would end whatever else runs in its group.
      reassigned_told_ = true;
      ::kill(pid_, SIGUSR1);
    }
    if (end_.stop == TaskEnd::Stop::kNone && context_.IsCancelled()) {
      // The runner turns SIGTERM into its job's cancellation flag; the rest of the group (a
      // script the job started) just ends.
      end_.stop = TaskEnd::Stop::kCancelled;
      terminated_at_ = now;
      process_.SignalGroup(SIGTERM);
    }
    if (end_.stop == TaskEnd::Stop::kCancelled && now - terminated_at_ >= limits_.kill_grace) {
      end_.killed_after_grace = true;
      Kill();
    } else if (result_at_ && now - *result_at_ >= kExitAfterResult) {
      spdlog::warn("job={} shard={} task process pid={} still runs {} ms after its result; killed",
                   job_, shard_, pid_, kExitAfterResult.count());
      Kill();
    }
  }

  void Kill() {
    process_.SignalGroup(SIGKILL);
    killed_ = true;
  }

  // How long poll() may sleep before Decide() has something to do; nullopt: until an event.
  std::optional<Clock::duration> WaitFrom(Clock::time_point now) const {
    std::optional<Clock::duration> wait;
    const auto at_most = [&wait](Clock::duration duration) {
      duration = std::max(duration, Clock::duration::zero());
      wait = wait ? std::min(*wait, duration) : duration;
    };
    if (exited_) {
      at_most(exited_at_ + kDrainAfterExit - now);
      return wait;
    }
    if (!process_.exit_fd().valid()) at_most(kExitPollInterval);
    if (killed_) return wait;
    if (end_.stop == TaskEnd::Stop::kNone) {
      if (wall_deadline_) at_most(*wall_deadline_ - now);
      at_most(kCancellationPollInterval);
    } else if (end_.stop == TaskEnd::Stop::kCancelled) {
      at_most(terminated_at_ + limits_.kill_grace - now);
    }
    if (result_at_) at_most(*result_at_ + kExitAfterResult - now);
    return wait;
  }

  // Sleeps in poll() up to `wait`, then moves what is ready: the request in, everything out.
  void Transfer(std::optional<Clock::duration> wait) {
    pollfd fds[6];
    nfds_t count = 0;
    const auto watch = [&](const UniqueFd& fd, short events) {
      if (fd.valid()) fds[count++] = pollfd{fd.get(), events, 0};
    };
    watch(process_.input(), POLLOUT);
    if (!replies_.empty()) watch(process_.replies(), POLLOUT);
    watch(process_.control(), POLLIN);
    watch(process_.output(), POLLIN);
    watch(process_.errors(), POLLIN);
    if (!exited_) watch(process_.exit_fd(), POLLIN);
    const int ready = ::poll(fds, count, wait ? CeilMilliseconds(*wait) : -1);
    if (ready < 0 && errno != EINTR) {
      throw std::system_error(errno, std::generic_category(), "poll");
    }
    if (ready <= 0) return;
    // Every descriptor is non-blocking: trying each is simpler than matching revents, and as
    // cheap at these counts.
    SendAvailable(process_.input(), request_, &sent_);
    ReadAvailable(process_.control(), control_);
    ReadAvailable(process_.output(), output_);
    ReadAvailable(process_.errors(), errors_);
    // After the reads: an answer to a save just read goes out in this round.
    SendPending(process_.replies(), &replies_);
  }

  // Saves the job's record through the task's Checkpoint, here on the task's thread as an
  // in-process task would, and queues the answer: the runner waits for it, the instance never
  // waits for the runner.
  void OnCheckpoint(const Frame& frame) {
    spi::Status status = context_.SaveCheckpoint(frame.text);
    if (!status.ok()) {
      spdlog::debug("job={} shard={} pid={} checkpoint save failed: {}", job_, shard_, pid_,
                    status.ToString());
    }
    if (replies_.size() > kMaxPendingReplies) {
      // A runner that sends saves and reads no answers: it waits in vain, and times out.
      spdlog::warn("[task job={} shard={} pid={}] reads no checkpoint answers; one dropped", job_,
                   shard_, pid_);
      return;
    }
    replies_ += EncodeCheckpointReply(CheckpointReply{frame.id, std::move(status)});
  }

  void OnFrame(std::string_view line) {
    std::optional<Frame> frame = DecodeFrame(line);
    if (!frame) {
      spdlog::warn("[task job={} shard={} pid={}] unreadable control line: {}", job_, shard_, pid_,
                   line);
    } else if (frame->kind == Frame::Kind::kLog) {
      spdlog::log(SpdlogLevel(frame->level), "[{} job={} shard={} pid={}] {}", frame->source, job_,
                  shard_, pid_, frame->text);
    } else if (frame->kind == Frame::Kind::kNote && frame->text == kAllocationFailedNote) {
      end_.allocation_failed = true;
    } else if (frame->kind == Frame::Kind::kNote && frame->text == kReadyNote) {
      ready_ = true;
    } else if (frame->kind == Frame::Kind::kResult) {
      end_.result = frame->status;
      context_.AddItemsProcessed(frame->items_processed);
    } else if (frame->kind == Frame::Kind::kCheckpoint) {
      OnCheckpoint(*frame);
    }
  }

  TaskProcess& process_;
  const spi::ShardingContext& context_;
  const config::IsolationLimits& limits_;
  const std::string request_;
  std::size_t sent_ = 0;
  std::string replies_;  // answers to checkpoint saves, not yet taken by the runner
  const std::string job_;
  const int shard_;
  const pid_t pid_;
  LineSplitter control_;
  LineSplitter output_;
  LineSplitter errors_;

  TaskEnd end_;
  std::optional<Clock::time_point> wall_deadline_;
  std::optional<Clock::time_point> result_at_;
  bool ready_ = false;  // the runner said it watches for SIGUSR1
  bool reassigned_told_ = false;
  Clock::time_point terminated_at_;
  Clock::time_point exited_at_;
  bool exited_ = false;
  bool killed_ = false;
};

}  // namespace

IsolatedExecutor::IsolatedExecutor(Options options) : options_(std::move(options)) {}

const char* IsolatedExecutor::JobInterface() const {
  return options_.job_interface ? options_.job_interface->c_str() : nullptr;
}

spi::Status IsolatedExecutor::Execute(spi::JobObject* /*job: built in the runner instead*/,
                                      const spi::ShardingContext& context) noexcept {
  try {
    return Run(context);
  } catch (const std::exception& e) {
    // TaskProcess's destructor has killed and reaped the runner by now.
    return spi::Status::Internal(std::string("process isolation: ") + e.what());
  }
}

spi::Status IsolatedExecutor::Run(const spi::ShardingContext& context) const {
  TaskRequest request;
  request.job_config_json = options_.job_config_json;
  request.libraries = options_.libraries;
  request.context = context;
  request.context.cancellation = nullptr;
  request.context.reassigned = nullptr;
  request.context.progress = nullptr;
  request.context.checkpoint = nullptr;
  if (context.checkpoint != nullptr) {
    // What the task resumes from; later saves go through the instance, so this is read once.
    request.checkpoint =
        CheckpointStart{context.checkpoint->Load(), options_.checkpoint_reply_timeout};
  }
  request.limits = options_.limits;
  request.log_level = CurrentLogLevel();

  std::unique_ptr<TaskProcess> process;
  try {
    // The task id in argv only labels the process for ps and top; the runner reads stdin.
    process = std::make_unique<TaskProcess>(
        std::vector<std::string>{options_.runner, "--task", context.task_id});
  } catch (const std::system_error& e) {
    return spi::Status::Internal("cannot start the task runner: " + std::string(e.what()));
  }
  const pid_t pid = process->pid();
  spdlog::debug("job={} fire={} shard={} task process pid={} started", context.job_name,
                context.fire_id, context.sharding_item, pid);
  const TaskEnd end = Supervision(*process, context, options_.limits, EncodeRequest(request)).Run();

  const bool clean_exit =
      end.status_known && WIFEXITED(end.wait_status) && WEXITSTATUS(end.wait_status) == 0;
  if (end.result && !clean_exit) {
    spdlog::warn("job={} shard={} task process pid={} {} after reporting its result",
                 context.job_name, context.sharding_item, pid, DescribeExit(end));
  }
  if (end.result && end.result->ok() && end.allocation_failed) {
    spdlog::warn(
        "job={} shard={} task process pid={} succeeded, but an allocation failed under its "
        "address-space limit on the way",
        context.job_name, context.sharding_item, pid);
  }
  return TaskStatus(end, options_.limits);
}

}  // namespace shardjob::isolation
