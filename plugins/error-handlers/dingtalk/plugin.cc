#include "shardjob/spi/plugin.h"
#include "plugins/error-handlers/dingtalk/dingtalk_error_handler.h"

SHARDJOB_PLUGIN(
    "dingtalk-error-handler",
    shardjob::spi::ErrorHandlerEntry<shardjob::error_handlers::DingTalkErrorHandler>("DINGTALK"))
