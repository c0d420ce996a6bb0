#pragma once

// A real PostgreSQL server for tests: initdb into a temp dir, then `postgres` listening on a free
// port of 127.0.0.1 (and on a Unix socket in the temp dir), trust authentication for the
// superuser `postgres`. Stop() and Start() take it down and bring it back on the same data dir
// and port, for outage tests. The destructor stops it by its pid; it deletes the temp dir unless
// a test failed (or KeepFiles() was called, or SHARDJOB_KEEP_POSTGRES_FILES=1), and then says
// where the log is.
//
// Binaries: $SHARDJOB_POSTGRES_BIN if set, else the newest /usr/lib/postgresql/<version>/bin
// (Debian's package `postgresql`), else initdb and postgres on the PATH. Both refuse to run as
// root: when the test runs as root, they run as the user `postgres` (which Debian's package
// creates), and the temp dir belongs to that user.
//
// This class only runs processes; it does not link libpq. Tests that query link it themselves.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace shardjob::testing {

struct PostgresServerOptions {
  // false: fsync, synchronous_commit and full_page_writes are off, for speed (the data dir is
  // thrown away). true: the server's durable defaults, for benchmarks.
  bool durable = false;
  // More `-c name=value` settings.
  std::vector<std::string> settings;
  // How long initdb, a start or a stop may take before giving up.
  std::chrono::milliseconds timeout{30000};
};

class PostgresServer {
 public:
  // Runs initdb and starts the server; returns when it accepts connections. Throws
  // std::runtime_error (with the tail of its log) if that fails or takes too long.
  explicit PostgresServer(PostgresServerOptions options = {});
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // "postgresql://postgres@127.0.0.1:PORT/<database>".
  std::string Url(const std::string& database = "postgres") const;
  int port() const { return port_; }
  const std::string& log_path() const { return log_path_; }
  bool running() const { return pid_ > 0; }

  // Fast shutdown (SIGINT: open sessions are ended, their transactions rolled back), SIGKILL if
  // that takes longer than the timeout; reaps the process. No-op when stopped. (SIGTERM would
  // be a "smart" shutdown, which waits for every client to disconnect.)
  void Stop();
  // Starts the server on the same data dir and port; returns when it accepts connections. No-op
  // when running. Throws like the constructor.
  void Start();

  // Keeps the temp dir (data and log) after destruction.
  void KeepFiles() { keep_files_ = true; }

 private:
  // Runs `argv` as the server's user with output appended to the log; returns its pid.
  pid_t Spawn(const std::vector<std::string>& argv);
  void InitDb();
  // True once postmaster.pid says "ready" for our pid.
  bool Ready() const;
  std::string LogTail() const;

  PostgresServerOptions options_;
  std::string bin_dir_;
  std::string dir_;
  std::string data_dir_;
  std::string log_path_;
  int port_ = 0;
  pid_t pid_ = -1;
  // The user initdb and postgres run as when we are root; -1 otherwise.
  uid_t uid_ = static_cast<uid_t>(-1);
  gid_t gid_ = static_cast<gid_t>(-1);
  bool keep_files_ = false;
};

}  // namespace shardjob::testing
