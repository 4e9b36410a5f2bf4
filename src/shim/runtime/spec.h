// What the shim reads of a container: the OCI runtime spec (config.json in
// the bundle, or an exec's process spec) and the rootfs mounts containerd
// hands to Create. Everything here comes from containerd's caller (a
// Kubernetes user, say), so every field is checked before use.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/json.h"

namespace banger::shim {

// An OCI process (config.json "process", or the Any of an Exec).
struct ProcessSpec {
  std::vector<std::string> args;
  std::map<std::string, std::string> env;  // from "K=V" entries (a later key wins)
  std::string cwd = "/";
  uint32_t uid = 0, gid = 0;
  bool terminal = false;
  uint16_t rows = 24, cols = 80;  // consoleSize, when given

  // banger's guest user: "UID:GID".
  std::string User() const { return std::to_string(uid) + ":" + std::to_string(gid); }
};

// CRI's annotations: which pod a container belongs to.
inline constexpr const char* kContainerTypeKey = "io.kubernetes.cri.container-type";
inline constexpr const char* kSandboxIdKey = "io.kubernetes.cri.sandbox-id";

struct ContainerSpec {
  ProcessSpec process;
  std::string root_path;  // root.path, absolute (resolved against the bundle)
  bool root_readonly = false;
  std::map<std::string, std::string> annotations;
  int64_t memory_limit_bytes = 0;  // linux.resources.memory.limit; 0 = none
  int cpus = 0;                    // ceil(cpu.quota / cpu.period); 0 = none

  // The pod this container belongs to ("" = none): its sandbox id.
  std::string SandboxId() const;
  // True for a pod's sandbox container, or a container outside any pod.
  bool OwnsVm() const;
};

Result<ProcessSpec> ParseProcessSpec(const Json& process);
Result<ContainerSpec> ParseContainerSpec(const Json& config, const std::string& bundle);
// Reads and parses <bundle>/config.json (at most 4 MiB).
Result<ContainerSpec> ReadBundleSpec(const std::string& bundle);

// One of Create's rootfs mounts (containerd.types.Mount).
struct RootfsMount {
  std::string type, source;
  std::vector<std::string> options;
};

// mount(2)'s flags and data for a mount's options: the known flag words
// (ro, rw, bind, rbind, nosuid, ...) become flags, the rest is data.
struct MountArgs {
  unsigned long flags = 0;
  std::string data;
};
MountArgs SplitMountOptions(const std::vector<std::string>& options);

// The value of `key=` in a mount's options ("" when absent).
std::string MountOption(const RootfsMount& m, const std::string& key);

// Mounts `mounts` in order at `target` (which must exist). On failure what
// was mounted is unmounted again.
Status MountAll(const std::vector<RootfsMount>& mounts, const std::string& target);
// Unmounts everything at `target` (lazily), until nothing is mounted there.
// Not mounted is fine.
Status UnmountAll(const std::string& target);
// True when `path` is a mount point (read from /proc/self/mountinfo).
bool IsMountPoint(const std::string& path);

}  // namespace banger::shim
