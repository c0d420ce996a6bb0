#pragma once

// The limits a task runner puts on itself before it loads any job code. They are set by the
// runner rather than between fork and exec, because a sanitizer build reserves terabytes of
// address space while it starts: an address-space limit set before exec would stop it from
// starting at all.

#include <cstdint>
#include <string>

#include "config/config.h"

namespace shardjob::isolation {

// Sets RLIMIT_CPU (soft at limits.cpu, whereupon the kernel sends SIGXCPU; hard one second later,
// SIGKILL, for code that catches SIGXCPU) and RLIMIT_AS (limits.memory). Under AddressSanitizer
// or ThreadSanitizer the address-space limit counts from what the runner maps when this is
// called, so it bounds what the job maps, as in a normal build (where the runner's own share is a
// few tens of MiB). Returns "" or what could not be set.
std::string ApplyLimits(const config::IsolationLimits& limits);

// The process's address space now, in bytes (VmSize).
std::uint64_t AddressSpaceNow();

}  // namespace shardjob::isolation
