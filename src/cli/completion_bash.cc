// BashCompletion: tables generated from the command tree, and one walker.
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
using completion::ShPosKindsCase;
using completion::ShQuote;

// The walker: finds the command path and the positionals typed so far, then
// offers what the word under the cursor can be. The tables set _banger_r.
constexpr const char* kWalker = R"BASH(
# _banger_names KIND [ARG...]: the names the daemon knows (never starts it;
# prints nothing when it does not answer within a second).
_banger_names() {
  local prog=${COMP_WORDS[0]}
  [[ $prog == "~/"* ]] && prog=$HOME/${prog#"~/"}
  [[ $prog == */* && -x $prog ]] || prog=banger
  local -a g=()
  [[ -n $_banger_home ]] && g+=(--home "$_banger_home")
  [[ -n $_banger_config ]] && g+=(--config "$_banger_config")
  "$prog" "${g[@]}" __complete "$@" 2>/dev/null
}

_banger_value() {
  local kind=$1 cur=$2
  case $kind in
    vms | images | sessions | templates)
      mapfile -t COMPREPLY < <(compgen -W "$(_banger_names "$kind" "$cur")" -- "$cur") ;;
    snapshots)
      [[ -n ${_banger_pos[0]} ]] &&
        mapfile -t COMPREPLY < <(compgen -W "$(_banger_names snapshots "${_banger_pos[0]}" "$cur")" -- "$cur") ;;
    file | any)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    dir)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
    @*)
      local choices=${kind#@}
      mapfile -t COMPREPLY < <(compgen -W "${choices//|/ }" -- "$cur") ;;
    *) COMPREPLY=() ;;
  esac
}

_banger() {
  local cur=${COMP_WORDS[COMP_CWORD]} cmd='' w i vkind='' dd=0 _banger_r
  local _banger_home='' _banger_config=''
  local -a _banger_pos=()
  COMPREPLY=()
  # With '=' breaking words, "--image=" is "--image" "=": the cursor is on its value.
  [[ $cur == = ]] && cur=''
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    if ((dd)); then
      _banger_pos+=("$w")
      continue
    fi
    case $w in
      --) dd=1 ;;
      -*=*) ;;
      -*)
        if _banger_optval "$cmd" "$w" || _banger_optval '' "$w"; then
          local kind=$_banger_r v=$((i + 1))
          [[ ${COMP_WORDS[v]} == = ]] && v=$((v + 1))
          if ((v >= COMP_CWORD)); then
            vkind=$kind
            break
          fi
          case $w in
            --home) _banger_home=${COMP_WORDS[v]} ;;
            --config) _banger_config=${COMP_WORDS[v]} ;;
          esac
          i=$v
        fi ;;
      *)
        if ((${#_banger_pos[@]} == 0)) && _banger_child "$cmd" "$w"; then
          cmd=${cmd:+$cmd }$_banger_r
        else
          _banger_pos+=("$w")
        fi ;;
    esac
  done
  _banger_home=${_banger_home/#\~/$HOME}
  _banger_config=${_banger_config/#\~/$HOME}
  if [[ -n $vkind ]]; then
    _banger_value "$vkind" "$cur"
    return 0
  fi
  if ((!dd)) && [[ $cur == -* ]]; then
    _banger_opts "$cmd"
    [[ -n $cmd ]] && _banger_r+=" $_banger_globals"
    mapfile -t COMPREPLY < <(compgen -W "$_banger_r" -- "$cur")
    return 0
  fi
  if ((!dd && ${#_banger_pos[@]} == 0)) && _banger_subs "$cmd"; then
    mapfile -t COMPREPLY < <(compgen -W "$_banger_r" -- "$cur")
    return 0
  fi
  _banger_poskinds "$cmd"
  local -a kinds
  read -r -a kinds <<<"$_banger_r"
  local n=${#_banger_pos[@]} kind=''
  if ((n < ${#kinds[@]})); then
    kind=${kinds[n]}
  elif ((${#kinds[@]} > 0)) && [[ ${kinds[-1]} == *+ ]]; then
    kind=${kinds[-1]}
  fi
  _banger_value "${kind%+}" "$cur"
  return 0
}
)BASH";

}  // namespace

std::string BashCompletion(const CommandSpec& root) {
  const auto paths = FlattenCommands(root);
  std::ostringstream o;
  o << "# bash completion for banger, generated from its command tree by `banger completion bash`.\n"
    << "# Load it with `source <(banger completion bash)`, or install it as\n"
    << "# /usr/share/bash-completion/completions/banger (or /etc/bash_completion.d/banger).\n\n";

  o << "# _banger_child CMD WORD: the subcommand WORD (a name or an alias) of CMD.\n"
    << ShChildCase(paths, "_banger_r=");

  o << "# _banger_subs CMD: the subcommands of CMD and their aliases.\n"
    << "_banger_subs() {\n  case \"$1\" in\n";
  for (const auto& [path, spec] : paths) {
    if (spec->subcommands.empty()) continue;
    std::vector<std::string> words;
    for (const auto& sub : spec->subcommands) {
      for (const auto& n : NamesOf(sub)) words.push_back(n);
    }
    o << "    " << ShQuote(path) << ") _banger_r=" << ShQuote(Join(words)) << " ;;\n";
  }
  o << "    *) return 1 ;;\n  esac\n}\n\n";

  o << "# _banger_opts CMD: the options of CMD ('' = the global ones, valid everywhere).\n"
    << "_banger_opts() {\n  case \"$1\" in\n";
  for (const auto& [path, spec] : paths) {
    std::vector<std::string> names;
    for (const auto& opt : spec->options) names.insert(names.end(), opt.names.begin(), opt.names.end());
    o << "    " << ShQuote(path) << ") _banger_r=" << ShQuote(Join(names)) << " ;;\n";
  }
  o << "    *) _banger_r='' ;;\n  esac\n}\n\n";
  std::vector<std::string> globals;
  for (const auto* opt : completion::GlobalOptions(root))
    globals.insert(globals.end(), opt->names.begin(), opt->names.end());
  o << "# The global options, which every subcommand takes too.\n_banger_globals=" << ShQuote(Join(globals))
    << "\n\n";

  o << "# _banger_optval CMD OPTION: what the value of OPTION completes to; fails for a flag.\n"
    << ShOptValCase(paths, "_banger_r=")
    << "# _banger_poskinds CMD: what CMD's positionals complete to (a last one with + repeats).\n"
    << ShPosKindsCase(paths, "_banger_r=", "_banger_r=''");

  o << kWalker << "\ncomplete -F _banger banger\n";
  return o.str();
}

}  // namespace banger
