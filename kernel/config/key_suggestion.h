#pragma once

// "did you mean ...?" for unknown config keys.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace shardjob::config::internal {

// Levenshtein distance (insertions, deletions, substitutions).
size_t EditDistance(std::string_view a, std::string_view b);

// The known key closest to `key`: within edit distance 2, or equal once case, '_' and '-' are
// ignored (so ElasticJob's camelCase `shardingTotalCount` finds `sharding_total_count`). The first
// of equally close candidates wins; nullopt when nothing is close.
std::optional<std::string> SuggestKey(std::string_view key,
                                      std::span<const std::string_view> known);

}  // namespace shardjob::config::internal
