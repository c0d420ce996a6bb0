#include "config/yaml_value.h"

#include <charconv>
#include <set>
#include <stdexcept>
#include <utility>

#include "config/byte_size.h"
#include "config/duration.h"
#include "config/key_suggestion.h"

namespace shardjob::config::internal {
namespace {

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "an empty value";
    case YAML::NodeType::Scalar:
      return "'" + node.Scalar() + "'";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

}  // namespace

std::string ChildPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string path(parent);
  path += '.';
  path += key;
  return path;
}

void ThrowConfigError(const SourceLocation& location, std::string_view path,
                      std::string_view problem) {
  std::string message = location.ToString();
  message += ": ";
  message += path.empty() ? std::string_view("(top level)") : path;
  message += ": ";
  message += problem;
  throw ConfigError(message);
}

Value::Value(const Document& document, YAML::Node node, std::string path, YAML::Mark key_mark)
    : document_(&document),
      node_(std::move(node)),
      path_(std::move(path)),
      mark_(node_.IsNull() || node_.Mark().is_null() ? key_mark : node_.Mark()) {}

SourceLocation Value::location() const {
  if (mark_.is_null()) return SourceLocation{document_->file, 0, 0};
  return SourceLocation{document_->file, mark_.line + 1, mark_.column + 1};
}

void Value::Fail(std::string_view problem) const { ThrowConfigError(location(), path_, problem); }

std::string Value::String() const {
  if (!node_.IsScalar()) {
    Fail("expected a string, got " + Describe(node_) +
         (node_.IsNull() ? " (write \"\" for an empty string)" : ""));
  }
  try {
    return SubstituteEnv(node_.Scalar(), document_->env);
  } catch (const EnvSubstitutionError& e) {
    Fail(e.what());
  }
}

std::string Value::NonEmptyString() const {
  std::string text = String();
  if (text.empty()) Fail("must not be empty");
  return text;
}

bool Value::Bool() const {
  if (!node_.IsScalar()) Fail("expected true or false, got " + Describe(node_));
  const std::string text = String();
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  Fail("expected true or false, got '" + text + "'");
}

int Value::Int(int min, int max) const {
  if (!node_.IsScalar()) Fail("expected an integer, got " + Describe(node_));
  const std::string text = String();
  // from_chars takes no '+', which YAML allows; skipping it must not let "+-1" through.
  const bool plus = !text.empty() && text.front() == '+';
  const char* begin = text.data() + (plus ? 1 : 0);
  const char* end = text.data() + text.size();
  long long number = 0;
  const auto [parsed_end, error] = std::from_chars(begin, end, number);
  if (begin == end || parsed_end != end || error == std::errc::invalid_argument ||
      (plus && *begin == '-')) {
    Fail("expected an integer, got '" + text + "'");
  }
  const bool out_of_range = error == std::errc::result_out_of_range;
  if (out_of_range ? *begin == '-' : number < min) {
    Fail("must be at least " + std::to_string(min) + ", got " + text);
  }
  if (out_of_range || number > max) {
    Fail("must be at most " + std::to_string(max) + ", got " + text);
  }
  return static_cast<int>(number);
}

std::chrono::milliseconds Value::Duration(bool positive) const {
  if (!node_.IsScalar()) Fail("expected a duration such as '15s', got " + Describe(node_));
  const std::string text = String();
  std::chrono::milliseconds duration{0};
  try {
    duration = ParseDuration(text);
  } catch (const std::invalid_argument& e) {
    Fail(e.what());
  }
  if (positive && duration.count() == 0) Fail("must be greater than 0, got '" + text + "'");
  return duration;
}

std::uint64_t Value::ByteSize(bool positive) const {
  if (!node_.IsScalar()) Fail("expected a size such as '512MiB', got " + Describe(node_));
  const std::string text = String();
  std::uint64_t bytes = 0;
  try {
    bytes = ParseByteSize(text);
  } catch (const std::invalid_argument& e) {
    Fail(e.what());
  }
  if (positive && bytes == 0) Fail("must be greater than 0, got '" + text + "'");
  return bytes;
}

std::vector<Value> Value::Items() const {
  std::vector<Value> items;
  if (node_.IsNull()) return items;
  if (!node_.IsSequence()) Fail("expected a list, got " + Describe(node_));
  for (const YAML::Node& item : node_) {
    items.emplace_back(*document_, item, path_ + "[" + std::to_string(items.size()) + "]", mark_);
  }
  return items;
}

std::vector<Entry> Value::Entries() const {
  std::vector<Entry> entries;
  if (node_.IsNull()) return entries;
  if (!node_.IsMap()) Fail("expected a map, got " + Describe(node_));
  std::set<std::string, std::less<>> seen;
  for (const auto& pair : node_) {
    const YAML::Node& key = pair.first;
    if (!key.IsScalar()) {
      Value(*document_, key, path_, key.Mark())
          .Fail("expected a plain key, got " + Describe(key) + " as a key");
    }
    std::string child_path = ChildPath(path_, key.Scalar());
    Value key_node(*document_, key, child_path, key.Mark());
    // yaml-cpp keeps both entries of a repeated key and lookups see the first: a silent override.
    if (!seen.insert(key.Scalar()).second) key_node.Fail("duplicate key");
    entries.push_back(Entry{key.Scalar(), key_node,
                            Value(*document_, pair.second, std::move(child_path), key.Mark())});
  }
  return entries;
}

std::map<std::string, std::string> Value::StringMap() const {
  std::map<std::string, std::string> map;
  for (const Entry& entry : Entries()) {
    if (!entry.value.node_.IsScalar()) {
      entry.value.Fail("expected a scalar value, got " + Describe(entry.value.node_) +
                       (entry.value.IsNull() ? " (write \"\" for an empty string)" : ""));
    }
    map.emplace(entry.key, entry.value.String());
  }
  return map;
}

Map::Map(const Value& value, std::span<const std::string_view> known_keys)
    : value_(value), entries_(value.Entries()) {
  for (const Entry& entry : entries_) {
    bool known = false;
    for (std::string_view key : known_keys) known = known || key == entry.key;
    if (known) continue;
    std::string problem = "unknown key";
    if (const std::optional<std::string> suggestion = SuggestKey(entry.key, known_keys)) {
      problem += " (did you mean '" + *suggestion + "'?)";
    }
    entry.key_node.Fail(problem);
  }
}

std::optional<Value> Map::Find(std::string_view key) const {
  for (const Entry& entry : entries_) {
    if (entry.key == key) return entry.value;
  }
  return std::nullopt;
}

Value Map::Require(std::string_view key) const {
  std::optional<Value> value = Find(key);
  if (!value) {
    ThrowConfigError(value_.location(), ChildPath(value_.path(), key), "missing required key");
  }
  return *value;
}

}  // namespace shardjob::config::internal
