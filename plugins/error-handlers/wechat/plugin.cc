#include "shardjob/spi/plugin.h"
#include "plugins/error-handlers/wechat/wechat_error_handler.h"

SHARDJOB_PLUGIN(
    "wechat-error-handler",
    shardjob::spi::ErrorHandlerEntry<shardjob::error_handlers::WeChatErrorHandler>("WECHAT"))
