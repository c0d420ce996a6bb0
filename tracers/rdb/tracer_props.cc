#include "tracers/rdb/tracer_props.h"

#include <stdexcept>

namespace shardjob::tracers::rdb {
namespace {

std::string Qualified(const std::string& key) { return "tracing.props." + key; }

}  // namespace

void RejectUnknownProps(const spi::Properties& props, std::initializer_list<const char*> known) {
  for (const auto& [key, value] : props.values()) {
    bool found = false;
    std::string names;
    for (const char* name : known) {
      found = found || key == name;
      names += (names.empty() ? "" : ", ") + std::string(name);
    }
    if (!found)
      throw std::invalid_argument(Qualified(key) + ": unknown prop (known: " + names + ")");
  }
}

std::string RequiredProp(const spi::Properties& props, const char* key, const char* what) {
  std::string value = props.GetOr(key, "");
  if (value.empty()) {
    throw std::invalid_argument(Qualified(key) + ": required (" + what + ")");
  }
  return value;
}

std::int64_t IntProp(const spi::Properties& props, const char* key, std::int64_t fallback,
                     std::int64_t min, std::int64_t max) {
  std::int64_t value = fallback;
  spi::Status status = props.GetInt(key, fallback, min, max, &value);
  if (!status.ok()) throw std::invalid_argument(Qualified(key) + ": " + status.message());
  return value;
}

}  // namespace shardjob::tracers::rdb
