#pragma once

// ElasticJob's string form of sharding item parameters, "0=A,1=B,2=C".

#include <map>
#include <string>
#include <string_view>

namespace shardjob::config::internal {

// Splits on ',' then on '=', trimming spaces, as ElasticJob's ShardingItemParameters does: each
// entry is `item=parameter` with an integer item in [0, total) and a non-empty parameter (so a
// parameter cannot contain ',' or '='; the YAML map form has no such limit). Blank text is no
// parameters; a trailing ',' is accepted, as ElasticJob accepts it. Throws std::invalid_argument
// naming the bad entry, an out-of-range item or a repeated item.
std::map<int, std::string> ParseShardingItemParameters(std::string_view text, int total);

// Parses an item number and checks it is in [0, total); shared by the string and map forms.
// Throws std::invalid_argument.
int ParseShardingItem(std::string_view text, int total);

}  // namespace shardjob::config::internal
