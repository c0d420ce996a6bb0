#pragma once

// Where the task runner program is. A separate program rather than a subcommand of `shardjob`:
// an application embedding the kernel has no `shardjob` binary to call, but can ship this one
// beside its own executable or name it in the environment.

#include <string>

namespace shardjob::isolation {

inline constexpr const char* kTaskRunnerName = "shardjob-task-runner";
// Overrides the search: the runner's path, for tests and for installs that keep it elsewhere.
inline constexpr const char* kTaskRunnerEnv = "SHARDJOB_TASK_RUNNER";

// $SHARDJOB_TASK_RUNNER when set, else shardjob-task-runner in the directory of this process's
// executable (/proc/self/exe). Returns the absolute path of an executable file, or "" with *why
// saying where it looked and what was wrong.
std::string FindTaskRunner(std::string* why);

}  // namespace shardjob::isolation
