#include "shardjob/spi/plugin.h"
#include "plugins/error-handlers/webhook/webhook_error_handler.h"

SHARDJOB_PLUGIN(
    "webhook-error-handler",
    shardjob::spi::ErrorHandlerEntry<shardjob::error_handlers::WebhookErrorHandler>("WEBHOOK"))
