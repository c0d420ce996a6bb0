#include "config/sharding_item_parameters.h"

#include <charconv>
#include <stdexcept>
#include <vector>

namespace shardjob::config::internal {
namespace {

std::string_view Trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t begin = 0;
  while (true) {
    const size_t end = text.find(separator, begin);
    parts.push_back(text.substr(begin, end == std::string_view::npos ? end : end - begin));
    if (end == std::string_view::npos) return parts;
    begin = end + 1;
  }
}

}  // namespace

int ParseShardingItem(std::string_view text, int total) {
  int item = 0;
  // Java's parseInt takes a leading '+', from_chars does not.
  const bool plus = !text.empty() && text.front() == '+';
  const char* begin = text.data() + (plus ? 1 : 0);
  const char* end = text.data() + text.size();
  const auto [parsed_end, error] = std::from_chars(begin, end, item);
  if (begin == end || error == std::errc::invalid_argument || parsed_end != end ||
      (plus && *begin == '-')) {
    throw std::invalid_argument("sharding item '" + std::string(text) + "' is not an integer");
  }
  if (error == std::errc::result_out_of_range || item < 0 || item >= total) {
    throw std::invalid_argument(
        "sharding item " + std::string(text) + " is out of range: sharding_total_count is " +
        std::to_string(total) + ", so items are 0.." + std::to_string(total - 1));
  }
  return item;
}

std::map<int, std::string> ParseShardingItemParameters(std::string_view text, int total) {
  std::map<int, std::string> result;
  std::vector<std::string_view> entries = Split(text, ',');
  while (!entries.empty() && Trim(entries.back()).empty()) entries.pop_back();
  for (std::string_view raw : entries) {
    const std::string_view entry = Trim(raw);
    const std::vector<std::string_view> pair = Split(entry, '=');
    if (pair.size() != 2 || Trim(pair[0]).empty() || Trim(pair[1]).empty()) {
      throw std::invalid_argument("bad entry '" + std::string(entry) +
                                  "': expected 'item=parameter', e.g. '0=A,1=B'");
    }
    const int item = ParseShardingItem(Trim(pair[0]), total);
    const auto [it, inserted] = result.emplace(item, std::string(Trim(pair[1])));
    if (!inserted) {
      throw std::invalid_argument("sharding item " + std::to_string(item) + " is given twice");
    }
  }
  return result;
}

}  // namespace shardjob::config::internal
