#include "shardjob/spi/plugin.h"
#include "plugins/error-handlers/ignore/ignore_error_handler.h"

SHARDJOB_PLUGIN(
    "ignore-error-handler",
    shardjob::spi::ErrorHandlerEntry<shardjob::error_handlers::IgnoreErrorHandler>("IGNORE"))
