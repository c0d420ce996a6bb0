#pragma once

// A TCP port on 127.0.0.1 that nobody uses now: the kernel's pick for a socket bound to port 0,
// closed again. A server told to bind it a moment later can find it taken by another process, so
// a caller that starts one retries with a new port when the bind fails.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace shardjob::testing {

inline int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  const bool picked = fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&address), length) == 0 &&
                      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  const int error = errno;
  if (fd >= 0) close(fd);
  if (!picked)
    throw std::runtime_error(std::string("no free loopback port: ") + std::strerror(error));
  return ntohs(address.sin_port);
}

}  // namespace shardjob::testing
