// The verb groups, one file each. Each adds its subcommands to the app; the
// callback of the leaf the command line selects stores its action in
// `*selected`, which RunCli runs after parsing.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace banger {

void AddDaemonCommands(CLI::App& app, Command* selected);
void AddImageCommands(CLI::App& app, Command* selected);
void AddVmCommands(CLI::App& app, Command* selected);
void AddEventsCommand(CLI::App& app, Command* selected);
void AddDoctorCommand(CLI::App& app, Command* selected);
void AddSessionCommands(CLI::App& app, Command* selected);
// `vm exec` and `vm run`, added under the `vm` command.
void AddExecCommands(CLI::App& vm, Command* selected);
// `vm ssh`, under the `vm` command.
void AddSshCommand(CLI::App& vm, Command* selected);

// Runs an upgraded command stream (exec, session logs/attach): forwards
// stdin when `interactive` or stdin is not a terminal, puts the terminal in
// raw mode for `tty`, forwards signals, and returns the guest command's exit
// code, or 125 when banger failed before it ran.
int StreamCommand(CliContext& ctx, const std::string& target, const Json& body, bool interactive, bool tty);

// Runs a long daemon operation on an upgraded connection (image build,
// workspace prepare): shows its progress lines on a terminal, and returns the
// result object, or the operation's error. Ctrl-C ends the connection, which
// cancels the operation in the daemon.
Result<Json> ProgressCall(CliContext& ctx, const std::string& target, const Json& body, const std::string& what);

void AddWorkspaceCommands(CLI::App& app, Command* selected);

struct CreateFlags;
// The `vm create` flags, shared with `vm run`.
void AddCreateFlags(CLI::App& c, CreateFlags& f, bool with_no_start);

}  // namespace banger
