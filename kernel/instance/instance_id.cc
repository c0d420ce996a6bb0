#include "instance/instance_id.h"

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <random>

namespace shardjob::instance {

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
  if (id.empty() || id.size() > 200) return false;
  for (char c : id) {
    bool allowed = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                   c == '@' || c == ':' || c == '-';
    if (!allowed) return false;
  }
  return true;
}

}  // namespace shardjob::instance
