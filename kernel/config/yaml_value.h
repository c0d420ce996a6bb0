#pragma once

// Typed, position-aware access to a parsed YAML document: every accessor either returns a checked
// value or throws ConfigError "<file>:<line>:<column>: <key path>: <problem>", so the schema code
// in config_loader.cc reads as a list of keys and rules.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config.h"
#include "config/env_substitution.h"

namespace shardjob::config::internal {

// What every value needs to report an error or substitute environment variables.
struct Document {
  std::string file;
  EnvLookup env;
};

struct Entry;

// One node of the document and its key path, e.g. "jobs[1].cron".
class Value {
 public:
  // `key_mark` is where the key is; it is used when the node has no position of its own (an empty
  // value's mark is wherever the parser went next, often the following line).
  Value(const Document& document, YAML::Node node, std::string path, YAML::Mark key_mark);
  Value(const Value&) = default;
  Value(Value&&) = default;
  // Assigning a YAML::Node changes the node it refers to inside the document, so a Value is
  // never reassigned.
  Value& operator=(const Value&) = delete;
  Value& operator=(Value&&) = delete;

  const std::string& path() const { return path_; }
  SourceLocation location() const;
  bool IsNull() const { return node_.IsNull(); }
  bool IsScalar() const { return node_.IsScalar(); }
  bool IsMap() const { return node_.IsMap(); }

  [[noreturn]] void Fail(std::string_view problem) const;

  // A scalar, after environment substitution. An empty value (`key:`, `~`, `null`) is an error:
  // write "" for an empty string, or leave the key out for its default.
  std::string String() const;
  std::string NonEmptyString() const;
  // YAML 1.2 core booleans: true, True, TRUE, false, False, FALSE.
  bool Bool() const;
  int Int(int min, int max) const;
  // See duration.h. `positive` rejects zero.
  std::chrono::milliseconds Duration(bool positive) const;
  // See byte_size.h. `positive` rejects zero.
  std::uint64_t ByteSize(bool positive) const;

  // A sequence; an empty value is an empty list, so that every entry can be commented out.
  std::vector<Value> Items() const;
  // A mapping with scalar, unique keys (keys are not substituted); an empty value is an empty map.
  std::vector<Entry> Entries() const;
  // A mapping of scalars, e.g. props.
  std::map<std::string, std::string> StringMap() const;

 private:
  const Document* document_;
  YAML::Node node_;
  std::string path_;
  YAML::Mark mark_;
};

struct Entry {
  std::string key;
  Value key_node;  // for errors about the key itself; its path is the entry's
  Value value;
};

// A mapping with a fixed set of keys, for the config's own sections.
class Map {
 public:
  // Throws ConfigError on an unknown key, with a suggestion when a known key is close.
  Map(const Value& value, std::span<const std::string_view> known_keys);

  const Value& value() const { return value_; }
  std::optional<Value> Find(std::string_view key) const;
  // Throws "<path>.<key>: missing required key" at the map's position.
  Value Require(std::string_view key) const;

 private:
  Value value_;
  std::vector<Entry> entries_;
};

// "<parent>.<key>", or "<key>" at the top level.
std::string ChildPath(std::string_view parent, std::string_view key);

// Throws ConfigError with the message format of config.h.
[[noreturn]] void ThrowConfigError(const SourceLocation& location, std::string_view path,
                                   std::string_view problem);

}  // namespace shardjob::config::internal
