#include "plugins/error-handlers/email/mail_message.h"

#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <stdexcept>

namespace shardjob::error_handlers {
namespace {

constexpr std::size_t kMaxQpLine = 76;

std::string Trim(const std::string& text) {
  const char* kSpace = " \t\r\n";
  size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
}

std::string Join(const std::vector<std::string>& items) {
  std::string joined;
  for (const std::string& item : items) joined += (joined.empty() ? "" : ", ") + item;
  return joined;
}

std::string Hex(unsigned char c) {
  static const char kHex[] = "0123456789ABCDEF";
  return std::string{'=', kHex[c >> 4], kHex[c & 0xf]};
}

std::string Base64(const std::string& bytes) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string encoded;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    std::uint32_t n = (static_cast<unsigned char>(bytes[i]) << 16) |
                      (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                      static_cast<unsigned char>(bytes[i + 2]);
    encoded += {kAlphabet[(n >> 18) & 63], kAlphabet[(n >> 12) & 63], kAlphabet[(n >> 6) & 63],
                kAlphabet[n & 63]};
  }
  if (i + 1 == bytes.size()) {
    std::uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    encoded += {kAlphabet[(n >> 18) & 63], kAlphabet[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    std::uint32_t n = (static_cast<unsigned char>(bytes[i]) << 16) |
                      (static_cast<unsigned char>(bytes[i + 1]) << 8);
    encoded +=
        {kAlphabet[(n >> 18) & 63], kAlphabet[(n >> 12) & 63], kAlphabet[(n >> 6) & 63], '='};
  }
  return encoded;
}

// Builds quoted-printable lines, breaking them softly ("=" at the end) before they grow past 76.
class QpWriter {
 public:
  void Add(const std::string& piece) {
    // One character is kept for the soft break's "=".
    if (line_.size() + piece.size() > kMaxQpLine - 1) {
      out_ += line_ + "=\r\n";
      line_.clear();
    }
    line_ += piece;
  }
  // Ends the line; whitespace at its end would be stripped by relays, so it is encoded.
  void EndLine(bool hard_break) {
    if (!line_.empty() && (line_.back() == ' ' || line_.back() == '\t')) {
      unsigned char last = static_cast<unsigned char>(line_.back());
      line_.pop_back();
      Add(Hex(last));
    }
    out_ += line_;
    if (hard_break) out_ += "\r\n";
    line_.clear();
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
  std::string line_;
};

}  // namespace

std::string FormatMailMessage(const MailMessage& message) {
  std::string text;
  text += "Date: " + FormatMailDate(message.date) + "\r\n";
  text += "From: " + message.from + "\r\n";
  text += "To: " + Join(message.to) + "\r\n";
  if (!message.cc.empty()) text += "Cc: " + Join(message.cc) + "\r\n";
  text += "Subject: " + EncodeHeaderText(message.subject) + "\r\n";
  if (!message.message_id.empty()) text += "Message-ID: " + message.message_id + "\r\n";
  text += "MIME-Version: 1.0\r\n";
  text += "Content-Type: text/plain; charset=UTF-8\r\n";
  text += "Content-Transfer-Encoding: quoted-printable\r\n";
  text += "\r\n";
  text += QuotedPrintable(message.body);
  if (text.size() < 2 || text.compare(text.size() - 2, 2, "\r\n") != 0) text += "\r\n";
  return text;
}

std::vector<std::string> SplitAddresses(const std::string& list) {
  std::vector<std::string> addresses;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string address = Trim(list.substr(start, end - start));
    if (!address.empty()) addresses.push_back(address);
    start = end + 1;
  }
  return addresses;
}

std::string EnvelopeAddress(const std::string& address) {
  size_t open = address.find('<');
  size_t close = address.rfind('>');
  if (open != std::string::npos && close != std::string::npos && close > open) {
    return address.substr(open, close - open + 1);
  }
  return "<" + address + ">";
}

void CheckMailAddress(const std::string& key, const std::string& address) {
  for (unsigned char c : address) {
    if (c < ' ' || c == 0x7f) {
      throw std::invalid_argument("prop '" + key + "' has a control character in '" + address +
                                  "'");
    }
  }
  std::string bare = EnvelopeAddress(address);
  bare = bare.substr(1, bare.size() - 2);
  size_t at = bare.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == bare.size() ||
      bare.find_first_of(" <>,") != std::string::npos) {
    throw std::invalid_argument("prop '" + key + "': '" + address +
                                "' is not a mail address (local@domain or Name <local@domain>)");
  }
}

std::string FormatMailDate(std::chrono::system_clock::time_point time) {
  static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t seconds = std::chrono::system_clock::to_time_t(time);
  struct tm utc {};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::snprintf(text, sizeof(text), "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[utc.tm_wday],
                utc.tm_mday, kMonths[utc.tm_mon], utc.tm_year + 1900, utc.tm_hour, utc.tm_min,
                utc.tm_sec);
  return text;
}

std::string QuotedPrintable(const std::string& text) {
  QpWriter writer;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    if (c == '\n') {
      writer.EndLine(/*hard_break=*/true);
    } else if (c == ' ' || c == '\t' || (c >= 33 && c <= 126 && c != '=')) {
      writer.Add(std::string(1, static_cast<char>(c)));
    } else {
      writer.Add(Hex(c));
    }
  }
  writer.EndLine(/*hard_break=*/false);
  return writer.Take();
}

std::string EncodeHeaderText(const std::string& text) {
  bool plain = true;
  for (unsigned char c : text) {
    if (c < ' ' || c > '~') plain = false;
  }
  if (plain) return text;
  // 45 bytes make 60 base64 characters: with "=?UTF-8?B?" and "?=" a word stays under RFC 2047's
  // limit of 75.
  constexpr size_t kChunk = 45;
  std::string encoded;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = std::min(text.size(), start + kChunk);
    // Back off to the start of a UTF-8 character (continuation bytes are 10xxxxxx).
    while (end < text.size() && end > start + 1 &&
           (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
      --end;
    }
    std::string chunk = text.substr(start, end - start);
    // A line break inside a header would end it: the subject is one line.
    for (char& c : chunk) {
      if (c == '\r' || c == '\n') c = ' ';
    }
    if (!encoded.empty()) encoded += "\r\n ";
    encoded += "=?UTF-8?B?" + Base64(chunk) + "?=";
    start = end;
  }
  return encoded;
}

}  // namespace shardjob::error_handlers
