#pragma once

// Failpoints: named, deliberate breakages that the fault tests switch on to show that their
// checker catches the bug (etcd's gofail and TiKV's fail-rs work the same way). Compiled in only
// when the build has tests (CMake option SHARDJOB_FAILPOINTS); in any other build Enabled() is
// always false, and a process started with SHARDJOB_FAILPOINTS set says so at start.
//
//   SHARDJOB_FAILPOINTS=unguarded_commit   commits are sent without their version guard and
//                                          lease delete, even on a new session (breaks G2/G3)
//   SHARDJOB_SESSION_FILE=<path>           each new registry session writes "<id> <password>",
//                                          both hex, to <path>, so a test can expire it from
//                                          outside (it is a credential: test builds only)

#include <string>
#include <string_view>

namespace shardjob::failpoint {

// True when `name` is listed in SHARDJOB_FAILPOINTS (comma-separated) and failpoints are built.
bool Enabled(std::string_view name);

// The path in SHARDJOB_SESSION_FILE, or "" (always "" without failpoints).
std::string SessionFile();

// Logs which failpoints are on, or that they are set but not built in. Called once at start.
void LogState();

}  // namespace shardjob::failpoint
