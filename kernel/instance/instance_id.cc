#include "instance/instance_id.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <random>

namespace shardjob::instance {

std::string HostAddress() {
  ifaddrs* interfaces = nullptr;
  if (getifaddrs(&interfaces) != 0) return "127.0.0.1";
  std::string address = "127.0.0.1";
  for (const ifaddrs* each = interfaces; each != nullptr; each = each->ifa_next) {
    if (each->ifa_addr == nullptr || each->ifa_addr->sa_family != AF_INET) continue;
    if ((each->ifa_flags & IFF_LOOPBACK) != 0 || (each->ifa_flags & IFF_UP) == 0) continue;
    char text[INET_ADDRSTRLEN] = {};
    const auto* ipv4 = reinterpret_cast<const sockaddr_in*>(each->ifa_addr);
    if (inet_ntop(AF_INET, &ipv4->sin_addr, text, sizeof(text)) != nullptr) {
      address = text;
      break;
    }
  }
  freeifaddrs(interfaces);
  return address;
}

std::string GenerateInstanceId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof(host), "localhost");
  }
  std::string clean;
  for (char* c = host; *c != '\0'; ++c) {
    clean.push_back(std::isalnum(static_cast<unsigned char>(*c)) || *c == '.' || *c == '-' ? *c
                                                                                           : '_');
  }
  std::random_device entropy;
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), "%08x", static_cast<unsigned>(entropy()));
  return clean + "@" + std::to_string(getpid()) + "@" + suffix;
}

bool IsValidInstanceId(const std::string& id) {
  if (id.empty() || id.size() > 200 || id == "." || id == "..") return false;
  for (char c : id) {
    bool allowed = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                   c == '@' || c == ':' || c == '-';
    if (!allowed) return false;
  }
  return true;
}

}  // namespace shardjob::instance
