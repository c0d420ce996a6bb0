#include "config/env_substitution.h"

#include <cstdlib>

namespace shardjob::config::internal {
namespace {

bool IsNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }

bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

bool IsValidName(std::string_view name) {
  if (name.empty() || !IsNameStart(name.front())) return false;
  for (char c : name) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

}  // namespace

std::string SubstituteEnv(std::string_view text, const EnvLookup& lookup) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const size_t dollar = text.find('$', i);
    if (dollar == std::string_view::npos || dollar + 1 == text.size()) {
      out.append(text.substr(i));
      break;
    }
    out.append(text.substr(i, dollar - i));
    const char next = text[dollar + 1];
    if (next == '$') {
      out.push_back('$');
      i = dollar + 2;
      continue;
    }
    if (next != '{') {
      out.push_back('$');
      i = dollar + 1;
      continue;
    }
    const size_t close = text.find('}', dollar + 2);
    if (close == std::string_view::npos) {
      throw EnvSubstitutionError("unterminated '${' in '" + std::string(text) +
                                 "' (write '$$' for a literal '$')");
    }
    const std::string_view body = text.substr(dollar + 2, close - dollar - 2);
    const size_t separator = body.find(":-");
    const std::string_view name = body.substr(0, separator);
    if (!IsValidName(name)) {
      throw EnvSubstitutionError("bad variable name '" + std::string(name) + "' in '${" +
                                 std::string(body) +
                                 "}': expected [A-Za-z_][A-Za-z0-9_]* (write '$$' for a literal "
                                 "'$')");
    }
    const std::optional<std::string> value = lookup(name);
    if (separator != std::string_view::npos) {
      out.append(value && !value->empty() ? std::string_view(*value) : body.substr(separator + 2));
    } else if (value) {
      out.append(*value);
    } else {
      throw EnvSubstitutionError("environment variable '" + std::string(name) +
                                 "' is not set (use '${" + std::string(name) +
                                 ":-default}' to give a default)");
    }
    i = close + 1;
  }
  return out;
}

std::optional<std::string> LookupProcessEnv(std::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

}  // namespace shardjob::config::internal
