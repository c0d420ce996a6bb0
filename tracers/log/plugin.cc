#include "shardjob/spi/plugin.h"
#include "tracers/log/log_tracer.h"

SHARDJOB_PLUGIN("log-tracer", shardjob::spi::TracerEntry<shardjob::tracers::LogTracer>("LOG"))
