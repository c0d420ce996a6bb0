#include "sharding-strategies/common/java_string_hash.h"

namespace shardjob::strategies {
namespace {

constexpr char32_t kReplacement = 0xFFFD;

// Decodes one code point at utf8[*pos], advancing *pos. Invalid input yields U+FFFD and consumes
// one byte, so that decoding always makes progress.
char32_t DecodeOne(std::string_view utf8, std::size_t* pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(utf8[i]); };
  const unsigned char lead = byte(*pos);
  std::size_t length = 0;
  char32_t code_point = 0;
  char32_t minimum = 0;
  if (lead < 0x80) {
    ++*pos;
    return lead;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2;
    code_point = lead & 0x1F;
    minimum = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    code_point = lead & 0x0F;
    minimum = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    code_point = lead & 0x07;
    minimum = 0x10000;
  } else {
    ++*pos;
    return kReplacement;
  }
  if (*pos + length > utf8.size()) {
    ++*pos;
    return kReplacement;
  }
  for (std::size_t i = 1; i < length; ++i) {
    const unsigned char next = byte(*pos + i);
    if ((next & 0xC0) != 0x80) {
      ++*pos;
      return kReplacement;
    }
    code_point = (code_point << 6) | (next & 0x3F);
  }
  if (code_point < minimum || code_point > 0x10FFFF ||
      (code_point >= 0xD800 && code_point <= 0xDFFF)) {
    ++*pos;
    return kReplacement;
  }
  *pos += length;
  return code_point;
}

}  // namespace

std::int32_t JavaStringHash(std::string_view utf8) {
  // Unsigned arithmetic wraps like Java's int without the undefined behaviour of signed overflow.
  std::uint32_t hash = 0;
  const auto add_unit = [&hash](std::uint32_t unit) { hash = hash * 31u + unit; };
  std::size_t pos = 0;
  while (pos < utf8.size()) {
    const char32_t code_point = DecodeOne(utf8, &pos);
    if (code_point >= 0x10000) {
      const std::uint32_t offset = code_point - 0x10000;
      add_unit(0xD800 + (offset >> 10));
      add_unit(0xDC00 + (offset & 0x3FF));
    } else {
      add_unit(code_point);
    }
  }
  // Since C++20 the conversion is defined as two's complement, which is Java's int.
  return static_cast<std::int32_t>(hash);
}

}  // namespace shardjob::strategies
