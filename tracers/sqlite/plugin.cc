#include "shardjob/spi/plugin.h"
#include "tracers/sqlite/sqlite_tracer.h"

SHARDJOB_PLUGIN("sqlite-tracer",
                shardjob::spi::TracerEntry<shardjob::tracers::SqliteTracer>("SQLITE"))
