#pragma once

#include <chrono>
#include <string>

#include "plugins/error-handlers/common/alert_channel.h"
#include "plugins/error-handlers/common/alerting_error_handler.h"
#include "shardjob/spi/plugin.h"

namespace shardjob::error_handlers {

// WECHAT: sends each error to a WeCom (WeChat Work) group robot, with ElasticJob's props and
// message, from a thread of its own, with retries (docs/error-handlers.md).
class WeChatErrorHandler : public AlertingErrorHandler {
 public:
  // Throws std::invalid_argument naming the prop when the props are wrong.
  explicit WeChatErrorHandler(const spi::PluginContext& context);
};

struct WeChatSettings {
  std::string webhook;
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds read_timeout{5000};
};

WeChatSettings ReadWeChatSettings(const spi::Properties& props);

class WeChatChannel : public AlertChannel {
 public:
  explicit WeChatChannel(WeChatSettings settings) : settings_(std::move(settings)) {}
  spi::Status Deliver(const Alert& alert, const std::atomic<bool>& abort) override;

 private:
  const WeChatSettings settings_;
};

}  // namespace shardjob::error_handlers
