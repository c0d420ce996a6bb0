#include "isolation/task_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "isolation/task_protocol.h"

extern char** environ;

namespace shardjob::isolation {
namespace {

[[noreturn]] void ThrowErrno(int error_number, const std::string& what) {
  throw std::system_error(error_number, std::generic_category(), what);
}

// The child's ends are the sources of its dup2()s onto 0..kReplyFd; one already sitting in that
// range would be overwritten by an earlier dup2 (this happens when the host runs with a standard
// stream closed), so they are moved above it first.
static_assert(kReplyFd == kControlFd + 1, "the child's descriptors are 0..kReplyFd");
void MoveAboveReplyFd(UniqueFd* fd) {
  if (fd->get() > kReplyFd) return;
  const int moved = ::fcntl(fd->get(), F_DUPFD_CLOEXEC, kReplyFd + 1);
  if (moved < 0) ThrowErrno(errno, "fcntl(F_DUPFD_CLOEXEC)");
  fd->Reset(moved);
}

void SetNonBlocking(const UniqueFd& fd) {
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) < 0) {
    ThrowErrno(errno, "fcntl(O_NONBLOCK)");
  }
}

// Both ends close-on-exec from the start, so that a child spawned at the same moment by another
// thread never inherits them.
void MakePipe(UniqueFd* read_end, UniqueFd* write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) ThrowErrno(errno, "pipe2");
  read_end->Reset(fds[0]);
  write_end->Reset(fds[1]);
}

// A socket pair for what the instance sends (see TaskProcess::input()), close-on-exec.
void MakeSocketPair(UniqueFd* instance_end, UniqueFd* child_end) {
  int sockets[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0) {
    ThrowErrno(errno, "socketpair");
  }
  instance_end->Reset(sockets[0]);
  child_end->Reset(sockets[1]);
}

class SpawnFileActions {
 public:
  SpawnFileActions() { ::posix_spawn_file_actions_init(&actions_); }
  ~SpawnFileActions() { ::posix_spawn_file_actions_destroy(&actions_); }
  SpawnFileActions(const SpawnFileActions&) = delete;
  SpawnFileActions& operator=(const SpawnFileActions&) = delete;
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
};

class SpawnAttributes {
 public:
  SpawnAttributes() { ::posix_spawnattr_init(&attributes_); }
  ~SpawnAttributes() { ::posix_spawnattr_destroy(&attributes_); }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;
  posix_spawnattr_t* get() { return &attributes_; }

 private:
  posix_spawnattr_t attributes_;
};

void Check(int rc, const char* what) {
  if (rc != 0) ThrowErrno(rc, what);
}

}  // namespace

TaskProcess::TaskProcess(const std::vector<std::string>& argv) {
  if (argv.empty()) ThrowErrno(EINVAL, "spawn");
  UniqueFd child_input, child_control, child_output, child_errors;
  UniqueFd child_replies;
  MakeSocketPair(&input_, &child_input);
  MakeSocketPair(&replies_, &child_replies);
  MakePipe(&control_, &child_control);
  MakePipe(&output_, &child_output);
  MakePipe(&errors_, &child_errors);
  for (UniqueFd* fd :
       {&child_input, &child_control, &child_replies, &child_output, &child_errors}) {
    MoveAboveReplyFd(fd);
  }
  for (const UniqueFd* fd : {&input_, &replies_, &control_, &output_, &errors_}) {
    SetNonBlocking(*fd);
  }

  SpawnFileActions actions;
  Check(::posix_spawn_file_actions_adddup2(actions.get(), child_input.get(), STDIN_FILENO),
        "posix_spawn_file_actions_adddup2");
  Check(::posix_spawn_file_actions_adddup2(actions.get(), child_output.get(), STDOUT_FILENO),
        "posix_spawn_file_actions_adddup2");
  Check(::posix_spawn_file_actions_adddup2(actions.get(), child_errors.get(), STDERR_FILENO),
        "posix_spawn_file_actions_adddup2");
  Check(::posix_spawn_file_actions_adddup2(actions.get(), child_control.get(), kControlFd),
        "posix_spawn_file_actions_adddup2");
  Check(::posix_spawn_file_actions_adddup2(actions.get(), child_replies.get(), kReplyFd),
        "posix_spawn_file_actions_adddup2");
  // The host may hold descriptors opened without O_CLOEXEC (a library's sockets): job code must
  // not keep, say, the registry session's connection or the HTTP port.
  Check(::posix_spawn_file_actions_addclosefrom_np(actions.get(), kReplyFd + 1),
        "posix_spawn_file_actions_addclosefrom_np");

  SpawnAttributes attributes;
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  Check(
      ::posix_spawnattr_setflags(
          attributes.get(), POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF),
      "posix_spawnattr_setflags");
  Check(::posix_spawnattr_setpgroup(attributes.get(), 0), "posix_spawnattr_setpgroup");
  Check(::posix_spawnattr_setsigmask(attributes.get(), &empty), "posix_spawnattr_setsigmask");
  Check(::posix_spawnattr_setsigdefault(attributes.get(), &all), "posix_spawnattr_setsigdefault");

  std::vector<char*> args;
  // posix_spawn takes char* const[] for C's sake; it never writes through them.
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  // glibc's posix_spawn reports a failed exec as its return value (it waits for the exec).
  Check(::posix_spawn(&pid, argv[0].c_str(), actions.get(), attributes.get(), args.data(), environ),
        ("posix_spawn " + argv[0]).c_str());
  pid_ = pid;
#ifdef SYS_pidfd_open
  exit_fd_.Reset(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));  // close-on-exec
#endif
}

TaskProcess::~TaskProcess() {
  if (pid_ > 0 && !reaped_) Reap();
}

bool TaskProcess::HasExited() const {
  siginfo_t info;
  std::memset(&info, 0, sizeof(info));
  int rc;
  do {
    rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return true;  // ECHILD: reaped behind our back, nothing left to wait for
  return info.si_pid == pid_;
}

void TaskProcess::SignalGroup(int signal) const {
  if (pid_ > 0 && !reaped_) ::kill(-pid_, signal);
}

TaskProcess::End TaskProcess::Reap() {
  End end;
  if (pid_ <= 0 || reaped_) return end;
  SignalGroup(SIGKILL);
  struct rusage usage;
  std::memset(&usage, 0, sizeof(usage));
  int status = 0;
  pid_t rc;
  do {
    rc = ::wait4(pid_, &status, 0, &usage);
  } while (rc < 0 && errno == EINTR);
  reaped_ = true;
  if (rc < 0) {
    end.status_known = false;
    return end;
  }
  end.wait_status = status;
  end.cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                    static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  return end;
}

std::string SignalName(int signal_number) {
  // sigabbrev_np (glibc 2.32) knows every name; the "SIG" prefix is ours.
  if (const char* name = ::sigabbrev_np(signal_number); name != nullptr) {
    return std::string("SIG") + name;
  }
  return "signal " + std::to_string(signal_number);
}

}  // namespace shardjob::isolation
