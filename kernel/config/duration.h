#pragma once

// Durations in the config file: "<n>ms", "<n>s", "<n>m", "<n>h", or a bare integer meaning
// milliseconds (so that ElasticJob-style millisecond values keep working).

#include <chrono>
#include <string>
#include <string_view>

namespace shardjob::config::internal {

// `n` is a non-negative decimal integer; no sign, fraction or space. Throws std::invalid_argument
// naming the text when it is malformed or does not fit.
std::chrono::milliseconds ParseDuration(std::string_view text);

// The inverse, for messages: the largest unit that divides `duration` exactly ("5s", "1500ms",
// "2m"), so a limit is quoted back as it was written.
std::string FormatDuration(std::chrono::milliseconds duration);

}  // namespace shardjob::config::internal
