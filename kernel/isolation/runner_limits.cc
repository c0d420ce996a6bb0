#include "isolation/runner_limits.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <system_error>

#include "config/byte_size.h"

// ASan and TSan reserve terabytes of address space for their shadow memory as they start.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SHARDJOB_SANITIZER_SHADOW 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SHARDJOB_SANITIZER_SHADOW 1
#endif
#endif

namespace shardjob::isolation {
namespace {

// Lowers a limit to `value`, never raising the hard limit (only root may).
std::string Lower(int resource, const char* name, rlim_t soft, rlim_t hard) {
  struct rlimit current;
  if (::getrlimit(resource, &current) != 0) {
    return std::string("getrlimit(") + name + "): " + std::generic_category().message(errno);
  }
  struct rlimit wanted;
  wanted.rlim_max = current.rlim_max == RLIM_INFINITY ? hard : std::min(current.rlim_max, hard);
  wanted.rlim_cur = std::min(soft, wanted.rlim_max);
  if (::setrlimit(resource, &wanted) != 0) {
    return std::string("setrlimit(") + name + "): " + std::generic_category().message(errno);
  }
  return "";
}

}  // namespace

std::uint64_t AddressSpaceNow() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t pages = 0;
  statm >> pages;
  return pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::string ApplyLimits(const config::IsolationLimits& limits) {
  if (limits.cpu.count() > 0) {
    const auto seconds = static_cast<rlim_t>(limits.cpu.count());
    std::string problem = Lower(RLIMIT_CPU, "RLIMIT_CPU", seconds, seconds + 1);
    if (!problem.empty()) return problem;
  }
  if (limits.memory > 0) {
    std::uint64_t base = 0;
#ifdef SHARDJOB_SANITIZER_SHADOW
    base = AddressSpaceNow();
#else
    const std::uint64_t used = AddressSpaceNow();
    if (used >= limits.memory) {
      return "the address-space limit " + config::internal::FormatByteSize(limits.memory) +
             " is below the " + std::to_string(used >> 20) +
             " MiB the task runner maps before loading any job code";
    }
#endif
    const auto bytes = static_cast<rlim_t>(base + limits.memory);
    std::string problem = Lower(RLIMIT_AS, "RLIMIT_AS", bytes, bytes);
    if (!problem.empty()) return problem;
  }
  return "";
}

}  // namespace shardjob::isolation
