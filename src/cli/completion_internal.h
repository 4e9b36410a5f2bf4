// What the three script generators share (completion_bash.cc, _zsh.cc, _fish.cc).
#pragma once

#include <string>
#include <vector>

#include "cli/completion.h"

namespace banger::completion {

// A value's kind in the scripts: "vms" (and the other name kinds), "file",
// "dir", "any", "@a|b|c" for choices, "-" for nothing.
std::string KindToken(const CompletionValue& v);
// The positionals' kinds, space separated; a repeating last one ends in "+".
std::string PositionalKinds(const CommandSpec& spec);
// `s` in single quotes for bash and zsh ('\'' for a quote).
std::string ShQuote(const std::string& s);
// `s` in single quotes for fish (\\ and \' inside).
std::string FishQuote(const std::string& s);
// One line of help for a listing: the first line, at most 100 characters.
std::string ShortHelp(const std::string& help);
// The subcommand's name and its aliases.
std::vector<std::string> NamesOf(const CommandSpec& sub);
// The root's options that every subcommand takes too (fallthrough): all but
// --help (each command has its own) and --version.
std::vector<const OptionSpec*> GlobalOptions(const CommandSpec& root);
// The case tables bash and zsh share (their answers differ only in the
// variable they set: `assign` is "_banger_r=" or "REPLY="):
//  _banger_child CMD WORD: the subcommand WORD (a name or an alias) of CMD;
//  _banger_optval CMD OPTION: what OPTION's value completes to, failing for a flag;
//  _banger_poskinds CMD: its positionals' kinds (`fallback` answers the rest).
std::string ShChildCase(const std::vector<CommandPath>& paths, const std::string& assign);
std::string ShOptValCase(const std::vector<CommandPath>& paths, const std::string& assign);
std::string ShPosKindsCase(const std::vector<CommandPath>& paths, const std::string& assign,
                           const std::string& fallback);
// Words joined by a space.
std::string Join(const std::vector<std::string>& words, const std::string& sep = " ");

}  // namespace banger::completion
