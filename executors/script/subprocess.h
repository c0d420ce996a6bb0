#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardjob/spi/cancellation.h"

namespace shardjob::executors {

// Owns one file descriptor and closes it once.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release();
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

enum class OutputStream { kStdout, kStderr };

// Receives the child's output as it is read, in arrival order, from the thread that called
// RunSubprocess.
class OutputSink {
 public:
  virtual ~OutputSink() = default;
  virtual void OnOutput(OutputStream stream, std::string_view chunk) = 0;
};

struct SubprocessSpec {
  // argv[0] is looked up in PATH when it has no '/', as execvp would, but a file without a
  // #! line is not handed to /bin/sh (it fails with "Exec format error").
  std::vector<std::string> argv;
  // The child's whole environment, "NAME=value" each.
  std::vector<std::string> env;
  // No limit when absent.
  std::optional<std::chrono::steady_clock::duration> timeout;
  // Checked while the child runs; may be null.
  const spi::Cancellation* cancellation = nullptr;
  // How long the process group has between SIGTERM and SIGKILL.
  std::chrono::milliseconds kill_grace{2000};
};

struct SubprocessOutcome {
  enum class Kind {
    kExited,       // exit_code is set
    kSignaled,     // signal is set
    kTimedOut,     // the timeout expired and the process group was killed
    kCancelled,    // the cancellation was raised and the process group was killed
    kSystemError,  // error_number and failed_call are set; for a failed exec nothing ran
  };
  Kind kind = Kind::kExited;
  int exit_code = 0;
  int signal = 0;
  int error_number = 0;
  std::string failed_call;  // "fork", "pipe2", "exec", ...
  pid_t pid = -1;           // also the process group id; -1 when nothing ran
};

// Runs one child process to completion and reaps it; thread-safe.
//
// The child gets its own process group, stdin from /dev/null, stdout and stderr on two pipes read
// with poll() (so a chatty child never blocks on a full pipe), the signal mask and dispositions
// reset to defaults, and none of the caller's other descriptors. On timeout or cancellation the
// whole group gets SIGTERM and, once the leader is gone or the grace has passed, SIGKILL. When
// the leader exits normally, a background process it left holding the pipes is not waited for
// past a short drain period; it is left running.
//
// Throws only on allocation failure; the child is killed and reaped even then.
SubprocessOutcome RunSubprocess(const SubprocessSpec& spec, OutputSink& sink);

// strerror() without its thread-safety problem.
std::string ErrorText(int error_number);

// "SIGTERM", "SIGKILL", ..., or "signal N".
std::string SignalName(int signal_number);

}  // namespace shardjob::executors
