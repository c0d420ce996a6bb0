#pragma once

#include <cstdint>
#include <string>

namespace shardjob::error_handlers {

// DingTalk's robot signature, as ElasticJob computes it:
// urlencode(base64(HmacSHA256(key = secret, data = "<timestamp_ms>\n<secret>"))).
std::string DingTalkSignature(const std::string& secret, std::int64_t timestamp_ms);

// The webhook URL with "timestamp=<ms>&sign=<signature>" appended to its query.
std::string DingTalkSignedUrl(const std::string& webhook, const std::string& secret,
                              std::int64_t timestamp_ms);

// Percent-encodes everything but A-Z a-z 0-9 and ". - * _", as Java's URLEncoder does (which
// is what DingTalk's own examples use), so a signature compares equal byte for byte.
std::string FormUrlEncode(const std::string& text);

}  // namespace shardjob::error_handlers
