#include "shardjob/spi/plugin.h"
#include "tracers/sqlite/sqlite_history.h"
#include "tracers/sqlite/sqlite_tracer.h"

SHARDJOB_PLUGIN("sqlite-tracer",
                shardjob::spi::TracerEntry<shardjob::tracers::SqliteTracer>("SQLITE"),
                shardjob::spi::TraceHistoryEntry<shardjob::tracers::SqliteHistory>("SQLITE"))
