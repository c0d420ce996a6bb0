#pragma once

#include <cstdint>
#include <string_view>

namespace shardjob::strategies {

// Java's String.hashCode() of the string whose UTF-8 encoding is `utf8`: s[0]*31^(n-1) + ... +
// s[n-1] over the UTF-16 code units, wrapping at 32 bits. ODEVITY and ROUND_ROBIN must pick the
// same order as an ElasticJob instance would for the same job name, so this has to be bit-exact,
// including for names outside ASCII (a code point above U+FFFF counts as its surrogate pair).
//
// Bytes that are not valid UTF-8 (stray continuation bytes, overlong forms, encoded surrogates,
// truncated sequences) each count as U+FFFD, which is what Java would have hashed had it decoded
// the same bytes with its default replacing decoder one bad byte at a time. Job names are
// normally ASCII, where every byte is one code unit.
std::int32_t JavaStringHash(std::string_view utf8);

}  // namespace shardjob::strategies
