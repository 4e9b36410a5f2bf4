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

}  // namespace banger
