#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "shardjob/spi/logger.h"
#include "shardjob/spi/status.h"

namespace shardjob::error_handlers {

struct SmtpSettings {
  std::string host;
  int port = 465;
  // true: TLS from the first byte (SMTPS, as ElasticJob's useSsl); false: plain SMTP.
  bool use_ssl = true;
  std::string username;  // empty: no AUTH
  std::string password;
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds timeout{13000};  // the whole session
  // Logs the SMTP dialogue (AUTH and the message itself left out) at info level.
  bool debug = false;
};

// Sends one message over one SMTP session with libcurl. `envelope_from` and `recipients` are
// "<local@domain>" (MAIL FROM and RCPT TO); `message` is the whole RFC 5322 text with CRLF line
// ends (libcurl does the dot-stuffing). OK when the server accepted the message.
spi::Status SendMail(const SmtpSettings& settings, const std::string& envelope_from,
                     const std::vector<std::string>& recipients, const std::string& message,
                     const std::atomic<bool>& abort, spi::Logger& logger);

}  // namespace shardjob::error_handlers
