#pragma once

// Runs a program as a child process with stdout and stderr captured in one pipe, for tests of
// the `shardjob` program. The destructor kills the child by its pid and reaps it, so a failing
// test never leaves a process behind.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

namespace shardjob::testing {

class ChildProcess {
 public:
  explicit ChildProcess(std::vector<std::string> argv) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;
    std::vector<char*> args;
    for (auto& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      dup2(fds[1], STDERR_FILENO);
      execv(args[0], args.data());
      _exit(127);
    }
    close(fds[1]);
    output_fd_ = fds[0];
  }
  ~ChildProcess() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (output_fd_ >= 0) close(output_fd_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool Exited() const { return reaped_; }

  // Reads output until `done(output)` holds or `timeout` passes; returns whether it held.
  template <typename Predicate>
  bool ReadUntil(Predicate done, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(output_)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !ReadSome(static_cast<int>(left.count()))) return done(output_);
    }
    return true;
  }

  // Reads to the end of output and reaps the child. Returns its exit code, or -signal.
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    ReadUntil([](const std::string&) { return false; }, timeout);
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }

  const std::string& output() const { return output_; }

 private:
  // False at end of output.
  bool ReadSome(int timeout_ms) {
    pollfd poll_fd{output_fd_, POLLIN, 0};
    if (poll(&poll_fd, 1, timeout_ms) <= 0) return false;
    char buffer[4096];
    ssize_t count = read(output_fd_, buffer, sizeof(buffer));
    if (count <= 0) return false;
    output_.append(buffer, static_cast<std::size_t>(count));
    return true;
  }

  pid_t pid_ = -1;
  int output_fd_ = -1;
  bool reaped_ = false;
  std::string output_;
};

}  // namespace shardjob::testing
