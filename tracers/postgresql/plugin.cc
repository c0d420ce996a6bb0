#include "shardjob/spi/plugin.h"
#include "tracers/postgresql/postgresql_history.h"
#include "tracers/postgresql/postgresql_tracer.h"

SHARDJOB_PLUGIN(
    "postgresql-tracer",
    shardjob::spi::TracerEntry<shardjob::tracers::PostgresqlTracer>("POSTGRESQL"),
    shardjob::spi::TraceHistoryEntry<shardjob::tracers::PostgresqlHistory>("POSTGRESQL"))
