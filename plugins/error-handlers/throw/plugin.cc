#include "shardjob/spi/plugin.h"
#include "plugins/error-handlers/throw/throw_error_handler.h"

SHARDJOB_PLUGIN(
    "throw-error-handler",
    shardjob::spi::ErrorHandlerEntry<shardjob::error_handlers::ThrowErrorHandler>("THROW"))
