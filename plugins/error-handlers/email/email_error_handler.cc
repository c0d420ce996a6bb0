#include "plugins/error-handlers/email/email_error_handler.h"

#include <memory>
#include <random>
#include <stdexcept>

#include "plugins/error-handlers/common/alert_props.h"
#include "plugins/error-handlers/common/alert_text.h"

namespace shardjob::error_handlers {
namespace {

// ElasticJob names its props in camelCase; the sender's props follow suit.
const SenderPropNames kSenderProps = {"email.queueSize", "email.maxAttempts",
                                      "email.backoffMilliseconds",
                                      "email.shutdownTimeoutMilliseconds"};

std::vector<std::string> ReadAddresses(const spi::Properties& props, const std::string& key,
                                       bool required) {
  std::vector<std::string> addresses =
      SplitAddresses(required ? RequiredProp(props, key) : props.GetOr(key, ""));
  if (required && addresses.empty()) throw std::invalid_argument("prop '" + key + "' is required");
  for (const std::string& address : addresses) CheckMailAddress(key, address);
  return addresses;
}

void CheckHost(const std::string& host) {
  for (unsigned char c : host) {
    if (c <= ' ' || c == 0x7f || c == '/' || c == '@' || c == '?' || c == '#') {
      throw std::invalid_argument("prop 'email.host' must be a host name or address, got '" + host +
                                  "'");
    }
  }
}

std::string MailDomain(const std::string& from) {
  std::string bare = EnvelopeAddress(from);
  size_t at = bare.find('@');
  return bare.substr(at + 1, bare.size() - at - 2);
}

std::uint64_t RandomPrefix() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) | device();
}

}  // namespace

EmailErrorHandler::EmailErrorHandler(const spi::PluginContext& context)
    : AlertingErrorHandler(
          std::make_unique<EmailChannel>(ReadEmailSettings(context.props), context.logger),
          ReadSenderOptions(context.props, kSenderProps), context.logger) {}

EmailSettings ReadEmailSettings(const spi::Properties& props) {
  if (props.Has("email.ssl.trust")) {
    throw std::invalid_argument(
        "prop 'email.ssl.trust' is not supported: the server's certificate is always checked "
        "against the system's CA store");
  }
  RejectUnknownProps(
      props, "email.",
      {"email.host", "email.port", "email.username", "email.password", "email.from", "email.to",
       "email.cc", "email.bcc", "email.useSsl", "email.subject", "email.debug",
       "email.connectTimeoutMilliseconds", "email.readTimeoutMilliseconds", kSenderProps.queue_size,
       kSenderProps.max_attempts, kSenderProps.backoff, kSenderProps.shutdown_timeout});
  EmailSettings settings;
  SmtpSettings& smtp = settings.smtp;
  smtp.host = RequiredProp(props, "email.host");
  CheckHost(smtp.host);
  smtp.use_ssl = BoolProp(props, "email.useSsl", true);
  smtp.port = static_cast<int>(IntProp(props, "email.port", smtp.use_ssl ? 465 : 25, 1, 65535));
  smtp.username = props.GetOr("email.username", "");
  smtp.password = props.GetOr("email.password", "");
  if (smtp.username.empty() && !smtp.password.empty()) {
    throw std::invalid_argument("prop 'email.password' is set but 'email.username' is not");
  }
  smtp.debug = BoolProp(props, "email.debug", false);
  smtp.connect_timeout = MillisProp(props, "email.connectTimeoutMilliseconds", 3000, 1, 600000);
  // An SMTP session is several round trips: it gets the connect and read budgets together.
  smtp.timeout =
      smtp.connect_timeout + MillisProp(props, "email.readTimeoutMilliseconds", 10000, 1, 600000);

  settings.from = RequiredProp(props, "email.from");
  CheckMailAddress("email.from", settings.from);
  settings.to = ReadAddresses(props, "email.to", /*required=*/true);
  settings.cc = ReadAddresses(props, "email.cc", /*required=*/false);
  settings.bcc = ReadAddresses(props, "email.bcc", /*required=*/false);
  settings.subject = props.GetOr("email.subject", settings.subject);
  return settings;
}

MailMessage AlertMail(const EmailSettings& settings, const Alert& alert,
                      const std::string& message_id) {
  MailMessage mail;
  mail.from = settings.from;
  mail.to = settings.to;
  mail.cc = settings.cc;
  mail.subject = settings.subject;
  mail.body = AlertText(alert) + "\n";
  mail.date = std::chrono::system_clock::now();
  mail.message_id = message_id;
  return mail;
}

EmailChannel::EmailChannel(EmailSettings settings, spi::Logger& logger)
    : settings_(std::move(settings)), logger_(logger), id_prefix_(RandomPrefix()) {}

spi::Status EmailChannel::Deliver(const Alert& alert, const std::atomic<bool>& abort) {
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) about "<" + std::string&&.
  std::string message_id = "<";
  message_id += std::to_string(id_prefix_) + "." + std::to_string(++sent_);
  message_id += ".shardjob@" + MailDomain(settings_.from) + ">";
  std::string message = FormatMailMessage(AlertMail(settings_, alert, message_id));
  std::vector<std::string> recipients;
  for (const auto* list : {&settings_.to, &settings_.cc, &settings_.bcc}) {
    for (const std::string& address : *list) recipients.push_back(EnvelopeAddress(address));
  }
  return SendMail(settings_.smtp, EnvelopeAddress(settings_.from), recipients, message, abort,
                  logger_);
}

}  // namespace shardjob::error_handlers
