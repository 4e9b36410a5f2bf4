// The verb groups, one file each. Each adds its subcommands to the app; the
// callback of the leaf the command line selects stores its action in
// `*selected`, which RunCli runs after parsing.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "cli/context.h"
#include "http/http.h"

namespace banger {

void AddDaemonCommands(CLI::App& app, Command* selected);
void AddImageCommands(CLI::App& app, Command* selected);
void AddVmCommands(CLI::App& app, Command* selected);
void AddEventsCommand(CLI::App& app, Command* selected);
void AddDoctorCommand(CLI::App& app, Command* selected);
void AddSessionCommands(CLI::App& app, Command* selected);
// `vm exec` and `vm run`, added under the `vm` command.
void AddExecCommands(CLI::App& vm, Command* selected);
// `vm snapshot create|list|delete` and `vm restore`, under the `vm` command.
void AddSnapshotCommands(CLI::App& vm, Command* selected);
// banger image template create|list|delete (template_cmd.cc)
void AddTemplateCommands(CLI::App& image, Command* selected);
// `vm ssh`, under the `vm` command.
void AddSshCommand(CLI::App& vm, Command* selected);
// vm port add|rm|list (published ports)
void AddPortCommands(CLI::App& vm, Command* selected);
// `vm cp`, under the `vm` command (cp_cmd.cc).
void AddCpCommand(CLI::App& vm, Command* selected);

// POSTs `body` to `target` asking for an upgraded connection
// (api/stream.h frames); the daemon's refusal is the error.
Result<UpgradeResult> OpenStream(CliContext& ctx, const std::string& target, const Json& body);

// Runs an upgraded command stream (exec, session logs/attach): forwards
// stdin when `interactive` or stdin is not a terminal, puts the terminal in
// raw mode for `tty`, forwards signals, and returns the guest command's exit
// code, or 125 when banger failed before it ran.
int StreamCommand(CliContext& ctx, const std::string& target, const Json& body, bool interactive, bool tty);

// Runs a long daemon operation on an upgraded connection (image build,
// workspace prepare): shows its progress lines on a terminal, and returns the
// result object, or the operation's error. Ctrl-C ends the connection, which
// cancels the operation in the daemon.
Result<Json> ProgressCall(CliContext& ctx, const std::string& target, const Json& body,
                          const std::string& what);

void AddWorkspaceCommands(CLI::App& app, Command* selected);
// `web open`, `web revoke`.
void AddWebCommands(CLI::App& app, Command* selected);

// A verb group ("vm", "image", ...): one of its subcommands is required.
CLI::App* AddGroup(CLI::App& app, const std::string& name, const std::string& help);

// A leaf subcommand whose flags live in a T shared with its callback: the
// caller adds options to the returned App and fields of the returned T;
// after parsing, `run` gets them.
template <typename T>
std::pair<CLI::App*, T*> AddLeaf(CLI::App& parent, Command* selected, const std::string& name,
                                 const std::string& help, std::function<int(CliContext&, const T&)> run) {
  auto f = std::make_shared<T>();
  auto* c = parent.add_subcommand(name, help);
  c->callback([f, selected, run] { *selected = [f, run](CliContext& ctx) { return run(ctx, *f); }; });
  return {c, f.get()};
}

// A leaf taking one required argument `arg`: `run(ctx, name)`.
void AddRefLeaf(CLI::App& parent, Command* selected, const std::string& name, const std::string& help,
                const std::string& arg, const std::string& arg_help,
                std::function<int(CliContext&, const std::string&)> run);

// A change (method, target, body) on the daemon, with the long timeout;
// prints the answer's name, or the answer with --json.
int CallAndName(CliContext& ctx, const std::string& method, const std::string& target, const Json* body);

// GETs `target` and prints it: as JSON with --json, else `render(object)`.
// With `list_key`, the object is the answer's array under that key ([] when absent).
int GetAndShow(CliContext& ctx, const std::string& target, const char* list_key,
               const std::function<std::string(const Json&)>& render);

struct CreateFlags;
// The `vm create` flags, shared with `vm run`.
void AddCreateFlags(CLI::App& c, CreateFlags& f, bool with_no_start);

}  // namespace banger
