#pragma once

// Sizes in the config file: "<n>KiB", "<n>MiB" or "<n>GiB" (powers of 1024). The unit is
// required: a bare number could mean bytes, kilobytes or megabytes, and guessing wrong by a
// factor of 1024 is the kind of mistake a config check exists to catch.

#include <cstdint>
#include <string>
#include <string_view>

namespace shardjob::config::internal {

// `n` is a non-negative decimal integer; no sign, fraction or space. Throws std::invalid_argument
// naming the text when it is malformed or does not fit in 64 bits.
std::uint64_t ParseByteSize(std::string_view text);

// The inverse, for messages: the largest unit that divides `bytes` exactly ("512MiB", "1536KiB";
// "100B" when none does).
std::string FormatByteSize(std::uint64_t bytes);

}  // namespace shardjob::config::internal
