#pragma once

// Reading a database tracer's props (YAML `tracing.props`). Unlike a job's props, which the
// executor, error handler and listeners share, these belong to the tracer alone, so a key it does
// not know is a mistake (`url` given to SQLITE, `busy_timout`) and is refused rather than ignored.
// Every message names the key as written in YAML: "tracing.props.path: ...".

#include <cstdint>
#include <initializer_list>
#include <string>

#include "shardjob/spi/properties.h"

namespace shardjob::tracers::rdb {

// Throws std::invalid_argument naming the first unknown key and listing the known ones.
void RejectUnknownProps(const spi::Properties& props, std::initializer_list<const char*> known);

// Throws std::invalid_argument when `key` is absent or empty; `what` says what it should hold.
std::string RequiredProp(const spi::Properties& props, const char* key, const char* what);

// An integer in [min, max], or `fallback` when absent; throws std::invalid_argument otherwise.
std::int64_t IntProp(const spi::Properties& props, const char* key, std::int64_t fallback,
                     std::int64_t min, std::int64_t max);

}  // namespace shardjob::tracers::rdb
