#include "cli/gotemplate.h"

#include <cctype>

namespace banger {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsLower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

char Lower(char c) { return IsUpper(c) ? static_cast<char>(c - 'A' + 'a') : c; }
char Upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

// The text between actions, with docker's \t and \n escapes applied.
std::string Unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && (text[i + 1] == 't' || text[i + 1] == 'n')) {
      out.push_back(text[i + 1] == 't' ? '\t' : '\n');
      ++i;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// `s` fit for a one-line error message: control characters as '?'.
std::string OneLine(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

std::vector<std::string> Words(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && IsSpace(s[i])) ++i;
    size_t start = i;
    while (i < s.size() && !IsSpace(s[i])) ++i;
    if (i > start) out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

bool IsIdentifier(std::string_view s) {
  if (s.empty() || (!std::isalpha(static_cast<unsigned char>(s[0])) && s[0] != '_')) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

Result<std::vector<std::string>> ParseField(const std::string& word) {
  if (word == ".") return std::vector<std::string>{};
  if (word.size() < 2 || word[0] != '.')
    return Error::Invalid("bad field \"" + OneLine(word) + "\" (want .Name or .a.b)");
  std::vector<std::string> path;
  size_t start = 1;
  for (;;) {
    size_t dot = word.find('.', start);
    std::string seg = word.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!IsIdentifier(seg)) return Error::Invalid("bad field \"" + OneLine(word) + "\" (want .Name or .a.b)");
    path.push_back(std::move(seg));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return path;
}

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string Text(const Json& j) {
  if (j.is_null()) return "";
  if (j.is_string()) return j.get<std::string>();
  return Dump(j);
}

const Json& Lookup(const Json& item, const std::vector<std::string>& path) {
  static const Json kNull;
  const Json* cur = &item;
  for (const auto& seg : path) {
    if (!cur->is_object()) return kNull;
    auto it = cur->find(seg);
    if (it == cur->end()) it = cur->find(SnakeCase(seg));
    if (it == cur->end()) return kNull;
    cur = &*it;
  }
  return *cur;
}

}  // namespace

std::string SnakeCase(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 4);
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (IsUpper(c) && i > 0) {
      char prev = name[i - 1];
      bool next_lower = i + 1 < name.size() && IsLower(name[i + 1]) &&
                        !std::isdigit(static_cast<unsigned char>(name[i + 1]));
      if (IsLower(prev) || (IsUpper(prev) && next_lower)) out.push_back('_');
    }
    out.push_back(Lower(c));
  }
  return out;
}

Result<GoTemplate> GoTemplate::Parse(std::string_view text) {
  GoTemplate t;
  bool trim_next = false;  // the previous action ended with " -}}"
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t open = text.find("{{", pos);
    std::string_view raw =
        text.substr(pos, open == std::string_view::npos ? std::string_view::npos : open - pos);
    if (trim_next) {
      while (!raw.empty() && IsSpace(raw.front())) raw.remove_prefix(1);
    }
    Node lit;
    lit.text = Unescape(raw);
    if (open == std::string_view::npos) {
      if (!lit.text.empty()) t.nodes_.push_back(std::move(lit));
      break;
    }
    size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) {
      return Error::Invalid("template: unclosed action at byte " + std::to_string(open + 1) + " (no \"}}\")");
    }
    std::string_view inner = text.substr(open + 2, close - open - 2);
    if (inner.size() >= 2 && inner[0] == '-' && IsSpace(inner[1])) {
      inner.remove_prefix(2);
      while (!lit.text.empty() && IsSpace(lit.text.back())) lit.text.pop_back();
    }
    trim_next = false;
    if (inner.size() >= 2 && inner.back() == '-' && IsSpace(inner[inner.size() - 2])) {
      inner.remove_suffix(2);
      trim_next = true;
    }
    if (!lit.text.empty()) t.nodes_.push_back(std::move(lit));
    std::vector<std::string> words = Words(inner);
    if (words.size() == 3 && words[1] == "|") words = {words[2], words[0]};  // .F | json
    const std::string where = " in {{" + OneLine(inner) + "}}";
    if (words.empty()) return Error::Invalid("template: empty action {{}}");
    if (words.size() > 2) return Error::Invalid("template: too many words" + where);
    Node action;
    action.action = true;
    if (words.size() == 2) {
      const std::string& f = words[0];
      if (f == "json") {
        action.func = Func::kJson;
      } else if (f == "upper") {
        action.func = Func::kUpper;
      } else if (f == "lower") {
        action.func = Func::kLower;
      } else {
        return Error::Invalid("template: unknown function \"" + OneLine(f) + "\"" + where +
                              " (supported: json, upper, lower)");
      }
    } else if (words[0][0] != '.') {
      const std::string& f = words[0];
      if (f == "json" || f == "upper" || f == "lower") {
        return Error::Invalid("template: function \"" + f + "\" needs an argument" + where);
      }
      return Error::Invalid("template: unknown function \"" + OneLine(f) + "\"" + where +
                            " (supported: json, upper, lower)");
    }
    auto path = ParseField(words.back());
    if (!path.ok()) return Error::Invalid("template: " + path.error().message() + where);
    action.path = std::move(*path);
    t.nodes_.push_back(std::move(action));
    pos = close + 2;
  }
  return t;
}

std::string GoTemplate::Execute(const Json& item) const {
  std::string out;
  for (const auto& n : nodes_) {
    if (!n.action) {
      out += n.text;
      continue;
    }
    const Json& v = Lookup(item, n.path);
    switch (n.func) {
      case Func::kJson:
        out += Dump(v);
        break;
      case Func::kUpper:
        for (char c : Text(v)) out.push_back(Upper(c));
        break;
      case Func::kLower:
        for (char c : Text(v)) out.push_back(Lower(c));
        break;
      case Func::kNone:
        out += Text(v);
        break;
    }
  }
  return out;
}

std::string GoTemplate::Header() const {
  std::string out;
  for (const auto& n : nodes_) {
    if (!n.action) {
      out += n.text;
      continue;
    }
    if (n.path.empty()) continue;
    for (char c : SnakeCase(n.path.back())) out.push_back(c == '_' ? ' ' : Upper(c));
  }
  return out;
}

}  // namespace banger
