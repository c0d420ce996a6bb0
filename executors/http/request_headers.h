#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace shardjob::executors {

struct HttpHeader {
  std::string name;
  std::string value;
};

// Parses the http.headers prop, in the same format as the WEBHOOK error handler's
// webhook.headers, so that one habit serves both: "Name: value" entries separated by ';'
//
//   http.headers: "Authorization: Bearer abc123; X-Tenant: eu-1"
//
// or, when the text has a line break, one entry per line, and ';' is then an ordinary character
// (for cookies and "text/plain; charset=utf-8"):
//
//   http.headers: |
//     Cookie: session=abc; region=eu
//     X-Tenant: eu-1
//
// Blank entries are skipped, spaces around an entry are dropped, "\r\n" line ends are accepted.
// The name must be an HTTP token (RFC 9110: letters, digits and !#$%&'*+-.^_`|~) directly
// followed by ':'; spaces and tabs around the value are dropped; the value may be empty (unlike
// webhook.headers: an empty header is legal HTTP) but may hold no control character. A name may
// repeat (HTTP allows it; every entry is sent).
//
// Names the executor sets itself are refused, compared without case: shardingContext (the shard
// context), Content-Type (use http.content.type), Content-Length and Transfer-Encoding (libcurl
// frames the body; a wrong one would corrupt the request).
//
// Returns false with *error naming the entry when one is malformed or names a refused header.
bool ParseRequestHeaders(std::string_view text, std::vector<HttpHeader>* headers,
                         std::string* error);

}  // namespace shardjob::executors
