#pragma once

// A real, standalone ZooKeeper server for tests: a JVM running ZooKeeperServerMain on a free
// loopback port, with its data and log in a temp dir. Its tickTime is short so that short session
// timeouts are allowed. The destructor stops the server by its pid; it deletes the temp dir
// unless a test failed (or KeepFiles() was called, or SHARDJOB_KEEP_ZOOKEEPER_FILES=1), and then
// says where the log is.
//
// Java: $JAVA_HOME/bin/java, else java on the PATH. Classpath: $SHARDJOB_ZOOKEEPER_CLASSPATH if
// set; else Debian's /usr/share/java/zookeeper.jar (its manifest names its dependencies) plus
// slf4j-simple for a log; else every jar of $ZOOKEEPER_HOME (the upstream tarball's layout).

#include <sys/types.h>

#include <chrono>
#include <string>

namespace shardjob::testing {

struct ZookeeperServerOptions {
  int tick_time_ms = 200;
  // The server clamps every session timeout asked for into this range (ZooKeeper requires at
  // least 2 and at most 20 ticks by default; these are set explicitly).
  int min_session_timeout_ms = 400;
  int max_session_timeout_ms = 4000;
  // How long a start may take before the constructor or Restart() gives up.
  std::chrono::milliseconds start_timeout{30000};
};

class ZookeeperServer {
 public:
  // Starts the server and waits until it serves ("srvr" reports its mode). Throws
  // std::runtime_error (with the tail of its log) if it does not within the start timeout.
  explicit ZookeeperServer(ZookeeperServerOptions options = {});
  ~ZookeeperServer();
  ZookeeperServer(const ZookeeperServer&) = delete;
  ZookeeperServer& operator=(const ZookeeperServer&) = delete;

  // "127.0.0.1:PORT".
  const std::string& connect_string() const { return connect_string_; }
  int port() const { return port_; }
  const std::string& log_path() const { return log_path_; }
  bool running() const { return pid_ > 0; }
  // How long the last start took, from fork to serving.
  std::chrono::milliseconds last_start_time() const { return last_start_time_; }

  // SIGTERM, then SIGKILL after 5 s; reaps the process. Sessions survive in the data dir.
  void Stop();
  // SIGKILL at once; reaps the process.
  void Kill();
  // Stops the server if it runs, then starts it again on the same port and data dir.
  void Restart();

  // Sends a four-letter word ("ruok", "mntr", "cons", ...) and returns the answer, or "" if the
  // server did not answer within `timeout`.
  std::string FourLetterWord(const std::string& word,
                             std::chrono::milliseconds timeout = std::chrono::seconds(2)) const;

  // Keeps the temp dir (data and log) after destruction.
  void KeepFiles() { keep_files_ = true; }

 private:
  void Start();
  void WriteConfig();
  std::string LogTail() const;

  ZookeeperServerOptions options_;
  std::string dir_;
  std::string config_path_;
  std::string log_path_;
  std::string connect_string_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool keep_files_ = false;
  std::chrono::milliseconds last_start_time_{0};
};

}  // namespace shardjob::testing
