#pragma once

// A tiny HTTP/1.1 server on 127.0.0.1 and a free port, for the HTTP executor's tests. One thread
// serves one connection at a time, reads one request (Content-Length bodies only, which is what
// libcurl sends for the executor's requests), records it, and answers as told. Every wait is
// bounded and the destructor stops and joins the thread.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace shardjob::testing {

struct ReceivedRequest {
  std::string method;
  // The request target: path and query, as sent.
  std::string target;
  // In the order received, names as sent.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The value of the first header named `name` (without case); `found` tells whether there was
  // one.
  std::string Header(const std::string& name, bool* found = nullptr) const;
  std::size_t CountHeaders(const std::string& name) const;
};

struct Reply {
  int status = 200;
  std::string body;
  // Extra "Name: value" lines.
  std::vector<std::string> headers;
  // Never answer: hold the connection open until the client closes it or the server stops.
  bool hang = false;
};

// A socket or eventfd, closed with the object.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd = -1) : fd_(fd) {}
  ~FileDescriptor();
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileDescriptor& operator=(FileDescriptor&&) = delete;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;

  int get() const { return fd_; }

 private:
  int fd_;
};

class LocalHttpServer {
 public:
  // Throws std::runtime_error when it cannot listen.
  explicit LocalHttpServer(Reply reply = {});
  ~LocalHttpServer();

  LocalHttpServer(const LocalHttpServer&) = delete;
  LocalHttpServer& operator=(const LocalHttpServer&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port>" + path.
  std::string Url(const std::string& path_and_query = "/") const;

  // Blocks until `count` requests have been received, or `timeout` passed (then false).
  bool WaitForRequests(std::size_t count,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  // Blocks until `count` hanging connections have been closed by their client.
  bool WaitForAbandoned(std::size_t count,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  std::vector<ReceivedRequest> requests() const;

 private:
  void Serve();
  void ServeConnection(int fd);
  // Waits for `fd` to become readable or the server to stop; false on stop or after `timeout`.
  bool WaitReadable(int fd, std::chrono::milliseconds timeout) const;

  const Reply reply_;
  FileDescriptor listener_;
  FileDescriptor stop_;  // an eventfd: written once by the destructor
  int port_ = 0;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<ReceivedRequest> requests_;
  std::size_t abandoned_ = 0;

  std::thread thread_;  // last: started once everything above is ready
};

// Decodes %XX escapes (and nothing else: '+' stays '+'), as the executor encodes only with %XX.
std::string PercentDecode(const std::string& text);

// The value of `name` in a target's query ("/p?a=1&b=2"), still encoded; empty when absent.
std::string QueryParameter(const std::string& target, const std::string& name);

}  // namespace shardjob::testing
