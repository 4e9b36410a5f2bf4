#include "cli/format.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>

#include "cli/output.h"

namespace banger {
namespace {

constexpr std::string_view kTablePrefix = "table ";

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) break;
    start = at + 1;
  }
  return out;
}

// Lines of tab-separated cells aligned under the header's.
std::string AlignTemplateRows(const std::string& header, const std::vector<std::string>& texts) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& text : texts) {
    for (auto& line : Split(text, '\n')) rows.push_back(Split(line, '\t'));
  }
  std::vector<std::string> head = Split(header, '\t');
  size_t columns = head.size();
  for (const auto& r : rows) columns = std::max(columns, r.size());
  head.resize(columns);
  return RenderTable(head, rows);
}

std::string RenderTemplate(const ListFormat& format, const std::vector<Json>& items) {
  const GoTemplate& t = *format.tmpl;
  std::vector<std::string> texts;
  texts.reserve(items.size());
  for (const auto& item : items) texts.push_back(t.Execute(item));
  if (format.template_table) return AlignTemplateRows(t.Header(), texts);
  std::string out;
  for (const auto& text : texts) out += text + "\n";
  return out;
}

// Whether a YAML reader would take the plain scalar `s` for something other
// than a string (a number, a boolean, null, a date) or trip on it.
bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  std::string lower;
  for (char c : s) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  static const char* const kWords[] = {"true", "false", "yes", "no",   "on",    "off",   "y",
                                       "n",    "null",  "~",   ".inf", "-.inf", "+.inf", ".nan"};
  for (const char* w : kWords) {
    if (lower == w) return true;
  }
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) return true;
  if (i + 1 < s.size() && s[i] == '.' && std::isdigit(static_cast<unsigned char>(s[i + 1]))) return true;
  return false;
}

void EmitString(YAML::Emitter& out, const std::string& s) {
  if (NeedsQuotes(s)) out << YAML::DoubleQuoted;
  out << s;
}

void Emit(YAML::Emitter& out, const Json& j) {
  switch (j.type()) {
    case Json::value_t::object:
      if (j.empty()) out << YAML::Flow;  // {} rather than a lone {} on the next line
      out << YAML::BeginMap;
      for (const auto& [k, v] : j.items()) {
        out << YAML::Key;
        EmitString(out, k);
        out << YAML::Value;
        Emit(out, v);
      }
      out << YAML::EndMap;
      break;
    case Json::value_t::array:
      if (j.empty()) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const auto& v : j) Emit(out, v);
      out << YAML::EndSeq;
      break;
    case Json::value_t::string:
      EmitString(out, j.get_ref<const std::string&>());
      break;
    case Json::value_t::boolean:
      out << j.get<bool>();
      break;
    case Json::value_t::number_integer:
      out << j.get<int64_t>();
      break;
    case Json::value_t::number_unsigned:
      out << j.get<uint64_t>();
      break;
    case Json::value_t::number_float:
      out << j.dump();
      break;
    default:
      out << YAML::Null;
      break;
  }
}

}  // namespace

Result<ListFormat> ParseListFormat(const ListFormatFlags& f, bool json_flag) {
  ListFormat out;
  if (f.quiet) {
    if (!f.format.empty() || json_flag) {
      return Error::Invalid("--quiet prints ids only: it does not go with --format or --json");
    }
    out.style = ListStyle::kQuiet;
    return out;
  }
  if (json_flag && !f.format.empty() && f.format != "json") {
    return Error::Invalid("--json and --format " + f.format + " contradict each other");
  }
  if (json_flag || f.format == "json") {
    out.style = ListStyle::kJson;
  } else if (f.format == "yaml") {
    out.style = ListStyle::kYaml;
  } else if (f.format.empty() || f.format == "table") {
    out.style = ListStyle::kTable;
  } else if (f.format.find("{{") != std::string::npos) {
    std::string_view text = f.format;
    if (text.substr(0, kTablePrefix.size()) == kTablePrefix) {
      out.template_table = true;
      text.remove_prefix(kTablePrefix.size());
    }
    auto t = GoTemplate::Parse(text);
    if (!t.ok()) return Error::Invalid("--format: " + t.error().message());
    out.style = ListStyle::kTemplate;
    out.tmpl = std::move(*t);
  } else {
    return Error::Invalid("--format \"" + f.format +
                          "\": expected json, yaml, table, or a Go template such as '{{.Name}}'");
  }
  return out;
}

std::string RenderList(const ListFormat& format, const Json& items,
                       const std::function<std::string(const Json&)>& table,
                       const std::function<std::string(const Json&)>& id) {
  switch (format.style) {
    case ListStyle::kJson:
      return RenderJson(items);
    case ListStyle::kYaml:
      return RenderYaml(items);
    case ListStyle::kQuiet: {
      std::string out;
      for (const auto& item : items) out += id(item) + "\n";
      return out;
    }
    case ListStyle::kTemplate: {
      std::vector<Json> list(items.begin(), items.end());
      return RenderTemplate(format, list);
    }
    case ListStyle::kTable:
      break;
  }
  return table(items);
}

std::string RenderOne(const ListFormat& format, const Json& object) {
  switch (format.style) {
    case ListStyle::kJson:
      return RenderJson(object);
    case ListStyle::kYaml:
      return RenderYaml(object);
    case ListStyle::kTemplate:
      return RenderTemplate(format, {object});
    case ListStyle::kQuiet:
    case ListStyle::kTable:
      break;
  }
  return "";
}

std::string RenderYaml(const Json& j) {
  YAML::Emitter out;
  out << YAML::LowerNull << YAML::TrueFalseBool;
  Emit(out, j);
  std::string text = out.c_str();
  if (text.empty() || text.back() != '\n') text += "\n";
  return text;
}

}  // namespace banger
