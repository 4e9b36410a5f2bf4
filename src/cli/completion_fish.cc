// FishCompletion: tables generated from the command tree, and one function
// that prints the candidates ("word<TAB>description") for `complete -a`.
#include <sstream>
#include <string>

#include "cli/completion.h"
#include "cli/completion_internal.h"

namespace banger {
namespace {

using completion::FishQuote;
using completion::Join;
using completion::KindToken;
using completion::NamesOf;
using completion::PositionalKinds;
using completion::ShortHelp;

constexpr const char* kWalker = R"FISH(
# __banger_names KIND [ARG...]: the names the daemon knows (never starts it;
# prints nothing when it does not answer within a second).
function __banger_names
    set -l prog $__banger_prog
    if not string match -q -- '*/*' $prog; or not test -x "$prog"
        set prog banger
    end
    command $prog $__banger_global __complete $argv 2>/dev/null
end

function __banger_value --argument-names kind cur
    switch "$kind"
        case vms images sessions templates
            __banger_names $kind "$cur"
        case snapshots
            set -q __banger_pos[1]; and __banger_names snapshots $__banger_pos[1] "$cur"
        case file any
            __fish_complete_path "$cur"
        case dir
            __fish_complete_directories "$cur"
        case '@*'
            string split '|' -- (string sub -s 2 -- $kind)
    end
end

function __banger_complete
    set -l toks (commandline -opc)
    set -l cur (commandline -ct)
    set -g __banger_prog $toks[1]
    set -g __banger_global
    set -g __banger_pos
    set -l cmd ''
    set -l dd 0
    set -l n (count $toks)
    set -l i 2
    while test $i -le $n
        set -l w $toks[$i]
        if test $dd = 1
            set -a __banger_pos $w
        else if test "$w" = --
            set dd 1
        else if string match -q -- '--home=*' $w; or string match -q -- '--config=*' $w
            set -a __banger_global $w
        else if string match -q -- '-*=*' $w
        else if string match -q -- '-*' $w
            set -l kind (__banger_optval "$cmd" $w; or __banger_optval '' $w)
            if test -n "$kind"
                if test $i -ge $n
                    __banger_value "$kind" "$cur"
                    return
                end
                set i (math $i + 1)
                if test "$w" = --home; or test "$w" = --config
                    set -a __banger_global $w $toks[$i]
                end
            end
        else
            set -l child (__banger_child "$cmd" $w)
            if test (count $__banger_pos) -eq 0; and test -n "$child"
                set cmd (string trim -- "$cmd $child")
            else
                set -a __banger_pos $w
            end
        end
        set i (math $i + 1)
    end
    if test $dd = 0; and string match -q -- '--*=*' $cur
        set -l opt (string split -m 1 = -- $cur)[1]
        set -l kind (__banger_optval "$cmd" $opt; or __banger_optval '' $opt)
        if test -n "$kind"
            set -l value (string split -m 1 = -- $cur)[2]
            for v in (__banger_value "$kind" "$value")
                printf '%s=%s\n' $opt $v
            end
            return
        end
    end
    if test $dd = 0; and string match -q -- '-*' $cur
        __banger_opts "$cmd"
        test -n "$cmd"; and __banger_globals
        return
    end
    if test $dd = 0; and test (count $__banger_pos) -eq 0
        set -l subs (__banger_subs "$cmd")
        if test (count $subs) -gt 0
            printf '%s\n' $subs
            return
        end
    end
    set -l kinds (string split ' ' -- (__banger_poskinds "$cmd"))
    set -l k (math (count $__banger_pos) + 1)
    set -l kind ''
    if test (count $kinds) -ge $k; and test -n "$kinds[1]"
        set kind $kinds[$k]
    else if test (count $kinds) -gt 0; and string match -q -- '*+' $kinds[-1]
        set kind $kinds[-1]
    end
    __banger_value (string trim -r -c + -- "$kind") "$cur"
end

complete -c banger -e
complete -c banger -f -a '(__banger_complete)'
)FISH";

}  // namespace

std::string FishCompletion(const CommandSpec& root) {
  const auto paths = FlattenCommands(root);
  std::ostringstream o;
  o << "# fish completion for banger, generated from its command tree by `banger completion fish`.\n"
    << "# Load it with `banger completion fish | source`, or install it as\n"
    << "# ~/.config/fish/completions/banger.fish (/usr/share/fish/vendor_completions.d on Debian).\n\n";

  o << "function __banger_child --argument-names cmd word\n    switch \"$cmd|$word\"\n";
  for (const auto& [path, spec] : paths) {
    for (const auto& sub : spec->subcommands) {
      std::vector<std::string> patterns;
      for (const auto& n : NamesOf(sub)) patterns.push_back(FishQuote(path + "|" + n));
      o << "        case " << Join(patterns) << "\n            echo " << FishQuote(sub.name) << "\n";
    }
  }
  o << "    end\nend\n\n";

  o << "function __banger_subs --argument-names cmd\n    switch \"$cmd\"\n";
  for (const auto& [path, spec] : paths) {
    if (spec->subcommands.empty()) continue;
    o << "        case " << FishQuote(path) << "\n";
    for (const auto& sub : spec->subcommands) {
      for (const auto& n : NamesOf(sub)) {
        o << "            printf '%s\\t%s\\n' " << FishQuote(n) << " " << FishQuote(ShortHelp(sub.help))
          << "\n";
      }
    }
  }
  o << "    end\nend\n\n";

  o << "function __banger_opts --argument-names cmd\n    switch \"$cmd\"\n";
  for (const auto& [path, spec] : paths) {
    if (spec->options.empty()) continue;
    o << "        case " << FishQuote(path) << "\n";
    for (const auto& opt : spec->options) {
      for (const auto& n : opt.names) {
        o << "            printf '%s\\t%s\\n' " << FishQuote(n) << " " << FishQuote(ShortHelp(opt.help))
          << "\n";
      }
    }
  }
  o << "    end\nend\n\n";

  o << "# The global options, which every subcommand takes too.\nfunction __banger_globals\n";
  for (const auto* opt : completion::GlobalOptions(root)) {
    for (const auto& n : opt->names) {
      o << "    printf '%s\\t%s\\n' " << FishQuote(n) << " " << FishQuote(ShortHelp(opt->help)) << "\n";
    }
  }
  o << "end\n\n";

  o << "# What an option's value completes to; fails for a flag.\n"
    << "function __banger_optval --argument-names cmd opt\n    switch \"$cmd|$opt\"\n";
  for (const auto& [path, spec] : paths) {
    for (const auto& opt : spec->options) {
      if (!opt.takes_value) continue;
      std::vector<std::string> patterns;
      for (const auto& n : opt.names) patterns.push_back(FishQuote(path + "|" + n));
      o << "        case " << Join(patterns) << "\n            echo " << FishQuote(KindToken(opt.value))
        << "\n";
    }
  }
  o << "        case '*'\n            return 1\n    end\nend\n\n";

  o << "function __banger_poskinds --argument-names cmd\n    switch \"$cmd\"\n";
  for (const auto& [path, spec] : paths) {
    if (spec->positionals.empty()) continue;
    o << "        case " << FishQuote(path) << "\n            echo " << FishQuote(PositionalKinds(*spec))
      << "\n";
  }
  o << "    end\nend\n";

  o << kWalker;
  return o.str();
}

}  // namespace banger
