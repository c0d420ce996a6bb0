#pragma once

// Reading the JSON the kernel keeps in registry nodes. Nodes may hold anything another writer
// put there, so every accessor tolerates the wrong shape instead of throwing: an exception on
// the event loop would end the process.

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "registry/registry.h"

namespace shardjob::coordination {

using Json = nlohmann::json;

inline std::string Describe(registry::Code code) { return registry::CodeName(code); }

// The text as a JSON object, or an empty object when it is not one.
inline Json ParseObject(const std::string& text) {
  Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return parsed.is_object() ? parsed : Json::object();
}

// The field when it is a string, else "".
inline std::string StringField(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The field when it is an integer, else 0.
inline std::int64_t IntField(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

// The field's elements of type T (int or std::string), skipping any other.
template <typename T>
std::vector<T> ListField(const Json& object, const char* key) {
  std::vector<T> values;
  auto it = object.find(key);
  if (it == object.end() || !it->is_array()) return values;
  for (const Json& value : *it) {
    if constexpr (std::is_same_v<T, int>) {
      if (value.is_number_integer()) values.push_back(value.get<int>());
    } else {
      if (value.is_string()) values.push_back(value.get<std::string>());
    }
  }
  return values;
}

}  // namespace shardjob::coordination
