#pragma once

#include <string>

namespace shardjob::instance {

// A process's identity in the registry: "<host>@<pid>@<8 random hex digits>". Unlike ElasticJob's
// "ip@-@pid", two containers with the same address and pid still get different ids, and a
// restarted process never reuses its predecessor's id.
std::string GenerateInstanceId();

// The host's first non-loopback IPv4 address ("10.0.0.7"), or "127.0.0.1" when it has none: what
// ElasticJob records as a task's ip in its traces.
std::string HostAddress();

// Instance ids become registry path segments: at most 200 letters, digits and "._@:-", not "."
// or "..".
bool IsValidInstanceId(const std::string& id);

}  // namespace shardjob::instance
