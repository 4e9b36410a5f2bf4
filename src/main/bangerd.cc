// bangerd: the banger daemon. See app/daemon_app.h.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "app/daemon_app.h"
#include "app/route_list.h"
#include "base/fault.h"
#include "config/config.h"

int main(int argc, char** argv) {
  CLI::App app{"bangerd: the banger microVM daemon"};
  std::string home, config;
  bool foreground = false;
  app.add_option("--home", home, "state root (default: $BANGER_HOME, /var/lib/banger for root)");
  app.add_option("--config", config, "daemon config file (default: <home>/config.toml)");
  app.add_flag("--foreground", foreground, "also log to stderr (for debugging and systemd)");
  app.set_version_flag("--version", banger::kBangerVersion);
  bool list_routes = false;
  app.add_flag("--list-routes", list_routes,
               "print the API's routes (METHOD PATTERN ACCESS, access any or local) and exit");
  bool list_faults = false;
  // Test builds only (CMake option BANGER_FAULT_INJECTION): the chaos test's catalogue.
  if (banger::fault::Enabled()) {
    app.add_flag("--list-fault-points", list_faults,
                 "print the test-only fault points (BANGER_FAULT) and exit");
  }
  CLI11_PARSE(app, argc, argv);
  if (list_routes) {
    auto lines = banger::ApiRouteLines();
    if (!lines.ok()) {
      std::fprintf(stderr, "bangerd: %s\n", lines.error().message().c_str());
      return 1;
    }
    for (const auto& l : *lines) std::printf("%s\n", l.c_str());
    return 0;
  }
  if (list_faults) {
    for (const auto& p : banger::fault::Points()) std::printf("%s\n", p.c_str());
    return 0;
  }
  banger::HomeLayout layout{banger::ResolveHome(home)};
  return banger::RunDaemon({layout.root, banger::ResolveConfigPath(config, layout), foreground});
}
