#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace shardjob::executors {

// Splits `command_line` into an argv the way a POSIX shell splits words, minus everything that
// would make it a program: there is no expansion of any kind ($VAR, $(...), `...`, ~, globs) and
// no operator (|, ;, &, <, >), so those characters are ordinary text. The script executor never
// runs a shell of its own, which is what keeps a job parameter or YAML value from ever becoming
// shell code.
//
// - Unquoted whitespace (space, tab, newline, CR, FF, VT) separates words.
// - '...' keeps everything literally up to the next single quote.
// - "..." keeps everything literally, except that a backslash before ", \, $, ` or a newline
//   escapes it (a backslash-newline vanishes); any other backslash stays, as in sh.
// - Outside quotes a backslash escapes the next character; a backslash-newline vanishes.
// - Quoted and unquoted pieces that touch form one word ("a"'b'c is abc); '' is an empty word.
//
// Returns false with *error set on an unterminated quote or a trailing backslash.
bool TokenizeCommandLine(std::string_view command_line, std::vector<std::string>* words,
                         std::string* error);

}  // namespace shardjob::executors
