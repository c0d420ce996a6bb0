#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "plugins/error-handlers/common/alert_channel.h"
#include "plugins/error-handlers/common/alerting_error_handler.h"
#include "plugins/error-handlers/email/mail_message.h"
#include "plugins/error-handlers/email/smtp_client.h"
#include "shardjob/spi/logger.h"
#include "shardjob/spi/plugin.h"

namespace shardjob::error_handlers {

// EMAIL: mails each error over SMTP, with ElasticJob's props, from a thread of its own, with
// retries (docs/error-handlers.md).
class EmailErrorHandler : public AlertingErrorHandler {
 public:
  // Throws std::invalid_argument naming the prop when the props are wrong.
  explicit EmailErrorHandler(const spi::PluginContext& context);
};

struct EmailSettings {
  SmtpSettings smtp;
  std::string from;
  std::vector<std::string> to;
  std::vector<std::string> cc;
  std::vector<std::string> bcc;
  std::string subject = "ElasticJob error message";
};

EmailSettings ReadEmailSettings(const spi::Properties& props);

// The mail for one alert: the settings' From, To, Cc and Subject, AlertText() as the body.
MailMessage AlertMail(const EmailSettings& settings, const Alert& alert,
                      const std::string& message_id);

class EmailChannel : public AlertChannel {
 public:
  EmailChannel(EmailSettings settings, spi::Logger& logger);
  spi::Status Deliver(const Alert& alert, const std::atomic<bool>& abort) override;

 private:
  const EmailSettings settings_;
  spi::Logger& logger_;
  // Message-IDs: a random part fixed per channel and a counter, so that ids never repeat.
  const std::uint64_t id_prefix_;
  std::uint64_t sent_ = 0;
};

}  // namespace shardjob::error_handlers
