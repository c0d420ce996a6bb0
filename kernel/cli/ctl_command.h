#pragma once

// `shardjob ctl`: the operator's command line (docs/cli.md). It works through the registry a
// config file names (operations/cluster_operations.h) and reads the trace store directly, so it
// needs no running instance.

#include <string>
#include <vector>

namespace shardjob::cli {

// The usage text of `shardjob ctl`.
extern const char* const kCtlUsage;

// Runs `shardjob ctl ARGS...` (the arguments after "ctl"). Returns the exit code: 0 done,
// 1 the operation failed (not found, conflict, unavailable, invalid), 2 a usage error.
int RunCtl(const std::vector<std::string>& args);

}  // namespace shardjob::cli
