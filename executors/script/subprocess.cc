#include "executors/script/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <system_error>

#if __has_include(<linux/close_range.h>)
#include <linux/close_range.h>
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace shardjob::executors {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) Reset(other.Release());
  return *this;
}

int UniqueFd::Release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

void UniqueFd::Reset(int fd) {
  // No retry on EINTR: on Linux the descriptor is gone either way, and a retry could close a
  // descriptor another thread has just been given.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

namespace {

using Clock = std::chrono::steady_clock;

// The cancellation flag is a condition variable, not a descriptor, so it is polled this often.
constexpr std::chrono::milliseconds kCancellationPollInterval{50};
// Without a pidfd (kernels before 5.3) the child's exit is polled this often.
constexpr std::chrono::milliseconds kExitPollInterval{50};
// After the leader exits, output still in flight is read for this long; a background process it
// left behind may hold the pipes open forever, and is not waited for.
constexpr std::chrono::milliseconds kDrainAfterExit{200};
constexpr std::size_t kReadChunk = 16 * 1024;

// A descriptor below 3 would be clobbered by the child's own dup2() onto 0, 1 and 2 (this happens
// when the host process runs with a standard stream closed), so the child's are moved above 2.
int MoveAbove2(UniqueFd* fd) {
  if (fd->get() > 2) return 0;
  const int moved = ::fcntl(fd->get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) return errno;
  fd->Reset(moved);
  return 0;
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

// Both ends close-on-exec from the start, so a child forked concurrently by another thread never
// inherits them past its exec.
int MakePipe(Pipe* pipe) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return errno;
  pipe->read.Reset(fds[0]);
  pipe->write.Reset(fds[1]);
  if (int error = MoveAbove2(&pipe->read); error != 0) return error;
  return MoveAbove2(&pipe->write);
}

int SetNonBlocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return errno;
  return 0;
}

// Owns a forked child. Unless Wait() reaped it, the destructor kills its process group and reaps
// it, so no way out of RunSubprocess, an exception included, leaves a zombie or a stray child.
class ChildProcess {
 public:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    Wait();
  }

  // Whether the child has exited. It is left a zombie: while unreaped, its pid, and so the
  // process group id, cannot be reused, which keeps signalling the group safe.
  bool HasExited() const {
    siginfo_t info;
    std::memset(&info, 0, sizeof(info));
    int rc;
    do {
      rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
    } while (rc < 0 && errno == EINTR);
    // ECHILD: reaped behind our back (SIGCHLD ignored by the host); there is nothing to wait for.
    if (rc < 0) return true;
    return info.si_pid == pid_;
  }

  // Reaps the child, blocking until it exits. Returns the wait status, or -1 with errno set.
  int Wait() {
    int status = 0;
    pid_t rc;
    do {
      rc = ::waitpid(pid_, &status, 0);
    } while (rc < 0 && errno == EINTR);
    pid_ = -1;
    return rc < 0 ? -1 : status;
  }

 private:
  pid_t pid_;
};

UniqueFd OpenPidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  // Always close-on-exec. Fails with ENOSYS before Linux 5.3; the loop then polls for the exit.
  return UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
#else
  (void)pid;
  return UniqueFd();
#endif
}

// The paths execvp would try for `file`, searched in the PATH the child will have.
std::vector<std::string> ExecCandidates(const std::string& file,
                                        const std::vector<std::string>& env) {
  if (file.empty() || file.find('/') != std::string::npos) return {file};
  std::string_view path = "/bin:/usr/bin";  // glibc's default when PATH is unset
  for (const std::string& entry : env) {
    if (entry.compare(0, 5, "PATH=") == 0) {
      path = std::string_view(entry).substr(5);
      break;
    }
  }
  std::vector<std::string> candidates;
  std::size_t begin = 0;
  while (true) {
    const std::size_t end = std::min(path.find(':', begin), path.size());
    std::string_view dir = path.substr(begin, end - begin);
    if (dir.empty()) dir = ".";  // an empty PATH element means the current directory
    candidates.push_back(std::string(dir) + "/" + file);
    if (end == path.size()) break;
    begin = end + 1;
  }
  return candidates;
}

std::vector<char*> CStringArray(const std::vector<std::string>& strings) {
  std::vector<char*> result;
  result.reserve(strings.size() + 1);
  // execve() takes char* const[] for C's sake; it never writes through them.
  for (const std::string& s : strings) result.push_back(const_cast<char*>(s.c_str()));
  result.push_back(nullptr);
  return result;
}

// Only for kernels without close_range(): the highest descriptor worth marking close-on-exec.
int MaxFdForFallback() {
  struct rlimit limit;
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 65536;
  return static_cast<int>(std::clamp<rlim_t>(limit.rlim_cur, 256, 65536));
}

// Everything the child needs, prepared before fork(): in a multithreaded parent the child may
// only make async-signal-safe calls until exec, so it must not allocate or take locks.
struct ChildSetup {
  char* const* argv;
  char* const* envp;
  const char* const* candidates;
  std::size_t candidate_count;
  int stdin_fd;
  int stdout_fd;
  int stderr_fd;
  int status_fd;  // close-on-exec: EOF tells the parent exec succeeded, an int tells it failed
  int max_fd;
  const struct sigaction* default_action;
  const sigset_t* empty_mask;
};

[[noreturn]] void ReportAndExit(int status_fd, int error_number) {
  const ssize_t ignored = ::write(status_fd, &error_number, sizeof(error_number));
  (void)ignored;
  ::_exit(127);
}

[[noreturn]] void RunChild(const ChildSetup& setup) {
  // Own process group, so that a timeout can kill the script and everything it started.
  ::setpgid(0, 0);
  // Ignored signals and the blocked mask survive exec; the host's (a daemon ignoring SIGPIPE, a
  // thread blocking SIGTERM for sigwait) must not leak into the script.
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, setup.default_action, nullptr);
  ::sigprocmask(SIG_SETMASK, setup.empty_mask, nullptr);
  if (::dup2(setup.stdin_fd, STDIN_FILENO) < 0 || ::dup2(setup.stdout_fd, STDOUT_FILENO) < 0 ||
      ::dup2(setup.stderr_fd, STDERR_FILENO) < 0) {
    ReportAndExit(setup.status_fd, errno);
  }
  // The host may hold descriptors opened without O_CLOEXEC (a library's sockets); the script
  // must not keep them, and with them, say, a ZooKeeper session or a listening port.
#ifdef SYS_close_range
  const bool marked = ::syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) == 0;
#else
  const bool marked = false;
#endif
  if (!marked) {
    for (int fd = 3; fd < setup.max_fd; ++fd) {
      const int flags = ::fcntl(fd, F_GETFD);
      if (flags >= 0 && (flags & FD_CLOEXEC) == 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
  }
  // execvp's search rules: skip candidates that do not exist, remember a permission error, stop
  // at any other error.
  int error_number = ENOENT;
  bool saw_eacces = false;
  for (std::size_t i = 0; i < setup.candidate_count; ++i) {
    ::execve(setup.candidates[i], setup.argv, setup.envp);
    error_number = errno;
    if (error_number == EACCES) {
      saw_eacces = true;
    } else if (error_number != ENOENT && error_number != ENOTDIR && error_number != ESTALE &&
               error_number != ENODEV && error_number != ETIMEDOUT) {
      ReportAndExit(setup.status_fd, error_number);
    }
  }
  ReportAndExit(setup.status_fd, saw_eacces ? EACCES : error_number);
}

[[maybe_unused]] const char* PickErrorText(int rc, const char* buffer) {
  return rc == 0 ? buffer : nullptr;  // XSI strerror_r
}
[[maybe_unused]] const char* PickErrorText(const char* text, const char*) {
  return text;  // GNU strerror_r
}

int CeilMilliseconds(Clock::duration duration) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(duration).count();
  return static_cast<int>(std::clamp<std::int64_t>(ms, 0, INT_MAX));
}

}  // namespace

std::string ErrorText(int error_number) {
  char buffer[256] = "";
  const char* text = PickErrorText(::strerror_r(error_number, buffer, sizeof(buffer)), buffer);
  if (text == nullptr || *text == '\0') return "error " + std::to_string(error_number);
  return text;
}

std::string SignalName(int signal_number) {
  switch (signal_number) {
    case SIGHUP:
      return "SIGHUP";
    case SIGINT:
      return "SIGINT";
    case SIGQUIT:
      return "SIGQUIT";
    case SIGILL:
      return "SIGILL";
    case SIGTRAP:
      return "SIGTRAP";
    case SIGABRT:
      return "SIGABRT";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGKILL:
      return "SIGKILL";
    case SIGUSR1:
      return "SIGUSR1";
    case SIGSEGV:
      return "SIGSEGV";
    case SIGUSR2:
      return "SIGUSR2";
    case SIGPIPE:
      return "SIGPIPE";
    case SIGALRM:
      return "SIGALRM";
    case SIGTERM:
      return "SIGTERM";
    case SIGXCPU:
      return "SIGXCPU";
    case SIGXFSZ:
      return "SIGXFSZ";
    case SIGSYS:
      return "SIGSYS";
    default:
      return "signal " + std::to_string(signal_number);
  }
}

SubprocessOutcome RunSubprocess(const SubprocessSpec& spec, OutputSink& sink) {
  SubprocessOutcome outcome;
  const auto fail_with = [&outcome](const char* call, int error_number) {
    outcome.kind = SubprocessOutcome::Kind::kSystemError;
    outcome.failed_call = call;
    outcome.error_number = error_number;
    return outcome;
  };
  if (spec.argv.empty()) return fail_with("exec", EINVAL);
  const Clock::time_point start = Clock::now();

  const std::vector<std::string> candidates = ExecCandidates(spec.argv[0], spec.env);
  std::vector<const char*> candidate_pointers;
  for (const std::string& candidate : candidates) candidate_pointers.push_back(candidate.c_str());
  const std::vector<char*> argv = CStringArray(spec.argv);
  const std::vector<char*> envp = CStringArray(spec.env);
  struct sigaction default_action;
  std::memset(&default_action, 0, sizeof(default_action));
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  sigset_t empty_mask;
  sigemptyset(&empty_mask);

  UniqueFd dev_null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!dev_null.valid()) return fail_with("open /dev/null", errno);
  if (int error = MoveAbove2(&dev_null); error != 0) return fail_with("fcntl", error);
  Pipe out, err, status;
  for (Pipe* pipe : {&out, &err, &status}) {
    if (int error = MakePipe(pipe); error != 0) return fail_with("pipe2", error);
  }
  for (const UniqueFd* fd : {&out.read, &err.read}) {
    if (int error = SetNonBlocking(fd->get()); error != 0) return fail_with("fcntl", error);
  }

  const ChildSetup setup{argv.data(),
                         envp.data(),
                         candidate_pointers.data(),
                         candidate_pointers.size(),
                         dev_null.get(),
                         out.write.get(),
                         err.write.get(),
                         status.write.get(),
                         MaxFdForFallback(),
                         &default_action,
                         &empty_mask};
  const pid_t pid = ::fork();
  if (pid < 0) return fail_with("fork", errno);
  if (pid == 0) RunChild(setup);

  ChildProcess child(pid);
  // The child does the same; whichever runs first, the group exists before anyone signals it.
  ::setpgid(pid, pid);
  dev_null.Reset();
  out.write.Reset();
  err.write.Reset();
  status.write.Reset();

  int exec_error = 0;
  ssize_t got;
  do {
    got = ::read(status.read.get(), &exec_error, sizeof(exec_error));
  } while (got < 0 && errno == EINTR);
  status.read.Reset();
  if (got == static_cast<ssize_t>(sizeof(exec_error))) {
    child.Wait();
    return fail_with("exec", exec_error);
  }
  outcome.pid = pid;

  const UniqueFd pidfd = OpenPidfd(pid);
  std::optional<Clock::time_point> deadline;
  if (spec.timeout) deadline = start + *spec.timeout;
  enum class Stop { kNone, kTimedOut, kCancelled };
  Stop stop = Stop::kNone;
  bool exited = false;
  bool killed = false;
  Clock::time_point exited_at;
  Clock::time_point terminated_at;
  struct Stream {
    UniqueFd* fd;
    OutputStream kind;
  };
  const Stream streams[] = {{&out.read, OutputStream::kStdout}, {&err.read, OutputStream::kStderr}};
  char buffer[kReadChunk];

  while (true) {
    const Clock::time_point now = Clock::now();
    if (!exited && child.HasExited()) {
      exited = true;
      exited_at = now;
    }
    if (stop == Stop::kNone && !exited) {
      if (deadline && now >= *deadline) {
        stop = Stop::kTimedOut;
      } else if (spec.cancellation != nullptr && spec.cancellation->IsCancelled()) {
        stop = Stop::kCancelled;
      }
      if (stop != Stop::kNone) {
        ::kill(-pid, SIGTERM);
        terminated_at = now;
      }
    }
    // Once the leader is gone, the rest of its group gets SIGKILL at once: a background child
    // that ignored SIGTERM would otherwise outlive the timeout.
    if (stop != Stop::kNone && !killed && (exited || now - terminated_at >= spec.kill_grace)) {
      ::kill(-pid, SIGKILL);
      killed = true;
    }
    const bool streams_open = out.read.valid() || err.read.valid();
    if (exited && (!streams_open || now - exited_at >= kDrainAfterExit)) break;

    std::optional<Clock::duration> wait;
    const auto limit_wait = [&wait](Clock::duration duration) {
      duration = std::max(duration, Clock::duration::zero());
      wait = wait ? std::min(*wait, duration) : duration;
    };
    if (exited) {
      limit_wait(exited_at + kDrainAfterExit - now);
    } else {
      if (!pidfd.valid()) limit_wait(kExitPollInterval);
      if (stop == Stop::kNone) {
        if (deadline) limit_wait(*deadline - now);
        if (spec.cancellation != nullptr) limit_wait(kCancellationPollInterval);
      } else if (!killed) {
        limit_wait(terminated_at + spec.kill_grace - now);
      }
    }

    pollfd fds[3];
    nfds_t count = 0;
    for (const Stream& stream : streams) {
      if (stream.fd->valid()) fds[count++] = pollfd{stream.fd->get(), POLLIN, 0};
    }
    if (!exited && pidfd.valid()) fds[count++] = pollfd{pidfd.get(), POLLIN, 0};
    const int ready = ::poll(fds, count, wait ? CeilMilliseconds(*wait) : -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "poll");
    }
    for (const Stream& stream : streams) {
      if (!stream.fd->valid()) continue;
      const pollfd* entry =
          std::find_if(fds, fds + count, [&](const pollfd& p) { return p.fd == stream.fd->get(); });
      if (entry == fds + count || entry->revents == 0) continue;
      const ssize_t n = ::read(stream.fd->get(), buffer, sizeof(buffer));
      if (n > 0) {
        sink.OnOutput(stream.kind, std::string_view(buffer, static_cast<std::size_t>(n)));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        stream.fd->Reset();
      }
    }
  }

  out.read.Reset();
  err.read.Reset();
  const int wait_status = child.Wait();
  if (stop == Stop::kTimedOut) {
    outcome.kind = SubprocessOutcome::Kind::kTimedOut;
  } else if (stop == Stop::kCancelled) {
    outcome.kind = SubprocessOutcome::Kind::kCancelled;
  } else if (wait_status == -1) {
    return fail_with("waitpid", errno);
  } else if (WIFEXITED(wait_status)) {
    outcome.kind = SubprocessOutcome::Kind::kExited;
    outcome.exit_code = WEXITSTATUS(wait_status);
  } else {
    outcome.kind = SubprocessOutcome::Kind::kSignaled;
    outcome.signal = WTERMSIG(wait_status);
  }
  return outcome;
}

}  // namespace shardjob::executors
