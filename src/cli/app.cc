#include "cli/app.h"

#include <CLI/CLI.hpp>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "cli/context.h"

namespace banger {

int RunCli(int argc, char** argv) {
  CLI::App app("banger: microVMs on this host, run by the bangerd daemon", "banger");
  // Set before adding subcommands, which inherit it: global options given
  // after a subcommand ("banger vm list --json") fall through to the app.
  app.fallthrough();
  app.require_subcommand(1);
  GlobalOptions opts;
  app.add_option("--home", opts.home,
                 "State root (default: $BANGER_HOME, else /var/lib/banger for root, ~/.local/share/banger "
                 "otherwise)")
      ->type_name("DIR");
  app.add_option("--config", opts.config,
                 "Daemon config file (default: $BANGER_CONFIG, else <home>/config.toml)")
      ->type_name("FILE");
  app.add_flag("--json", opts.json, "Machine-readable output");
  app.set_version_flag("--version", std::string("banger ") + BANGER_VERSION);

  Command selected;
  AddDaemonCommands(app, &selected);
  AddImageCommands(app, &selected);
  AddVmCommands(app, &selected);
  AddEventsCommand(app, &selected);
  AddDoctorCommand(app, &selected);
  AddSessionCommands(app, &selected);
  AddWorkspaceCommands(app, &selected);
  AddWebCommands(app, &selected);
  AddMcpCommand(app, &selected);
  AddVersionCommand(app, &selected);
  AddCompletionCommands(app, &selected);  // last: it reads the tree above

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" that exit 0; everything else CLI11
    // rejects is a usage error, whatever code CLI11 would pick.
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }

  CliContext ctx(opts);
  try {
    return selected(ctx);
  } catch (const std::exception& e) {
    // A daemon answer of an unexpected shape must not crash the CLI.
    return Report(Error::Internal(e.what()));
  }
}

}  // namespace banger
