// Small string helpers shared by the wrappers of command-line tools.
#pragma once

#include <string>
#include <string_view>

namespace banger {

// Without leading and trailing whitespace (space, tab, CR, LF).
std::string Trim(std::string_view s);
// The last non-empty line of a tool's output, trimmed: what error messages quote.
std::string LastLine(std::string_view s);

}  // namespace banger
