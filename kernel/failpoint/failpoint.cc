#include "failpoint/failpoint.h"

#include <cstdlib>
#include <sstream>
#include <vector>

#include <spdlog/spdlog.h>

namespace shardjob::failpoint {
namespace {

std::string Environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

const std::vector<std::string>& Listed() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> parsed;
    std::stringstream list(Environment("SHARDJOB_FAILPOINTS"));
    for (std::string name; std::getline(list, name, ',');) {
      if (!name.empty()) parsed.push_back(name);
    }
    return parsed;
  }();
  return names;
}

}  // namespace

#ifdef SHARDJOB_FAILPOINTS
constexpr bool kBuiltIn = true;
#else
constexpr bool kBuiltIn = false;
#endif

bool Enabled(std::string_view name) {
  if (!kBuiltIn) return false;
  for (const std::string& listed : Listed()) {
    if (listed == name) return true;
  }
  return false;
}

std::string SessionFile() { return kBuiltIn ? Environment("SHARDJOB_SESSION_FILE") : ""; }

void LogState() {
  const bool set = !Listed().empty() || !Environment("SHARDJOB_SESSION_FILE").empty();
  if (!set) return;
  if (!kBuiltIn) {
    spdlog::warn(
        "SHARDJOB_FAILPOINTS / SHARDJOB_SESSION_FILE are set but this build has no failpoints "
        "(they exist in test builds only): ignored");
    return;
  }
  std::string names;
  for (const std::string& name : Listed()) names += " " + name;
  spdlog::warn("failpoints on (a test build breaking itself on purpose):{}{}", names,
               SessionFile().empty() ? "" : " session_file=" + SessionFile());
}

}  // namespace shardjob::failpoint
