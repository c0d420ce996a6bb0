#include "support/zookeeper_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/free_port.h"

// LeakSanitizer reads this from any binary that links the harness. The ZooKeeper C client (3.8,
// THREADED) leaks one session-event completion (~350 bytes) when its IO thread queues the event
// while zookeeper_close is stopping the threads: the completion thread has gone, and nothing
// frees the queue. Tests that push clients off their sessions hit that race now and then (a bare
// C program doing zookeeper_init/zookeeper_close in that race does too). The library has no
// frame pointers, so the default unwinder stops inside it and only a match on the module works.
// That also covers what the registry must free itself, the children list a successful
// zoo_wget_children fills in; it frees it on every path.
extern "C" const char* __lsan_default_suppressions() { return "leak:libzookeeper_mt.so\n"; }

// ThreadSanitizer, likewise: the C client formats server addresses for its log messages with
// sprintf into one static buffer, so two handles' IO threads logging at once race on it. Only
// that call is matched (shardjob uses snprintf); a match on the module would also hide races in
// our watchers, whose stacks run through the library.
extern "C" const char* __tsan_default_suppressions() { return "race:__sprintf_chk\n"; }

namespace shardjob::testing {
namespace {

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

sockaddr_in Loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

bool IsExecutable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

std::string FindJava() {
  if (const char* home = std::getenv("JAVA_HOME"); home != nullptr && *home != '\0') {
    std::string java = std::string(home) + "/bin/java";
    if (IsExecutable(java)) return java;
  }
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::stringstream dirs(path);
    for (std::string dir; std::getline(dirs, dir, ':');) {
      std::string java = (dir.empty() ? "." : dir) + "/java";
      if (IsExecutable(java)) return java;
    }
  }
  throw std::runtime_error("no java: set JAVA_HOME or put java on the PATH");
}

std::string FindClasspath() {
  if (const char* classpath = std::getenv("SHARDJOB_ZOOKEEPER_CLASSPATH");
      classpath != nullptr && *classpath != '\0') {
    return classpath;
  }
  namespace fs = std::filesystem;
  // Debian (package libzookeeper-java): the jar's manifest Class-Path lists its dependencies, so
  // the jar alone runs the server; slf4j-simple (libslf4j-java) makes it log to stderr.
  const std::string debian_jar = "/usr/share/java/zookeeper.jar";
  if (fs::exists(debian_jar)) {
    std::string classpath = debian_jar;
    if (fs::exists("/usr/share/java/slf4j-simple.jar")) {
      classpath += ":/usr/share/java/slf4j-simple.jar";
    }
    return classpath;
  }
  // The upstream tarball: the server jar in lib/ with every dependency and a logback binding.
  std::vector<std::string> homes;
  if (const char* home = std::getenv("ZOOKEEPER_HOME"); home != nullptr && *home != '\0') {
    homes.push_back(home);
  }
  homes.push_back("/opt/zookeeper");
  for (const std::string& home : homes) {
    std::string classpath;
    for (const std::string& dir : {home, home + "/lib"}) {
      std::error_code ignored;
      for (const auto& entry : fs::directory_iterator(dir, ignored)) {
        if (entry.path().extension() != ".jar") continue;
        if (!classpath.empty()) classpath += ':';
        classpath += entry.path().string();
      }
    }
    if (classpath.find("zookeeper") != std::string::npos) return classpath;
  }
  throw std::runtime_error(
      "no ZooKeeper jars: install the Debian package zookeeper, or set ZOOKEEPER_HOME or "
      "SHARDJOB_ZOOKEEPER_CLASSPATH");
}

// Reaps `pid` if it has exited. Returns true if it has.
bool Reaped(pid_t pid) {
  int status = 0;
  return waitpid(pid, &status, WNOHANG) == pid;
}

}  // namespace

ZookeeperServer::ZookeeperServer(ZookeeperServerOptions options) : options_(options) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "shardjob-zookeeper-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  }
  dir_ = pattern;
  config_path_ = dir_ + "/zoo.cfg";
  log_path_ = dir_ + "/zookeeper.log";
  std::filesystem::create_directories(dir_ + "/data");
  for (int attempt = 1;; ++attempt) {
    port_ = FreeLoopbackPort();
    connect_string_ = "127.0.0.1:" + std::to_string(port_);
    WriteConfig();
    try {
      Start();
      break;
    } catch (const std::runtime_error&) {
      bool port_taken = LogTail().find("Address already in use") != std::string::npos;
      if (!port_taken || attempt == 3) {
        keep_files_ = true;
        throw;
      }
    }
  }
}

ZookeeperServer::~ZookeeperServer() {
  Kill();
  const ::testing::UnitTest* tests = ::testing::UnitTest::GetInstance();
  const char* keep = std::getenv("SHARDJOB_KEEP_ZOOKEEPER_FILES");
  if (keep_files_ || (keep != nullptr && *keep != '\0' && *keep != '0') ||
      (tests != nullptr && tests->Failed())) {
    std::cerr << "[zookeeper] kept " << dir_ << " (server log: " << log_path_ << ")\n";
    return;
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void ZookeeperServer::WriteConfig() {
  std::ofstream config(config_path_, std::ios::trunc);
  config << "tickTime=" << options_.tick_time_ms << "\n"
         << "dataDir=" << dir_ << "/data\n"
         << "clientPort=" << port_ << "\n"
         << "clientPortAddress=127.0.0.1\n"
         << "minSessionTimeout=" << options_.min_session_timeout_ms << "\n"
         << "maxSessionTimeout=" << options_.max_session_timeout_ms << "\n"
         << "maxClientCnxns=0\n"
         << "4lw.commands.whitelist=*\n"
         << "admin.enableServer=false\n"
         // Unknown keys become zookeeper.* system properties: no fsync per transaction, and a
         // small preallocated transaction log, since the data dir is thrown away.
         << "forceSync=no\n"
         << "preAllocSize=1024\n";
  if (!config) throw std::runtime_error("cannot write " + config_path_);
}

void ZookeeperServer::Start() {
  std::vector<std::string> argv = {
      FindJava(),
      "-Xmx128m",
      // A test server lives for seconds: start fast rather than run fast.
      "-XX:TieredStopAtLevel=1",
      "-Xshare:auto",
      "-XX:+UseSerialGC",
      "-XX:-UsePerfData",
      "-Djava.awt.headless=true",
      "-Dorg.slf4j.simpleLogger.showDateTime=true",
      "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
      "-Dzookeeper.jmx.log4j.disable=true",
      "-cp",
      FindClasspath(),
      "org.apache.zookeeper.server.ZooKeeperServerMain",
      config_path_,
  };
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
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
    marker << "---- starting: " << argv[0] << " ... " << config_path_ << "\n";
  }
  const pid_t parent = getpid();
  const auto started = Clock::now();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // The server dies with the test process even if that crashes (a SIGKILL skips destructors).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(null_input.get(), STDIN_FILENO);
    dup2(log.get(), STDOUT_FILENO);
    dup2(log.get(), STDERR_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  pid_ = pid;

  const auto deadline = started + options_.start_timeout;
  while (true) {
    if (Reaped(pid_)) {
      pid_ = -1;
      throw std::runtime_error("ZooKeeper server exited at start; log " + log_path_ + ":\n" +
                               LogTail());
    }
    // "ruok" says imok as soon as the port is bound, before the database is loaded; "srvr" names
    // the mode only once the server serves requests.
    if (FourLetterWord("srvr", milliseconds(500)).find("Mode: ") != std::string::npos) break;
    if (Clock::now() >= deadline) {
      Kill();
      throw std::runtime_error("ZooKeeper server did not answer within " +
                               std::to_string(options_.start_timeout.count()) + " ms; log " +
                               log_path_ + ":\n" + LogTail());
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  last_start_time_ = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
  std::cerr << "[zookeeper] " << connect_string_ << " pid " << pid_ << " up in "
            << last_start_time_.count() << " ms; log " << log_path_ << "\n";
}

void ZookeeperServer::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (!Reaped(pid_)) {
    if (Clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  pid_ = -1;
}

void ZookeeperServer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void ZookeeperServer::Restart() {
  Stop();
  Start();
}

std::string ZookeeperServer::FourLetterWord(const std::string& word,
                                            std::chrono::milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  auto left_ms = [&] {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::max<std::int64_t>(left, 0));
  };
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return "";
  sockaddr_in address = Loopback(port_);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    if (errno != EINPROGRESS) return "";
    pollfd writable{fd.get(), POLLOUT, 0};
    if (poll(&writable, 1, left_ms()) <= 0) return "";
    int error = 0;
    socklen_t length = sizeof(error);
    if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) return "";
  }
  if (send(fd.get(), word.data(), word.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(word.size())) {
    return "";
  }
  std::string answer;
  while (true) {
    pollfd readable{fd.get(), POLLIN, 0};
    if (poll(&readable, 1, left_ms()) <= 0) return "";
    char buffer[4096];
    ssize_t count = recv(fd.get(), buffer, sizeof(buffer), 0);
    if (count == 0) return answer;  // the server closes after answering
    if (count < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return "";
    }
    answer.append(buffer, static_cast<std::size_t>(count));
  }
}

std::string ZookeeperServer::LogTail() const {
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
