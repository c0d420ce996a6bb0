#include "plugins/error-handlers/dingtalk/dingtalk_sign.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>
#include <vector>

namespace shardjob::error_handlers {
namespace {

// Not std::isalnum: that one follows the process's locale.
bool IsAsciiAlnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

}  // namespace

std::string DingTalkSignature(const std::string& secret, std::int64_t timestamp_ms) {
  std::string data = std::to_string(timestamp_ms) + "\n" + secret;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest,
           &digest_length) == nullptr) {
    throw std::runtime_error("OpenSSL could not compute HMAC-SHA256");
  }
  // EVP_EncodeBlock writes 4 characters per 3 bytes (padded) and a terminating NUL.
  std::vector<unsigned char> base64(4 * ((digest_length + 2) / 3) + 1);
  int length = EVP_EncodeBlock(base64.data(), digest, static_cast<int>(digest_length));
  return FormUrlEncode(
      std::string(reinterpret_cast<const char*>(base64.data()), static_cast<size_t>(length)));
}

std::string DingTalkSignedUrl(const std::string& webhook, const std::string& secret,
                              std::int64_t timestamp_ms) {
  char joiner = webhook.find('?') == std::string::npos ? '?' : '&';
  return webhook + joiner + "timestamp=" + std::to_string(timestamp_ms) +
         "&sign=" + DingTalkSignature(secret, timestamp_ms);
}

std::string FormUrlEncode(const std::string& text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string encoded;
  for (unsigned char c : text) {
    if (IsAsciiAlnum(c) || c == '.' || c == '-' || c == '*' || c == '_') {
      encoded += static_cast<char>(c);
    } else if (c == ' ') {
      encoded += '+';
    } else {
      encoded += '%';
      encoded += kHex[c >> 4];
      encoded += kHex[c & 0xf];
    }
  }
  return encoded;
}

}  // namespace shardjob::error_handlers
