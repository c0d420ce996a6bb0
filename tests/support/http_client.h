#pragma once

// A blocking HTTP/1.1 client for tests: one request per connection, bounded by a timeout. It
// speaks only what the tests need (Content-Length bodies; the server closes after answering).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace shardjob::testing {

struct HttpReply {
  int status = 0;  // 0: no answer (refused, timed out, garbled)
  std::string headers;
  std::string body;
};

// `address` is "127.0.0.1:PORT".
inline HttpReply HttpRequest(const std::string& address, const std::string& method,
                             const std::string& target, const std::string& body = "",
                             const std::string& extra_headers = "",
                             std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  HttpReply reply;
  const std::size_t colon = address.rfind(':');
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
  if (inet_pton(AF_INET, address.substr(0, colon).c_str(), &peer.sin_addr) != 1) return reply;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return reply;
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  if (connect(fd, reinterpret_cast<const sockaddr*>(&peer), sizeof(peer)) != 0) return reply;
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: " + address +
                        "\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\n" + extra_headers + "\r\n" + body;
  for (std::size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return reply;
    sent += static_cast<std::size_t>(n);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string raw;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd poll_fd{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&poll_fd, 1, static_cast<int>(left.count())) <= 0) return reply;
    char buffer[8192];
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0) return reply;
    if (n == 0) break;
    raw.append(buffer, static_cast<std::size_t>(n));
  }
  const std::size_t end_of_headers = raw.find("\r\n\r\n");
  if (raw.compare(0, 9, "HTTP/1.1 ") != 0 || end_of_headers == std::string::npos) return reply;
  reply.status = std::stoi(raw.substr(9, 3));
  reply.headers = raw.substr(0, end_of_headers);
  reply.body = raw.substr(end_of_headers + 4);
  return reply;
}

inline HttpReply HttpGet(const std::string& address, const std::string& target) {
  return HttpRequest(address, "GET", target);
}

}  // namespace shardjob::testing
