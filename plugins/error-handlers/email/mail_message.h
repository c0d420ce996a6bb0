#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace shardjob::error_handlers {

// The pieces of a plain-text mail (RFC 5322 with a MIME text/plain body).
struct MailMessage {
  std::string from;
  std::vector<std::string> to;
  std::vector<std::string> cc;  // Bcc never appears in the message, only in the envelope
  std::string subject;
  std::string body;  // UTF-8, lines separated by "\n" or "\r\n"
  std::chrono::system_clock::time_point date;
  std::string message_id;  // "<...@...>", or empty for none
};

// The whole message as sent after DATA: CRLF line ends, the subject in RFC 2047 encoded words
// when it is not plain ASCII, the body in quoted-printable (UTF-8 and lines of any length
// survive 7-bit relays).
std::string FormatMailMessage(const MailMessage& message);

// "a@x, Ops <b@y>" -> {"a@x", "Ops <b@y>"}: split on commas, trimmed, blanks dropped.
std::vector<std::string> SplitAddresses(const std::string& list);

// What goes into MAIL FROM / RCPT TO: "Ops <b@y>" -> "<b@y>", "a@x" -> "<a@x>".
std::string EnvelopeAddress(const std::string& address);

// Throws std::invalid_argument naming `key` unless `address` is "local@domain" or
// "Name <local@domain>" without line breaks.
void CheckMailAddress(const std::string& key, const std::string& address);

// "Tue, 14 Nov 2023 22:13:20 +0000" (RFC 5322, in UTC, English names whatever the locale).
std::string FormatMailDate(std::chrono::system_clock::time_point time);

// RFC 2045 quoted-printable with CRLF line ends and lines of at most 76 characters.
std::string QuotedPrintable(const std::string& text);

// The text as is when it is printable ASCII, else RFC 2047 "=?UTF-8?B?...?=" words folded onto
// continuation lines, never splitting a UTF-8 character.
std::string EncodeHeaderText(const std::string& text);

}  // namespace shardjob::error_handlers
