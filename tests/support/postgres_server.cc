#include "support/postgres_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/free_port.h"

namespace shardjob::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

bool HasServerBinaries(const fs::path& dir) {
  return access((dir / "initdb").c_str(), X_OK) == 0 &&
         access((dir / "postgres").c_str(), X_OK) == 0;
}

std::string FindBinDir() {
  if (const char* bin = std::getenv("SHARDJOB_POSTGRES_BIN"); bin != nullptr && *bin != '\0') {
    if (!HasServerBinaries(bin)) {
      throw std::runtime_error(std::string("SHARDJOB_POSTGRES_BIN=") + bin +
                               " holds no initdb and postgres");
    }
    return bin;
  }
  // Debian installs each major version side by side: /usr/lib/postgresql/15/bin.
  int newest = -1;
  std::string found;
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ignored)) {
    const std::string version = entry.path().filename().string();
    if (version.empty() || !std::all_of(version.begin(), version.end(),
                                        [](unsigned char c) { return std::isdigit(c) != 0; })) {
      continue;
    }
    if (std::stoi(version) > newest && HasServerBinaries(entry.path() / "bin")) {
      newest = std::stoi(version);
      found = (entry.path() / "bin").string();
    }
  }
  if (!found.empty()) return found;
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::stringstream dirs(path);
    for (std::string dir; std::getline(dirs, dir, ':');) {
      if (!dir.empty() && HasServerBinaries(dir)) return dir;
    }
  }
  throw std::runtime_error(
      "no PostgreSQL server binaries: install Debian's postgresql package, or set "
      "SHARDJOB_POSTGRES_BIN to the directory holding initdb and postgres");
}

}  // namespace

PostgresServer::PostgresServer(PostgresServerOptions options) : options_(std::move(options)) {
  bin_dir_ = FindBinDir();
  if (geteuid() == 0) {
    // getpwnam is not async-signal-safe: looked up here, before any fork.
    const passwd* user = getpwnam("postgres");
    if (user == nullptr) {
      throw std::runtime_error(
          "running as root, and initdb and postgres refuse to: they would run as the user "
          "'postgres', which does not exist (Debian's postgresql package creates it)");
    }
    uid_ = user->pw_uid;
    gid_ = user->pw_gid;
  }
  std::string pattern = (fs::temp_directory_path() / "shardjob-postgres-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  }
  dir_ = pattern;
  data_dir_ = dir_ + "/data";
  log_path_ = dir_ + "/postgres.log";
  if (uid_ != static_cast<uid_t>(-1) && chown(dir_.c_str(), uid_, gid_) != 0) {
    keep_files_ = true;
    throw std::runtime_error("chown " + dir_ + ": " + std::strerror(errno));
  }
  try {
    InitDb();
    for (int attempt = 1;; ++attempt) {
      port_ = FreeLoopbackPort();
      try {
        Start();
        break;
      } catch (const std::runtime_error&) {
        const std::string tail = LogTail();
        const bool port_taken = tail.find("could not bind") != std::string::npos ||
                                tail.find("Address already in use") != std::string::npos;
        if (!port_taken || attempt == 3) throw;
      }
    }
  } catch (...) {
    keep_files_ = true;
    throw;
  }
}

PostgresServer::~PostgresServer() {
  Stop();
  const ::testing::UnitTest* tests = ::testing::UnitTest::GetInstance();
  const char* keep = std::getenv("SHARDJOB_KEEP_POSTGRES_FILES");
  if (keep_files_ || (keep != nullptr && *keep != '\0' && *keep != '0') ||
      (tests != nullptr && tests->Failed())) {
    std::cerr << "[postgres] kept " << dir_ << " (server log: " << log_path_ << ")\n";
    return;
  }
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

std::string PostgresServer::Url(const std::string& database) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

pid_t PostgresServer::Spawn(const std::vector<std::string>& argv) {
  std::vector<std::string> owned = argv;
  std::vector<char*> args;
  for (std::string& arg : owned) args.push_back(arg.data());
  args.push_back(nullptr);
  // Everything the child needs is ready before fork: between fork and exec it may only make
  // async-signal-safe calls (other threads of this process may hold locks).
  Fd log(open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  Fd null_input(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (log.get() < 0 || null_input.get() < 0) {
    throw std::runtime_error("cannot open " + log_path_ + ": " + std::strerror(errno));
  }
  {
    std::ofstream marker(log_path_, std::ios::app);
    marker << "---- running:";
    for (const std::string& arg : argv) marker << " " << arg;
    marker << "\n";
  }
  const pid_t parent = getpid();
  const uid_t uid = uid_;
  const gid_t gid = gid_;
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    if (uid != static_cast<uid_t>(-1)) {
      if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(126);
    }
    // After the user change, which clears it. The server dies with the test process even if
    // that crashes (a SIGKILL skips destructors).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(null_input.get(), STDIN_FILENO);
    dup2(log.get(), STDOUT_FILENO);
    dup2(log.get(), STDERR_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

void PostgresServer::InitDb() {
  const pid_t pid = Spawn({bin_dir_ + "/initdb", "-D", data_dir_, "-U", "postgres", "-A", "trust",
                           "-E", "UTF8", "--locale=C", "--no-sync"});
  const auto deadline = Clock::now() + options_.timeout;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (Clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      throw std::runtime_error("initdb did not finish in time; log " + log_path_ + ":\n" +
                               LogTail());
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("initdb failed; log " + log_path_ + ":\n" + LogTail());
  }
}

void PostgresServer::Start() {
  if (pid_ > 0) return;
  std::vector<std::string> argv = {
      bin_dir_ + "/postgres",      "-D", data_dir_, "-k", dir_, "-p", std::to_string(port_), "-c",
      "listen_addresses=127.0.0.1"};
  if (!options_.durable) {
    for (const char* setting : {"fsync=off", "synchronous_commit=off", "full_page_writes=off"}) {
      argv.push_back("-c");
      argv.push_back(setting);
    }
  }
  for (const std::string& setting : options_.settings) {
    argv.push_back("-c");
    argv.push_back(setting);
  }
  const auto started = Clock::now();
  pid_ = Spawn(argv);
  const auto deadline = started + options_.timeout;
  while (!Ready()) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("postgres exited at start; log " + log_path_ + ":\n" + LogTail());
    }
    if (Clock::now() >= deadline) {
      Stop();
      throw std::runtime_error("postgres did not accept connections within " +
                               std::to_string(options_.timeout.count()) + " ms; log " + log_path_ +
                               ":\n" + LogTail());
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  std::cerr << "[postgres] 127.0.0.1:" << port_ << " pid " << pid_ << " up in "
            << std::chrono::duration_cast<milliseconds>(Clock::now() - started).count()
            << " ms; log " << log_path_ << "\n";
}

bool PostgresServer::Ready() const {
  // What pg_ctl waits for: postmaster.pid names our process and, on its 8th line, the status
  // "ready" (PostgreSQL 10+), written once the server accepts connections.
  std::ifstream in(data_dir_ + "/postmaster.pid");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines.size() >= 8 && lines[0] == std::to_string(pid_) && lines[7].rfind("ready", 0) == 0;
}

void PostgresServer::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGINT);
  const auto deadline = Clock::now() + options_.timeout;
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) != pid_) {
    if (Clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  pid_ = -1;
}

std::string PostgresServer::LogTail() const {
  std::ifstream in(log_path_);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string tail;
  for (std::size_t i = lines.size() > 30 ? lines.size() - 30 : 0; i < lines.size(); ++i) {
    tail += lines[i] + "\n";
  }
  return tail;
}

}  // namespace shardjob::testing
