#include "isolation/runner_location.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace shardjob::isolation {
namespace {

// Whether `path` is a file this process may execute; otherwise *why says why not.
bool IsExecutable(const std::filesystem::path& path, std::string* why) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    *why = path.string() + ": " + (error ? error.message() : "not a regular file");
    return false;
  }
  if (::access(path.c_str(), X_OK) != 0) {
    *why = path.string() + ": " + std::generic_category().message(errno);
    return false;
  }
  return true;
}

}  // namespace

std::string FindTaskRunner(std::string* why) {
  if (const char* configured = std::getenv(kTaskRunnerEnv); configured != nullptr) {
    std::error_code error;
    const std::filesystem::path path = std::filesystem::absolute(configured, error);
    if (error || !IsExecutable(path, why)) {
      if (error) *why = std::string(configured) + ": " + error.message();
      *why = std::string("$") + kTaskRunnerEnv + " names no task runner: " + *why;
      return "";
    }
    return path.lexically_normal().string();
  }
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) {
    *why = "cannot read /proc/self/exe to find " + std::string(kTaskRunnerName) +
           " beside this program (" + error.message() + "); set $" + kTaskRunnerEnv;
    return "";
  }
  const std::filesystem::path path = self.parent_path() / kTaskRunnerName;
  if (!IsExecutable(path, why)) {
    *why = "the task runner is expected beside this program, or at $" +
           std::string(kTaskRunnerEnv) + ": " + *why;
    return "";
  }
  return path.string();
}

}  // namespace shardjob::isolation
