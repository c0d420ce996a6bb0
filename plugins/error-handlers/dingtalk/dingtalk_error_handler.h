#pragma once

#include <chrono>
#include <string>

#include "plugins/error-handlers/common/alert_channel.h"
#include "plugins/error-handlers/common/alerting_error_handler.h"
#include "shardjob/spi/plugin.h"

namespace shardjob::error_handlers {

// DINGTALK: sends each error to a DingTalk group robot, with ElasticJob's props and message, from
// a thread of its own, with retries (docs/error-handlers.md).
class DingTalkErrorHandler : public AlertingErrorHandler {
 public:
  // Throws std::invalid_argument naming the prop when the props are wrong.
  explicit DingTalkErrorHandler(const spi::PluginContext& context);
};

struct DingTalkSettings {
  std::string webhook;
  std::string keyword;  // empty: none
  std::string secret;   // empty: the URL is not signed
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds read_timeout{5000};
};

DingTalkSettings ReadDingTalkSettings(const spi::Properties& props);

// The keyword, when set, is put in front of the text with nothing between, as ElasticJob does: a
// robot with keyword security accepts only messages containing the keyword.
std::string DingTalkContent(const DingTalkSettings& settings, const Alert& alert);

class DingTalkChannel : public AlertChannel {
 public:
  explicit DingTalkChannel(DingTalkSettings settings) : settings_(std::move(settings)) {}
  // Signs with the current time on every attempt: DingTalk refuses signatures over an hour old.
  spi::Status Deliver(const Alert& alert, const std::atomic<bool>& abort) override;

 private:
  const DingTalkSettings settings_;
};

}  // namespace shardjob::error_handlers
