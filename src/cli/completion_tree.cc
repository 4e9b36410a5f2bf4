// BuildCommandSpec: the CLI11 tree as the completion and man generators see it.
#include <algorithm>
#include <cctype>
#include <string>
#include <utility>
#include <vector>

#include "cli/completion.h"
#include "cli/completion_internal.h"

namespace banger {
namespace {

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// CLI11's type name is the option's own followed by ":<validator>" for each
// validator ("SECONDS:INT in [1 - 3600]"); a type name may hold ':' itself
// ("UID:GID"). Validator descriptions begin with a CLI11 type word or a brace.
std::pair<std::string, std::vector<std::string>> SplitTypeName(const std::string& full) {
  static const char* const kValidatorStarts[] = {"INT",  "UINT", "FLOAT",    "NUMBER",
                                                 "TEXT", "SIZE", "PATH",     "FILE",
                                                 "DIR",  "{",    "POSITIVE", "NONNEGATIVE"};
  auto validator_at = [&](size_t colon) {
    return std::any_of(std::begin(kValidatorStarts), std::end(kValidatorStarts),
                       [&](const char* v) { return full.compare(colon + 1, std::string(v).size(), v) == 0; });
  };
  size_t c = full.find(':');
  while (c != std::string::npos && !validator_at(c)) c = full.find(':', c + 1);
  if (c == std::string::npos) return {full, {}};
  std::vector<std::string> validators;
  for (size_t start = c + 1;;) {
    size_t next = full.find(':', start);
    while (next != std::string::npos && !validator_at(next)) next = full.find(':', next + 1);
    validators.push_back(full.substr(start, next == std::string::npos ? std::string::npos : next - start));
    if (next == std::string::npos) break;
    start = next + 1;
  }
  return {full.substr(0, c), validators};
}

// "a|b|c" of plain lowercase words, or a CLI11 IsMember "{a,b,c}".
std::vector<std::string> ChoicesOf(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else if (std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
               c == '-' || c == '_' || c == '.') {
      cur += c;
    } else {
      return {};
    }
  }
  out.push_back(cur);
  if (out.size() < 2 || std::any_of(out.begin(), out.end(), [](const std::string& w) { return w.empty(); }))
    return {};
  return out;
}

bool MentionsGuest(const std::string& help) { return help.find("guest") != std::string::npos; }

CompletionValue ValueOf(const CLI::Option& opt, bool positional, const std::string& own_type,
                        const std::vector<std::string>& validators) {
  CompletionValue v;
  // Named after the object, or typed as one.
  std::string name = positional ? opt.get_name(true) : "";
  if (!positional && !opt.get_lnames().empty()) name = opt.get_lnames().front();
  for (const std::string& candidate : {name, own_type}) {
    ValueKind k = KindFromName(candidate);
    if (k != ValueKind::kNone) {
      v.kind = k;
      return v;
    }
  }
  const std::string& help = opt.get_description();
  if (positional) {
    static const std::pair<const char*, ValueKind> kHelpPrefixes[] = {
        {"VM name", ValueKind::kVm},
        {"Source VM name", ValueKind::kVm},
        {"Image name or id", ValueKind::kImage},
        {"Image id", ValueKind::kImage},
        {"Session name or id", ValueKind::kSession},
        {"Session id", ValueKind::kSession},
        {"Template id", ValueKind::kTemplate},
    };
    for (const auto& [prefix, kind] : kHelpPrefixes) {
      if (StartsWith(help, prefix)) {
        v.kind = kind;
        return v;
      }
    }
  }
  for (const std::string& val : validators) {
    if (StartsWith(val, "{") && val.size() > 2 && val.back() == '}') {
      v.choices = ChoicesOf(val.substr(1, val.size() - 2), ',');
      if (!v.choices.empty()) {
        v.kind = ValueKind::kChoice;
        return v;
      }
    }
  }
  v.choices = ChoicesOf(own_type, '|');
  if (!v.choices.empty()) {
    v.kind = ValueKind::kChoice;
    return v;
  }
  if (own_type == "FILE" && !MentionsGuest(help)) {
    v.kind = ValueKind::kFile;
  } else if (own_type == "DIR" && !MentionsGuest(help)) {
    v.kind = ValueKind::kDir;
  } else if (positional && (opt.get_expected_max() > 1 || name == "path" || name == "src" || name == "dst")) {
    v.kind = ValueKind::kAny;  // a command and its arguments, a host path
  }
  return v;
}

bool Visible(const CLI::App* a) { return !a->get_name().empty() && !a->get_group().empty(); }

CommandSpec Build(const CLI::App& app) {
  CommandSpec spec;
  spec.name = app.get_name();
  spec.aliases = app.get_aliases();
  spec.help = app.get_description();
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_group().empty()) continue;  // hidden
    auto [own, validators] = SplitTypeName(opt->get_type_name());
    if (opt->get_positional()) {
      PositionalSpec p;
      p.name = opt->get_name(true);
      p.help = opt->get_description();
      p.required = opt->get_required();
      p.repeats = opt->get_expected_max() > 1;
      p.value = ValueOf(*opt, true, own, validators);  // own is CLI11's "TEXT" unless set
      spec.positionals.push_back(std::move(p));
      continue;
    }
    OptionSpec o;
    for (const auto& s : opt->get_snames()) o.names.push_back("-" + s);
    for (const auto& l : opt->get_lnames()) o.names.push_back("--" + l);
    if (o.names.empty()) continue;
    o.help = opt->get_description();
    o.required = opt->get_required();
    o.takes_value = opt->get_type_size_max() > 0 && opt->get_expected_max() > 0;
    if (o.takes_value) {
      o.value_name = own.empty() ? "VALUE" : own;
      o.repeats = opt->get_expected_max() > 1;
      o.value = ValueOf(*opt, false, own, validators);
    }
    spec.options.push_back(std::move(o));
  }
  for (const CLI::App* sub : app.get_subcommands(Visible)) spec.subcommands.push_back(Build(*sub));
  return spec;
}

void Flatten(const CommandSpec& spec, const std::string& path, std::vector<CommandPath>& out) {
  out.push_back({path, &spec});
  for (const auto& sub : spec.subcommands) Flatten(sub, path.empty() ? sub.name : path + " " + sub.name, out);
}

}  // namespace

std::string KindName(ValueKind k) {
  switch (k) {
    case ValueKind::kVm:
      return "vms";
    case ValueKind::kImage:
      return "images";
    case ValueKind::kSession:
      return "sessions";
    case ValueKind::kSnapshot:
      return "snapshots";
    case ValueKind::kTemplate:
      return "templates";
    default:
      return "";
  }
}

ValueKind KindFromName(const std::string& name) {
  std::string n = Upper(name);
  if (StartsWith(n, "--")) n = n.substr(2);
  if (!n.empty() && n.back() == 'S') n.pop_back();
  if (n == "VM") return ValueKind::kVm;
  if (n == "IMAGE") return ValueKind::kImage;
  if (n == "SESSION") return ValueKind::kSession;
  if (n == "SNAPSHOT") return ValueKind::kSnapshot;
  if (n == "TEMPLATE") return ValueKind::kTemplate;
  return ValueKind::kNone;
}

CommandSpec BuildCommandSpec(const CLI::App& app) { return Build(app); }

std::vector<CommandPath> FlattenCommands(const CommandSpec& root) {
  std::vector<CommandPath> out;
  Flatten(root, "", out);
  return out;
}

namespace completion {

std::string KindToken(const CompletionValue& v) {
  switch (v.kind) {
    case ValueKind::kNone:
      return "-";
    case ValueKind::kAny:
      return "any";
    case ValueKind::kFile:
      return "file";
    case ValueKind::kDir:
      return "dir";
    case ValueKind::kChoice:
      return "@" + Join(v.choices, "|");
    default:
      return KindName(v.kind);
  }
}

std::string PositionalKinds(const CommandSpec& spec) {
  std::vector<std::string> kinds;
  for (const auto& p : spec.positionals) kinds.push_back(KindToken(p.value) + (p.repeats ? "+" : ""));
  return Join(kinds);
}

std::string ShChildCase(const std::vector<CommandPath>& paths, const std::string& assign) {
  std::string o = "_banger_child() {\n  case \"$1|$2\" in\n";
  for (const auto& [path, spec] : paths) {
    for (const auto& sub : spec->subcommands) {
      std::vector<std::string> patterns;
      for (const auto& n : NamesOf(sub)) patterns.push_back(ShQuote(path + "|" + n));
      o += "    " + Join(patterns, " | ") + ") " + assign + ShQuote(sub.name) + " ;;\n";
    }
  }
  return o + "    *) return 1 ;;\n  esac\n}\n\n";
}

std::string ShOptValCase(const std::vector<CommandPath>& paths, const std::string& assign) {
  std::string o = "_banger_optval() {\n  case \"$1|$2\" in\n";
  for (const auto& [path, spec] : paths) {
    for (const auto& opt : spec->options) {
      if (!opt.takes_value) continue;
      std::vector<std::string> patterns;
      for (const auto& n : opt.names) patterns.push_back(ShQuote(path + "|" + n));
      o += "    " + Join(patterns, " | ") + ") " + assign + ShQuote(KindToken(opt.value)) + " ;;\n";
    }
  }
  return o + "    *) return 1 ;;\n  esac\n}\n\n";
}

std::string ShPosKindsCase(const std::vector<CommandPath>& paths, const std::string& assign,
                           const std::string& fallback) {
  std::string o = "_banger_poskinds() {\n  case \"$1\" in\n";
  for (const auto& [path, spec] : paths) {
    if (spec->positionals.empty()) continue;
    o += "    " + ShQuote(path) + ") " + assign + ShQuote(PositionalKinds(*spec)) + " ;;\n";
  }
  return o + "    *) " + fallback + " ;;\n  esac\n}\n";
}

std::string ShQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string FishQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string ShortHelp(const std::string& help) {
  std::string line = help.substr(0, help.find('\n'));
  if (line.size() > 100) line = line.substr(0, 97) + "...";
  return line;
}

std::vector<std::string> NamesOf(const CommandSpec& sub) {
  std::vector<std::string> names{sub.name};
  names.insert(names.end(), sub.aliases.begin(), sub.aliases.end());
  return names;
}

std::vector<const OptionSpec*> GlobalOptions(const CommandSpec& root) {
  std::vector<const OptionSpec*> out;
  for (const auto& opt : root.options) {
    bool local = std::any_of(opt.names.begin(), opt.names.end(),
                             [](const std::string& n) { return n == "--help" || n == "--version"; });
    if (!local) out.push_back(&opt);
  }
  return out;
}

std::string Join(const std::vector<std::string>& words, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) out += (i ? sep : "") + words[i];
  return out;
}

}  // namespace completion
}  // namespace banger
