#include "executors/http/request_headers.h"

#include <strings.h>

#include <cstring>

namespace shardjob::executors {
namespace {

constexpr const char* kReservedNames[] = {"shardingContext", "Content-Type", "Content-Length",
                                          "Transfer-Encoding"};

bool IsTokenChar(unsigned char c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  return c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  return text;
}

bool IsReserved(std::string_view name) {
  for (const char* reserved : kReservedNames) {
    if (name.size() == std::strlen(reserved) &&
        strncasecmp(name.data(), reserved, name.size()) == 0) {
      return true;
    }
  }
  return false;
}

// Checks one non-blank entry; on success appends the header.
// *error starts with how the entry is named: the whole entry when it has no ':', else only its
// name, so that a secret value does not end up in the log.
bool ParseEntry(std::string_view line, std::vector<HttpHeader>* headers, std::string* error) {
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    *error = "('" + std::string(line) + "') is not 'Name: value'";
    return false;
  }
  const std::string_view name = line.substr(0, colon);
  const std::string named = "('" + std::string(name) + "') ";
  if (name.empty()) {
    *error = "has an empty name";
    return false;
  }
  for (unsigned char c : name) {
    if (!IsTokenChar(c)) {
      *error = named + "has a character not allowed in a header name";
      return false;
    }
  }
  if (IsReserved(name)) {
    *error = named + "names a header the executor sets itself";
    return false;
  }
  const std::string_view value = Trim(line.substr(colon + 1));
  for (unsigned char c : value) {
    // Tabs inside a value are legal; any other control byte could split or corrupt the request.
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      *error = named + "has a control character in its value";
      return false;
    }
  }
  headers->push_back(HttpHeader{std::string(name), std::string(value)});
  return true;
}

}  // namespace

bool ParseRequestHeaders(std::string_view text, std::vector<HttpHeader>* headers,
                         std::string* error) {
  const char separator = text.find('\n') != std::string_view::npos ? '\n' : ';';
  int number = 0;
  while (!text.empty()) {
    const std::size_t end = text.find(separator);
    std::string_view entry = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!entry.empty() && entry.back() == '\r') entry.remove_suffix(1);
    // Indentation is forgiven: it is easy to carry over from YAML.
    entry = Trim(entry);
    if (entry.empty()) continue;
    ++number;
    std::string reason;
    if (!ParseEntry(entry, headers, &reason)) {
      *error = "header " + std::to_string(number) + " " + reason;
      return false;
    }
  }
  return true;
}

}  // namespace shardjob::executors
