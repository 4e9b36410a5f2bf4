// ZshCompletion: tables generated from the command tree, and one walker
// that hands compsys the candidates (_describe, compadd, _files).
#include <sstream>
#include <string>

#include "cli/completion.h"
#include "cli/completion_internal.h"

namespace banger {
namespace {

using completion::Join;
using completion::NamesOf;
using completion::ShChildCase;
using completion::ShOptValCase;
using completion::ShortHelp;
using completion::ShPosKindsCase;
using completion::ShQuote;

// "name:help" for _describe (a ':' in the name escaped).
std::string Described(const std::string& name, const std::string& help) {
  std::string n;
  for (char c : name) {
    if (c == ':') n += '\\';
    n += c;
  }
  return ShQuote(n + ":" + ShortHelp(help));
}

// zsh ties `path` to PATH: the walker's command path is `cmd`.
constexpr const char* kWalker = R"ZSH(
# _banger_names KIND [ARG...]: the names the daemon knows (never starts it;
# prints nothing when it does not answer within a second).
_banger_names() {
  local prog=${(Q)words[1]}
  [[ $prog == '~/'* ]] && prog=$HOME/${prog#'~/'}
  [[ $prog == */* && -x $prog ]] || prog=banger
  local -a g
  [[ -n $_banger_home ]] && g+=(--home "$_banger_home")
  [[ -n $_banger_config ]] && g+=(--config "$_banger_config")
  "$prog" "${g[@]}" __complete "$@" 2>/dev/null
}

_banger_value() {
  local kind=$1 expl
  local -a names
  case $kind in
    vms|images|sessions|templates)
      names=(${(f)"$(_banger_names $kind "$PREFIX")"})
      _wanted $kind expl "${kind%s}" compadd -a names ;;
    snapshots)
      [[ -n $_banger_pos[1] ]] || return 1
      names=(${(f)"$(_banger_names snapshots "$_banger_pos[1]" "$PREFIX")"})
      _wanted snapshots expl snapshot compadd -a names ;;
    file|any) _files ;;
    dir) _files -/ ;;
    @*)
      names=(${(s:|:)${kind#@}})
      _wanted values expl value compadd -a names ;;
    *) return 1 ;;
  esac
}

_banger() {
  local cmd='' w i vkind='' dd=0 REPLY _banger_home='' _banger_config=''
  local -a reply _banger_pos
  for ((i = 2; i < CURRENT; i++)); do
    w=${(Q)words[i]}
    if ((dd)); then
      _banger_pos+=("$w")
      continue
    fi
    case $w in
      --) dd=1 ;;
      --home=*) _banger_home=${w#*=} ;;
      --config=*) _banger_config=${w#*=} ;;
      -*=*) ;;
      -*)
        if _banger_optval "$cmd" "$w" || _banger_optval '' "$w"; then
          if ((i + 1 >= CURRENT)); then
            vkind=$REPLY
            break
          fi
          case $w in
            --home) _banger_home=${(Q)words[i+1]} ;;
            --config) _banger_config=${(Q)words[i+1]} ;;
          esac
          ((i++))
        fi ;;
      *)
        if ((${#_banger_pos} == 0)) && _banger_child "$cmd" "$w"; then
          cmd=${cmd:+$cmd }$REPLY
        else
          _banger_pos+=("$w")
        fi ;;
    esac
  done
  [[ $_banger_home == '~/'* ]] && _banger_home=$HOME/${_banger_home#'~/'}
  [[ $_banger_config == '~/'* ]] && _banger_config=$HOME/${_banger_config#'~/'}
  if [[ -n $vkind ]]; then
    _banger_value $vkind
    return
  fi
  if ((!dd)) && [[ $PREFIX == --*=* ]]; then
    if _banger_optval "$cmd" "${PREFIX%%=*}" || _banger_optval '' "${PREFIX%%=*}"; then
      compset -P '*='
      _banger_value $REPLY
      return
    fi
  fi
  if ((!dd)) && [[ $PREFIX == -* ]]; then
    local -a opts
    _banger_opts "$cmd"
    opts=("${reply[@]}")
    [[ -n $cmd ]] && opts+=("${_banger_globals[@]}")
    _describe -t options option opts
    return
  fi
  if ((!dd && ${#_banger_pos} == 0)) && _banger_subs "$cmd"; then
    _describe -t commands command reply
    return
  fi
  _banger_poskinds "$cmd"
  local -a kinds
  kinds=(${=REPLY})
  local n=$((${#_banger_pos} + 1)) kind=''
  if ((n <= ${#kinds})); then
    kind=$kinds[n]
  elif ((${#kinds})) && [[ $kinds[-1] == *+ ]]; then
    kind=$kinds[-1]
  fi
  _banger_value "${kind%+}"
}

# Autoloaded from fpath (as _banger), complete; sourced, register.
if [[ $funcstack[1] == _banger ]]; then
  _banger "$@"
else
  compdef _banger banger
fi
)ZSH";

}  // namespace

std::string ZshCompletion(const CommandSpec& root) {
  const auto paths = FlattenCommands(root);
  std::ostringstream o;
  o << "#compdef banger\n"
    << "# zsh completion for banger, generated from its command tree by `banger completion zsh`.\n"
    << "# Load it with `source <(banger completion zsh)` after compinit, or install it as\n"
    << "# _banger in a directory of $fpath (/usr/share/zsh/vendor-completions on Debian).\n\n";

  o << ShChildCase(paths, "REPLY=");

  o << "_banger_subs() {\n  case \"$1\" in\n";
  for (const auto& [path, spec] : paths) {
    if (spec->subcommands.empty()) continue;
    o << "    " << ShQuote(path) << ") reply=(";
    std::vector<std::string> entries;
    for (const auto& sub : spec->subcommands) {
      for (const auto& n : NamesOf(sub)) entries.push_back(Described(n, sub.help));
    }
    o << Join(entries, "\n      ") << ") ;;\n";
  }
  o << "    *) return 1 ;;\n  esac\n}\n\n";

  o << "_banger_opts() {\n  case \"$1\" in\n";
  for (const auto& [path, spec] : paths) {
    std::vector<std::string> entries;
    for (const auto& opt : spec->options) {
      for (const auto& n : opt.names) entries.push_back(Described(n, opt.help));
    }
    o << "    " << ShQuote(path) << ") reply=(" << Join(entries, "\n      ") << ") ;;\n";
  }
  o << "    *) reply=() ;;\n  esac\n}\n\n";
  std::vector<std::string> globals;
  for (const auto* opt : completion::GlobalOptions(root)) {
    for (const auto& n : opt->names) globals.push_back(Described(n, opt->help));
  }
  o << "# The global options, which every subcommand takes too.\n_banger_globals=(" << Join(globals, "\n  ")
    << ")\n\n";

  o << ShOptValCase(paths, "REPLY=") << ShPosKindsCase(paths, "REPLY=", "REPLY=''");

  o << kWalker;
  return o.str();
}

}  // namespace banger
