// Small string helpers shared by the wrappers of command-line tools.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace banger {

// Without leading and trailing whitespace (space, tab, CR, LF).
std::string Trim(std::string_view s);
// The last non-empty line of a tool's output, trimmed: what error messages quote.
std::string LastLine(std::string_view s);
// The pieces of `s` between `sep`s; a trailing `sep` ends the last piece
// rather than starting an empty one.
std::vector<std::string> Split(std::string_view s, char sep);

}  // namespace banger
