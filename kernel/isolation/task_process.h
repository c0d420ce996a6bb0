#pragma once

// One task runner process and the descriptors the instance talks to it through.

#include <sys/types.h>

#include <string>
#include <vector>

#include "isolation/unique_fd.h"

namespace shardjob::isolation {

// The child leads its own process group from its first instruction (POSIX_SPAWN_SETPGROUP, so
// there is no moment when a signal to the group would miss it), starts with an empty signal mask
// and default dispositions (the instance blocks SIGTERM for sigwait; that must not leak into job
// code), and holds no descriptor of the instance but the five it is given: stdin, stdout, stderr,
// kControlFd and kReplyFd.
//
// Owns the child: unless Reap() was called, the destructor SIGKILLs the whole group and reaps
// the child, so no way out of a task, an exception included, leaves a process or a zombie.
class TaskProcess {
 public:
  // Starts argv[0] (a path: no PATH search, no shell) with this process's environment. Throws
  // std::system_error when it cannot be started.
  explicit TaskProcess(const std::vector<std::string>& argv);
  ~TaskProcess();
  TaskProcess(const TaskProcess&) = delete;
  TaskProcess& operator=(const TaskProcess&) = delete;

  pid_t pid() const { return pid_; }

  // The instance's ends. input and replies: the child's stdin and kReplyFd, sockets rather than
  // pipes, so that writing to a child that died early fails with EPIPE (send with MSG_NOSIGNAL)
  // instead of raising SIGPIPE in the instance. control, output, errors: the child's kControlFd,
  // stdout and stderr. All non-blocking. Reset them when done with them.
  UniqueFd& input() { return input_; }
  UniqueFd& replies() { return replies_; }
  UniqueFd& control() { return control_; }
  UniqueFd& output() { return output_; }
  UniqueFd& errors() { return errors_; }
  // Readable once the child has exited (a pidfd); invalid before Linux 5.3, when the exit must be
  // polled with HasExited().
  const UniqueFd& exit_fd() const { return exit_fd_; }

  // Whether the child has exited. It stays a zombie until Reap(), which keeps its pid, and so its
  // process group id, from being reused: signalling the group is safe until then.
  bool HasExited() const;
  // Sends `signal` to the child's process group: the runner and everything it started.
  void SignalGroup(int signal) const;

  struct End {
    int wait_status = 0;
    // False when the child was reaped behind our back (the host set SIGCHLD to SIG_IGN).
    bool status_known = true;
    double cpu_seconds = 0;  // user + system time of the child
  };
  // SIGKILLs whatever is left of the group (nothing a task started outlives it), then reaps the
  // child, waiting for it to exit.
  End Reap();

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  UniqueFd input_;
  UniqueFd replies_;
  UniqueFd control_;
  UniqueFd output_;
  UniqueFd errors_;
  UniqueFd exit_fd_;
};

// "SIGSEGV", "SIGKILL", ..., or "signal N".
std::string SignalName(int signal_number);

}  // namespace shardjob::isolation
