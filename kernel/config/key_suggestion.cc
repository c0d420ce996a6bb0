#include "config/key_suggestion.h"

#include <algorithm>
#include <cctype>
#include <vector>

namespace shardjob::config::internal {
namespace {

constexpr size_t kMaxDistance = 2;

std::string Fold(std::string_view key) {
  std::string folded;
  for (char c : key) {
    if (c != '_' && c != '-') {
      folded.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return folded;
}

}  // namespace

size_t EditDistance(std::string_view a, std::string_view b) {
  // One row of the classic table is enough.
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::optional<std::string> SuggestKey(std::string_view key,
                                      std::span<const std::string_view> known) {
  const std::string folded = Fold(key);
  std::optional<std::string> best;
  size_t best_distance = kMaxDistance + 1;
  for (std::string_view candidate : known) {
    const size_t distance = Fold(candidate) == folded ? 0 : EditDistance(key, candidate);
    if (distance < best_distance) {
      best = std::string(candidate);
      best_distance = distance;
    }
  }
  return best;
}

}  // namespace shardjob::config::internal
