#include "runtime/args.h"

#include "base/sha256.h"

namespace banger::shim {

Result<ShimArgs> ParseShimArgs(const std::vector<std::string>& argv) {
  ShimArgs a;
  for (size_t i = 1; i < argv.size(); ++i) {
    std::string arg = argv[i];
    if (arg.size() > 1 && arg[0] == '-') {
      std::string name = arg.substr(arg[1] == '-' ? 2 : 1);
      std::string value;
      bool has_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      if (name == "debug") {
        a.debug = !has_value || value == "true" || value == "1";
        continue;
      }
      if (name == "v" || name == "version") {
        a.version = true;
        continue;
      }
      std::string* dst = name == "namespace"        ? &a.ns
                         : name == "address"        ? &a.address
                         : name == "publish-binary" ? &a.publish_binary
                         : name == "id"             ? &a.id
                         : name == "bundle"         ? &a.bundle
                         : name == "socket"         ? &a.socket
                                                    : nullptr;
      if (dst == nullptr) return Error::Invalid("unknown flag " + arg);
      if (!has_value) {
        if (i + 1 >= argv.size()) return Error::Invalid("flag " + arg + " needs a value");
        value = argv[++i];
      }
      *dst = value;
      continue;
    }
    if (!a.action.empty()) return Error::Invalid("unexpected argument " + arg);
    if (arg != "start" && arg != "delete" && arg != "serve") return Error::Invalid("unknown action " + arg);
    a.action = arg;
  }
  if (a.version) return a;
  if (a.ns.empty()) return Error::Invalid("-namespace is required");
  if (a.id.empty() && a.action != "serve") return Error::Invalid("-id is required");
  return a;
}

std::string ShimSocketPath(const std::string& address, const std::string& ns, const std::string& group) {
  std::string dir = address;
  if (dir.rfind("unix://", 0) == 0) dir = dir.substr(7);
  auto slash = dir.rfind('/');
  dir = slash == std::string::npos || slash == 0 ? "/run/containerd" : dir.substr(0, slash);
  // sun_path holds 108 bytes: keep the name short enough for deep directories.
  const std::string name = Sha256::Hex(address + "\n" + ns + "\n" + group).substr(0, 32);
  return dir + "/s/banger-" + name;
}

}  // namespace banger::shim
