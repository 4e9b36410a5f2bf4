// The shim's command line, as containerd (1.6) writes it: Go-style flags
// (`-namespace NS -address ADDR -publish-binary BIN -id ID [-bundle DIR]
// [-debug]`) and an action: `start` (print the address of a shim serving
// the task, starting one when needed), `delete` (clean up after a shim that
// died; prints a DeleteResponse) or none (serve: the daemon `start` leaves).
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace banger::shim {

struct ShimArgs {
  std::string ns, address, publish_binary, id, bundle, socket;
  bool debug = false;
  bool version = false;
  std::string action;  // start | delete | serve | ""
};

Result<ShimArgs> ParseShimArgs(const std::vector<std::string>& argv);

// The shim's socket: under containerd's directory (the directory of its
// address: /run/containerd/s for the system's), named by a hash of the
// address, the namespace and the group (a pod's sandbox id, else the id), so
// one containerd never mixes two shims up and a pod's containers share one.
std::string ShimSocketPath(const std::string& address, const std::string& ns, const std::string& group);

}  // namespace banger::shim
