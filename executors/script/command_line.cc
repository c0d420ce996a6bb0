#include "executors/script/command_line.h"

namespace shardjob::executors {
namespace {

bool IsSeparator(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool EscapableInDoubleQuotes(char c) {
  return c == '"' || c == '\\' || c == '$' || c == '`' || c == '\n';
}

}  // namespace

bool TokenizeCommandLine(std::string_view command_line, std::vector<std::string>* words,
                         std::string* error) {
  words->clear();
  std::string word;
  // Whether a word has started: '' must yield an empty word, so emptiness of `word` is not enough.
  bool in_word = false;
  std::size_t i = 0;
  const std::size_t n = command_line.size();
  while (i < n) {
    const char c = command_line[i];
    if (IsSeparator(c)) {
      if (in_word) {
        words->push_back(std::move(word));
        word.clear();
        in_word = false;
      }
      ++i;
    } else if (c == '\\') {
      if (i + 1 >= n) {
        *error = "trailing backslash";
        return false;
      }
      if (command_line[i + 1] != '\n') {
        word.push_back(command_line[i + 1]);
        in_word = true;
      }
      i += 2;
    } else if (c == '\'') {
      const std::size_t close = command_line.find('\'', i + 1);
      if (close == std::string_view::npos) {
        *error = "unterminated single quote at offset " + std::to_string(i);
        return false;
      }
      word.append(command_line.substr(i + 1, close - i - 1));
      in_word = true;
      i = close + 1;
    } else if (c == '"') {
      const std::size_t open = i;
      ++i;
      bool closed = false;
      while (i < n) {
        const char d = command_line[i];
        if (d == '"') {
          closed = true;
          ++i;
          break;
        }
        if (d == '\\' && i + 1 < n && EscapableInDoubleQuotes(command_line[i + 1])) {
          if (command_line[i + 1] != '\n') word.push_back(command_line[i + 1]);
          i += 2;
        } else {
          word.push_back(d);
          ++i;
        }
      }
      if (!closed) {
        *error = "unterminated double quote at offset " + std::to_string(open);
        return false;
      }
      in_word = true;
    } else {
      word.push_back(c);
      in_word = true;
      ++i;
    }
  }
  if (in_word) words->push_back(std::move(word));
  return true;
}

}  // namespace shardjob::executors
