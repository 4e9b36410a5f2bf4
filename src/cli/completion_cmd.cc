// `banger completion bash|zsh|fish`, and the hidden `banger __complete` the
// scripts call for names and `banger __man DIR` (docs/cli.md).
#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "api/client.h"
#include "cli/commands.h"
#include "cli/completion.h"
#include "cli/man.h"
#include "http/http.h"

namespace banger {
namespace {

// The whole of `__complete` stays under a second: a completion that waits on
// a wedged daemon freezes the user's shell.
constexpr std::chrono::milliseconds kCompleteTimeout{800};

bool HasPrefix(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

struct CompleteFlags {
  std::string kind;
  std::vector<std::string> args;
};

// The values of `field` ("name" or "id") in `list` starting with `prefix`,
// sorted, once each.
std::set<std::string> Matching(const Json& list, const char* field, const std::string& prefix) {
  std::set<std::string> out;
  if (!list.is_array()) return out;
  for (const Json& item : list) {
    if (!item.is_object()) continue;
    auto v = item.find(field);
    if (v != item.end() && v->is_string() && HasPrefix(v->get<std::string>(), prefix)) {
      out.insert(v->get<std::string>());
    }
  }
  return out;
}

// Never starts a daemon, never prints an error: a failed completion is an
// empty one (exit 1).
int Complete(CliContext& ctx, const CompleteFlags& f) {
  const ValueKind kind = KindFromName(f.kind);
  if (kind == ValueKind::kNone) return kExitFailed;
  std::string target = "/v1/" + KindName(kind);
  size_t prefix_at = 0;
  if (kind == ValueKind::kSnapshot) {
    if (f.args.empty()) return kExitFailed;
    target = "/v1/vms/" + UrlEncode(f.args[0]) + "/snapshots";
    prefix_at = 1;
  }
  const std::string prefix = f.args.size() > prefix_at ? f.args[prefix_at] : "";
  auto answer = ctx.client().Call("GET", target, nullptr, kCompleteTimeout);
  if (!answer.ok() || !answer->is_object()) return kExitFailed;
  auto list = answer->find(KindName(kind));
  if (list == answer->end()) return kExitFailed;
  // Templates have ids only; the others names, and ids when no name matches
  // (every verb taking a name takes an id too).
  std::set<std::string> words;
  if (kind != ValueKind::kTemplate) words = Matching(*list, "name", prefix);
  if (words.empty() && (kind == ValueKind::kTemplate || !prefix.empty())) {
    words = Matching(*list, "id", prefix);
  }
  std::string out;
  for (const auto& w : words) out += w + "\n";
  ctx.Out(out);
  return kExitOk;
}

int PrintCompletion(const CLI::App& root, const std::string& shell) {
  const CommandSpec spec = BuildCommandSpec(root);
  if (shell == "bash") {
    std::cout << BashCompletion(spec);
  } else if (shell == "zsh") {
    std::cout << ZshCompletion(spec);
  } else {
    std::cout << FishCompletion(spec);
  }
  std::cout << std::flush;
  return kExitOk;
}

}  // namespace

void AddCompletionCommands(CLI::App& app, Command* selected) {
  // The root: these callbacks run after parsing, when the tree is complete.
  const CLI::App* root = &app;
  {
    auto shell = std::make_shared<std::string>();
    auto* c = app.add_subcommand("completion",
                                 "Print the shell completion script for bash, zsh or fish (see docs/cli.md)");
    c->add_option("shell", *shell, "The shell: bash, zsh or fish")
        ->required()
        ->check(CLI::IsMember({"bash", "zsh", "fish"}));
    c->callback([=] { *selected = [=](CliContext&) { return PrintCompletion(*root, *shell); }; });
  }
  {
    auto [c, f] = AddLeaf<CompleteFlags>(app, selected, "__complete", "", Complete);
    c->group("");
    c->add_option("kind", f->kind, "vms, images, sessions, snapshots or templates")->required();
    c->add_option("args", f->args, "[PREFIX], or VM [PREFIX] for snapshots");
  }
  {
    auto dir = std::make_shared<std::string>();
    auto* c = app.add_subcommand("__man", "");
    c->group("");
    c->add_option("dir", *dir, "Where to write the man pages")->required();
    c->callback([=] {
      *selected = [=](CliContext&) { return ExitCode(WriteManPages(BuildCommandSpec(*root), *dir)); };
    });
  }
}

}  // namespace banger
