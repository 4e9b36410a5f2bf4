// bangerd: the banger daemon. See app/daemon_app.h.
#include <CLI/CLI.hpp>

#include "app/daemon_app.h"
#include "config/config.h"

int main(int argc, char** argv) {
  CLI::App app{"bangerd: the banger microVM daemon"};
  std::string home, config;
  bool foreground = false;
  app.add_option("--home", home, "state root (default: $BANGER_HOME, /var/lib/banger for root)");
  app.add_option("--config", config, "daemon config file (default: <home>/config.toml)");
  app.add_flag("--foreground", foreground, "also log to stderr (for debugging and systemd)");
  app.set_version_flag("--version", banger::kBangerVersion);
  CLI11_PARSE(app, argc, argv);
  banger::HomeLayout layout{banger::ResolveHome(home)};
  return banger::RunDaemon({layout.root, banger::ResolveConfigPath(config, layout), foreground});
}
