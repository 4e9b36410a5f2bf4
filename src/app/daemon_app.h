// bangerd's top level: one daemon per home (a lock file), the store, the VMM
// backends, startup reconcile, the API server and the background sweeper.
//
// Threads: the main thread runs the API accept loop; each API connection has
// its own thread; one signal thread turns SIGTERM/SIGINT into a shutdown;
// one sweeper thread demotes VMs whose VMM exited. VMM processes are not
// threads or children of the daemon: they run in their own sessions.
#pragma once

#include <string>

namespace banger {

struct DaemonOptions {
  std::string home;         // resolved home root
  std::string config_path;  // resolved config path
  bool foreground = false;  // also log to stderr
};

// Runs until stopped; returns the process exit code.
int RunDaemon(const DaemonOptions& opts);

inline constexpr const char* kBangerVersion = "0.1.0";

}  // namespace banger
