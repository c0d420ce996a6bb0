#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "plugins/error-handlers/common/alert_channel.h"
#include "plugins/error-handlers/common/alerting_error_handler.h"
#include "shardjob/spi/plugin.h"

namespace shardjob::error_handlers {

// WEBHOOK: POSTs each error as JSON to `webhook.url` from a thread of its own, with retries (see
// docs/error-handlers.md for the props and the payload).
class WebhookErrorHandler : public AlertingErrorHandler {
 public:
  // Throws std::invalid_argument naming the prop when the props are wrong.
  explicit WebhookErrorHandler(const spi::PluginContext& context);
};

struct WebhookSettings {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::chrono::milliseconds timeout{5000};
};

// Reads and checks the webhook.* props other than the sender's.
WebhookSettings ReadWebhookSettings(const spi::Properties& props);

// `webhook.headers`: "Name: value" entries. When the text has a line break, each line is one
// entry and ';' is an ordinary character (for values such as cookies); otherwise entries are
// separated by ';'. Blank entries are skipped. Names must be HTTP tokens and values must not be
// empty.
std::vector<std::string> ParseWebhookHeaders(const std::string& text);

// {"job","fire","shard","instance","error","time","time_ms"}; fire and shard are null when the
// error is not about one.
std::string WebhookPayload(const Alert& alert);

class WebhookChannel : public AlertChannel {
 public:
  explicit WebhookChannel(WebhookSettings settings) : settings_(std::move(settings)) {}
  // A transport error or a status outside 2xx is a failed attempt.
  spi::Status Deliver(const Alert& alert, const std::atomic<bool>& abort) override;

 private:
  const WebhookSettings settings_;
};

}  // namespace shardjob::error_handlers
