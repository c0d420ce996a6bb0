#include "shardjob/spi/properties.h"

#include <charconv>

namespace shardjob::spi {

std::optional<std::string> Properties::Find(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Properties::GetOr(const std::string& key, const std::string& fallback) const {
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

Status Properties::GetInt(const std::string& key, std::int64_t fallback, std::int64_t min,
                          std::int64_t max, std::int64_t* value) const {
  *value = fallback;
  auto it = values_.find(key);
  if (it == values_.end()) return Status::Ok();
  const std::string& text = it->second;
  std::int64_t parsed = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  if (error != std::errc() || end != text.data() + text.size()) {
    return Status::InvalidArgument("prop '" + key + "' must be an integer, got '" + text + "'");
  }
  if (parsed < min || parsed > max) {
    return Status::InvalidArgument("prop '" + key + "' must be between " + std::to_string(min) +
                                   " and " + std::to_string(max) + ", got " + text);
  }
  *value = parsed;
  return Status::Ok();
}

Status Properties::GetBool(const std::string& key, bool fallback, bool* value) const {
  *value = fallback;
  auto it = values_.find(key);
  if (it == values_.end()) return Status::Ok();
  if (it->second == "true") {
    *value = true;
  } else if (it->second == "false") {
    *value = false;
  } else {
    return Status::InvalidArgument("prop '" + key + "' must be true or false, got '" + it->second +
                                   "'");
  }
  return Status::Ok();
}

}  // namespace shardjob::spi
