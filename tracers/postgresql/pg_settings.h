#pragma once

// The libpq connection parameters of the POSTGRESQL tracer's props, which its trace_history
// shares (see PostgresqlTracer for the props and the defaults added to the url).

#include <string>
#include <vector>

#include "shardjob/spi/properties.h"

namespace shardjob::tracers {

struct PgSettings {
  // For PgConnection::Open: defaults, then the url (which overrides them), then what must win
  // over the url.
  std::vector<std::string> keywords;
  std::vector<std::string> values;
};

// Reads `url` and `connect_timeout`; asks the server to cancel a statement after
// `statement_timeout_ms`. Throws std::invalid_argument naming the prop when a prop is unknown,
// `url` is missing or malformed or `connect_timeout` is not a number of seconds. Does not
// connect.
PgSettings PgSettingsFromProps(const spi::Properties& props, int statement_timeout_ms);

}  // namespace shardjob::tracers
