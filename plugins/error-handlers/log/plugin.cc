#include "shardjob/spi/plugin.h"
#include "plugins/error-handlers/log/log_error_handler.h"

SHARDJOB_PLUGIN("log-error-handler",
                shardjob::spi::ErrorHandlerEntry<shardjob::error_handlers::LogErrorHandler>("LOG"))
