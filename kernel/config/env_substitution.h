#pragma once

// `${NAME}` / `${NAME:-default}` substitution in config scalars, kept apart from YAML so that the
// rules can be tested on plain strings.

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace shardjob::config::internal {

// Returns the variable's value, or nullopt when it is unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// An unset variable without a default, a malformed `${...}`. what() names the variable or the
// offending text, without a position: the caller knows where the scalar is.
class EnvSubstitutionError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Replaces `${NAME}` by NAME's value and `${NAME:-default}` by NAME's value, or by `default` when
// NAME is unset or empty (as the shell does); `$$` is a literal `$`. Any other `$` is kept as it
// is, so that `$1` in a script command line needs no escaping. NAME is [A-Za-z_][A-Za-z0-9_]*;
// the default is literal text up to the first `}`. Throws EnvSubstitutionError.
std::string SubstituteEnv(std::string_view text, const EnvLookup& lookup);

// The process environment, for SubstituteEnv.
std::optional<std::string> LookupProcessEnv(std::string_view name);

}  // namespace shardjob::config::internal
