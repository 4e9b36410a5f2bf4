// The verb groups, one file each. Each adds its subcommands to the app; the
// callback of the leaf the command line selects stores its action in
// `*selected`, which RunCli runs after parsing.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "api/stream.h"
#include "cli/context.h"
#include "cli/flags.h"
#include "cli/format.h"
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

// The guest command's flags of vm exec, vm run and session start
// (cli/flags.h GuestCommandFlags), and its positional "command" (after --),
// required unless the image's Entrypoint + Cmd may stand in for it.
void AddGuestCommandFlags(CLI::App& c, GuestCommandFlags& f, bool command_required);

// Opens the WebSocket stream `target` (api/stream.h messages) and sends
// `open` as its opening request when not null; the daemon's refusal is the
// error. `timeout` bounds connecting and the handshake.
Result<std::unique_ptr<WsConn>> OpenStream(CliContext& ctx, const std::string& target, const Json* open,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Reads a follow stream (console, events) to its end: each message of type
// `type` goes to `on` (its payload); a `result` ends it (exit 0), an `error`
// is reported, a connection lost before either is an error.
int FollowStream(CliContext& ctx, const std::string& target, StreamType type,
                 const std::function<void(const std::string&)>& on);

// Runs a command stream (exec, session logs/attach): forwards
// stdin when `interactive` or stdin is not a terminal, puts the terminal in
// raw mode for `tty`, forwards signals, and returns the guest command's exit
// code, or 125 when banger failed before it ran.
int StreamCommand(CliContext& ctx, const std::string& target, const Json* open, bool interactive, bool tty);

// Runs a long daemon operation on a WebSocket stream (image build,
// workspace prepare): shows its progress lines on a terminal, and returns the
// result object, or the operation's error. Ctrl-C ends the connection, which
// cancels the operation in the daemon.
Result<Json> ProgressCall(CliContext& ctx, const std::string& target, const Json& body,
                          const std::string& what);

void AddWorkspaceCommands(CLI::App& app, Command* selected);
// `web open`, `web revoke`.
void AddWebCommands(CLI::App& app, Command* selected);
// `mcp`: the MCP server on stdio (mcp_cmd.cc).
void AddMcpCommand(CLI::App& app, Command* selected);
// `version` (version_cmd.cc).
void AddVersionCommand(CLI::App& app, Command* selected);

// `completion bash|zsh|fish`, and the hidden `__complete KIND` and `__man DIR`
// (completion_cmd.cc), generated from the whole tree `app` holds when parsed.
void AddCompletionCommands(CLI::App& app, Command* selected);

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

// --format and -q/--quiet of a list command (cli/format.h); `quiet_help`
// says what -q prints ("VM ids").
void AddListFlags(CLI::App& c, ListFormatFlags& f, const std::string& quiet_help);
// The flags checked with the global --json; the error is reported (exit 2 is
// for CLI11's own usage errors, so a bad --format fails with 1 like a bad --label).
Result<ListFormat> CheckListFormat(const CliContext& ctx, const ListFormatFlags& f);

// An item's "id", for -q.
std::string IdOf(const Json& item);

// GETs `target` and prints its array under `list_key` ([] when absent) in
// the flags' format: `render` is the default table, `id` what -q prints.
int GetAndShowList(CliContext& ctx, const ListFormatFlags& f, const std::string& target, const char* list_key,
                   const std::function<std::string(const Json&)>& render,
                   const std::function<std::string(const Json&)>& id = IdOf);

// A list leaf taking one required argument `arg` (the VM whose snapshots,
// ports, ... it lists): GETs target(arg) and shows it as GetAndShowList does.
void AddRefListLeaf(CLI::App& parent, Command* selected, const std::string& name, const std::string& help,
                    const std::string& arg, const std::string& arg_help, const std::string& quiet_help,
                    const std::function<std::string(const std::string&)>& target, const char* list_key,
                    const std::function<std::string(const Json&)>& render,
                    const std::function<std::string(const Json&)>& id = IdOf);

struct CreateFlags;
// The `vm create` flags, shared with `vm run`.
void AddCreateFlags(CLI::App& c, CreateFlags& f, bool with_no_start);

}  // namespace banger
