#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "shardjob/spi/status.h"

namespace shardjob::spi {

// The string-to-string settings a plugin receives from YAML (a job's `props`, a tracer's `props`).
// Typed getters report a malformed value as an error that names the key.
class Properties {
 public:
  Properties() = default;
  explicit Properties(std::map<std::string, std::string> values) : values_(std::move(values)) {}

  bool Has(const std::string& key) const { return values_.count(key) != 0; }
  std::optional<std::string> Find(const std::string& key) const;
  std::string GetOr(const std::string& key, const std::string& fallback) const;
  // Reads an integer in [min, max]; *value keeps `fallback` when the key is absent.
  Status GetInt(const std::string& key, std::int64_t fallback, std::int64_t min, std::int64_t max,
                std::int64_t* value) const;
  Status GetBool(const std::string& key, bool fallback, bool* value) const;

  void Set(const std::string& key, std::string value) { values_[key] = std::move(value); }
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace shardjob::spi
