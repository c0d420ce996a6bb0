#include "shardjob/spi/plugin.h"
#include "plugins/error-handlers/email/email_error_handler.h"

SHARDJOB_PLUGIN(
    "email-error-handler",
    shardjob::spi::ErrorHandlerEntry<shardjob::error_handlers::EmailErrorHandler>("EMAIL"))
