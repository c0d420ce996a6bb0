#include "plugins/error-handlers/email/smtp_client.h"

#include <strings.h>

#include <algorithm>
#include <cstring>

#include "plugins/curl/curl_handles.h"

namespace shardjob::error_handlers {
namespace {

// libcurl pulls the message through this, in pieces of at most size * count bytes.
struct MessageReader {
  const std::string& text;
  size_t offset = 0;
};

size_t ReadMessage(char* buffer, size_t size, size_t count, void* reader_ptr) {
  auto* reader = static_cast<MessageReader*>(reader_ptr);
  size_t length = std::min(size * count, reader->text.size() - reader->offset);
  std::memcpy(buffer, reader->text.data() + reader->offset, length);
  reader->offset += length;
  return length;
}

// Commands safe to show. Everything else sent as a command (AUTH and, for AUTH LOGIN, the
// base64 user name and password on lines of their own) is shown as "(redacted)".
bool IsShownCommand(const char* line, size_t length) {
  static const char* const kShown[] = {"EHLO", "HELO", "MAIL", "RCPT",
                                       "DATA", "QUIT", "RSET", "NOOP"};
  for (const char* verb : kShown) {
    if (length >= 4 && strncasecmp(line, verb, 4) == 0) return true;
  }
  return false;
}

int LogDialogue(CURL*, curl_infotype type, char* data, size_t size, void* logger_ptr) {
  const char* prefix = nullptr;
  switch (type) {
    case CURLINFO_TEXT:
      prefix = "* ";
      break;
    case CURLINFO_HEADER_IN:
      prefix = "S: ";
      break;
    case CURLINFO_HEADER_OUT:
      prefix = "C: ";
      break;
    default:
      return 0;  // the message body and TLS records: not logged
  }
  // Debug output only: losing a line is better than failing the mail, and an exception must not
  // unwind through libcurl's C frames.
  try {
    std::string text = type == CURLINFO_HEADER_OUT && !IsShownCommand(data, size)
                           ? std::string("(redacted)")
                           : std::string(data, size);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    static_cast<spi::Logger*>(logger_ptr)->Log(spi::LogLevel::kInfo, "smtp " + (prefix + text));
  } catch (...) {
  }
  return 0;
}

std::string SmtpUrl(const SmtpSettings& settings) {
  std::string host = settings.host;
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  return std::string(settings.use_ssl ? "smtps://" : "smtp://") + host + ":" +
         std::to_string(settings.port);
}

}  // namespace

spi::Status SendMail(const SmtpSettings& settings, const std::string& envelope_from,
                     const std::vector<std::string>& recipients, const std::string& message,
                     const std::atomic<bool>& abort, spi::Logger& logger) {
  curl::CurlEasy easy;
  curl::CurlList rcpt;
  for (const std::string& recipient : recipients) rcpt.Append(recipient);
  MessageReader reader{message};
  std::string url = SmtpUrl(settings);

  CURL* handle = easy.get();
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  // SMTPS when asked; otherwise plain, as ElasticJob without useSsl (no STARTTLS upgrade).
  curl_easy_setopt(
      handle, CURLOPT_USE_SSL,
      settings.use_ssl ? static_cast<long>(CURLUSESSL_ALL) : static_cast<long>(CURLUSESSL_NONE));
  if (!settings.username.empty()) {
    curl_easy_setopt(handle, CURLOPT_USERNAME, settings.username.c_str());
    curl_easy_setopt(handle, CURLOPT_PASSWORD, settings.password.c_str());
  }
  curl_easy_setopt(handle, CURLOPT_MAIL_FROM, envelope_from.c_str());
  curl_easy_setopt(handle, CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(handle, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(handle, CURLOPT_READFUNCTION, &ReadMessage);
  curl_easy_setopt(handle, CURLOPT_READDATA, &reader);
  curl_easy_setopt(handle, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(settings.connect_timeout.count()));
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(settings.timeout.count()));
  if (settings.debug) {
    curl_easy_setopt(handle, CURLOPT_DEBUGFUNCTION, &LogDialogue);
    curl_easy_setopt(handle, CURLOPT_DEBUGDATA, &logger);
    curl_easy_setopt(handle, CURLOPT_VERBOSE, 1L);
  }
  easy.AbortWhen(abort);

  std::string error;
  CURLcode code = easy.Perform(&error);
  if (code == CURLE_ABORTED_BY_CALLBACK) {
    return spi::Status::Cancelled("SMTP to " + url + " aborted: stopping");
  }
  if (code != CURLE_OK) return spi::Status::Unavailable("SMTP to " + url + " failed: " + error);
  return spi::Status::Ok();
}

}  // namespace shardjob::error_handlers
