#pragma once

#include <stdexcept>
#include <string>

#include "shardjob/spi/properties.h"

namespace shardjob::examples {

// The props both plugin objects read (from the job's `props`).
inline constexpr char kSourceProp[] = "copy.source";
inline constexpr char kTargetProp[] = "copy.target";
inline constexpr char kTableProp[] = "copy.table";
inline constexpr char kKeyProp[] = "copy.key";
inline constexpr char kBatchProp[] = "copy.batch";
inline constexpr char kRowDelayProp[] = "copy.row_delay_ms";

// A required, non-empty string prop; std::invalid_argument naming it otherwise.
inline std::string RequiredProp(const spi::Properties& props, const char* key,
                                const char* meaning) {
  std::string value = props.GetOr(key, "");
  if (value.empty()) {
    throw std::invalid_argument(std::string("prop '") + key + "' is required: " + meaning);
  }
  return value;
}

}  // namespace shardjob::examples
