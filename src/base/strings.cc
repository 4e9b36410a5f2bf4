#include "base/strings.h"

namespace banger {

std::string Trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(kSpace);
  return std::string(s.substr(b, e - b + 1));
}

std::string LastLine(std::string_view s) {
  std::string t = Trim(s);
  size_t nl = t.rfind('\n');
  return nl == std::string::npos ? t : Trim(std::string_view(t).substr(nl + 1));
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> pieces;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(sep, i);
    if (j == std::string_view::npos) j = s.size();
    pieces.emplace_back(s.substr(i, j - i));
    i = j + 1;
  }
  return pieces;
}

}  // namespace banger
