#include "local_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>

namespace shardjob::testing {
namespace {

// The most any single read or the hang of one connection waits, so a broken test fails instead
// of hanging.
constexpr std::chrono::seconds kIoBound{10};
constexpr std::chrono::seconds kHangBound{60};

std::string ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 302:
      return "Found";
    case 404:
      return "Not Found";
    case 500:
      return "Internal Server Error";
    default:
      return "Status";
  }
}

bool SendAll(int fd, const std::string& data) {
  for (std::size_t sent = 0; sent < data.size();) {
    const ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

// Parses the request line and headers (without the blank line) into `request`.
bool ParseHead(const std::string& head, ReceivedRequest* request) {
  std::size_t line_end = head.find("\r\n");
  const std::string request_line = head.substr(0, line_end);
  const std::size_t first_space = request_line.find(' ');
  const std::size_t second_space = request_line.find(' ', first_space + 1);
  if (first_space == std::string::npos || second_space == std::string::npos) return false;
  request->method = request_line.substr(0, first_space);
  request->target = request_line.substr(first_space + 1, second_space - first_space - 1);
  while (line_end != std::string::npos) {
    const std::size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string line = head.substr(start, line_end - start);
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::size_t value_start = colon + 1;
    while (value_start < line.size() && line[value_start] == ' ') ++value_start;
    request->headers.emplace_back(line.substr(0, colon), line.substr(value_start));
  }
  return true;
}

}  // namespace

std::string ReceivedRequest::Header(const std::string& name, bool* found) const {
  for (const auto& [header, value] : headers) {
    if (strcasecmp(header.c_str(), name.c_str()) == 0) {
      if (found != nullptr) *found = true;
      return value;
    }
  }
  if (found != nullptr) *found = false;
  return "";
}

std::size_t ReceivedRequest::CountHeaders(const std::string& name) const {
  std::size_t count = 0;
  for (const auto& header : headers) {
    if (strcasecmp(header.first.c_str(), name.c_str()) == 0) ++count;
  }
  return count;
}

FileDescriptor::~FileDescriptor() {
  if (fd_ >= 0) close(fd_);
}

LocalHttpServer::LocalHttpServer(Reply reply)
    : reply_(std::move(reply)),
      listener_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)),
      stop_(eventfd(0, EFD_CLOEXEC)) {
  if (listener_.get() < 0 || stop_.get() < 0) throw std::runtime_error("socket/eventfd failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;  // the kernel picks a free port
  if (bind(listener_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(listener_.get(), 64) != 0) {
    throw std::runtime_error("cannot listen on 127.0.0.1");
  }
  socklen_t length = sizeof(address);
  getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

LocalHttpServer::~LocalHttpServer() {
  const std::uint64_t one = 1;
  (void)!write(stop_.get(), &one, sizeof(one));
  thread_.join();
}

std::string LocalHttpServer::Url(const std::string& path_and_query) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path_and_query;
}

bool LocalHttpServer::WaitForRequests(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return requests_.size() >= count; });
}

bool LocalHttpServer::WaitForAbandoned(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return abandoned_ >= count; });
}

std::vector<ReceivedRequest> LocalHttpServer::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

bool LocalHttpServer::WaitReadable(int fd, std::chrono::milliseconds timeout) const {
  pollfd fds[2] = {{fd, POLLIN, 0}, {stop_.get(), POLLIN, 0}};
  const int ready = poll(fds, 2, static_cast<int>(timeout.count()));
  return ready > 0 && fds[1].revents == 0 && fds[0].revents != 0;
}

void LocalHttpServer::Serve() {
  // Stops when the stop eventfd is written (WaitReadable is then false) or nobody connects for
  // the bound.
  while (WaitReadable(listener_.get(), kHangBound)) {
    FileDescriptor connection(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (connection.get() >= 0) ServeConnection(connection.get());
  }
}

void LocalHttpServer::ServeConnection(int fd) {
  std::string data;
  std::size_t head_end = std::string::npos;
  ReceivedRequest request;
  std::size_t body_length = 0;
  char buffer[4096];
  // Reads until the head and the Content-Length bytes of body are in.
  for (;;) {
    if (head_end == std::string::npos) {
      head_end = data.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        if (!ParseHead(data.substr(0, head_end), &request)) return;
        const std::string length = request.Header("Content-Length");
        body_length = length.empty() ? 0 : std::stoul(length);
      }
    }
    if (head_end != std::string::npos && data.size() >= head_end + 4 + body_length) break;
    if (!WaitReadable(fd, kIoBound)) return;
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return;
    data.append(buffer, static_cast<std::size_t>(n));
  }
  request.body = data.substr(head_end + 4, body_length);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(request);
  }
  changed_.notify_all();

  if (reply_.hang) {
    // The client gave up when the connection turns readable and reads as closed.
    if (WaitReadable(fd, kHangBound) && recv(fd, buffer, sizeof(buffer), 0) <= 0) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ++abandoned_;
      }
      changed_.notify_all();
    }
    return;
  }
  std::string answer = "HTTP/1.1 " + std::to_string(reply_.status) + " " +
                       ReasonPhrase(reply_.status) + "\r\nConnection: close\r\n";
  for (const std::string& header : reply_.headers) answer += header + "\r\n";
  // No body for a HEAD, but its Content-Length as for a GET.
  answer += "Content-Length: " + std::to_string(reply_.body.size()) + "\r\n\r\n";
  if (request.method != "HEAD") answer += reply_.body;
  SendAll(fd, answer);
}

std::string PercentDecode(const std::string& text) {
  std::string decoded;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      decoded.push_back(static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      decoded.push_back(text[i]);
    }
  }
  return decoded;
}

std::string QueryParameter(const std::string& target, const std::string& name) {
  const std::size_t question = target.find('?');
  if (question == std::string::npos) return "";
  std::size_t start = question + 1;
  while (start <= target.size()) {
    std::size_t end = target.find('&', start);
    if (end == std::string::npos) end = target.size();
    const std::string pair = target.substr(start, end - start);
    if (pair.rfind(name + "=", 0) == 0) return pair.substr(name.size() + 1);
    start = end + 1;
  }
  return "";
}

}  // namespace shardjob::testing
