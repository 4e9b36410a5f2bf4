// Shell completion and man pages generated from the CLI's own CLI11 tree
// (docs/adr/0033-completion-and-man-from-the-cli-tree.md): CommandSpec is the
// tree as these generators see it (subcommands with their aliases, options,
// positionals, and what each value completes to); BashCompletion,
// ZshCompletion and FishCompletion turn it into scripts whose only dynamic
// part is `banger __complete KIND` for the names the daemon knows.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace banger {

// What a value completes to. The name kinds are the KIND of `banger __complete`.
enum class ValueKind {
  kNone,      // nothing to offer (a number, a size, a new name)
  kAny,       // free text: the shell's file names
  kFile,      // a host file
  kDir,       // a host directory
  kChoice,    // one of CompletionValue::choices
  kVm,        // __complete vms
  kImage,     // __complete images
  kSession,   // __complete sessions
  kSnapshot,  // __complete snapshots VM (the command's first positional)
  kTemplate,  // __complete templates
};

// "vms", "images", ... for the name kinds, "" for the others.
std::string KindName(ValueKind k);
// The name kind `name` stands for ("vms", "vm", ...); kNone when none.
ValueKind KindFromName(const std::string& name);

struct CompletionValue {
  ValueKind kind = ValueKind::kNone;
  std::vector<std::string> choices;  // kChoice
};

struct OptionSpec {
  std::vector<std::string> names;  // "-p", "--publish" (short ones first)
  std::string value_name;          // "PORTS"; "" for a flag
  std::string help;
  bool takes_value = false;
  bool repeats = false;
  bool required = false;
  CompletionValue value;
};

struct PositionalSpec {
  std::string name;
  std::string help;
  bool required = false;
  bool repeats = false;  // takes every following word
  CompletionValue value;
};

struct CommandSpec {
  std::string name;  // "" for the root
  std::vector<std::string> aliases;
  std::string help;
  std::vector<OptionSpec> options;  // -h,--help first, as CLI11 lists them
  std::vector<PositionalSpec> positionals;
  std::vector<CommandSpec> subcommands;  // visible ones, in the order of --help
};

// The tree under `app`, leaving out hidden subcommands and options (an empty
// group, as CLI11 hides them). What a value completes to comes from the
// option or positional itself:
//  - an option named --vm, --image, --session, --snapshot or --template, a
//    positional named vm, image, session, snapshot or template, or either
//    with that type_name (VM, IMAGE, ...), completes those names;
//  - a positional whose help starts with "VM name" (or "Source VM name"),
//    or "<Object> name or id" / "<Object> id" for images, sessions and
//    templates, completes those names ("Image name" alone is a new name);
//  - a value named FILE or DIR (type_name) completes host files or
//    directories, unless its help says it is in the guest;
//  - a type_name "a|b|c" of plain words completes those words;
//  - a repeating positional (a command and its arguments) or one named
//    path, src or dst completes file names; anything else nothing (a new
//    name, a number, a size).
CommandSpec BuildCommandSpec(const CLI::App& app);

// The completion scripts of the banger program for `root` (BuildCommandSpec
// of its app).
std::string BashCompletion(const CommandSpec& root);
std::string ZshCompletion(const CommandSpec& root);
std::string FishCompletion(const CommandSpec& root);

// Every command path of the tree with its spec, depth first, the root first
// ("" then "vm", "vm create", ...): what the generators walk.
struct CommandPath {
  std::string path;  // canonical names joined by spaces
  const CommandSpec* spec;
};
std::vector<CommandPath> FlattenCommands(const CommandSpec& root);

}  // namespace banger
