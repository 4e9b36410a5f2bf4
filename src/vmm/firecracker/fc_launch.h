// Where a Firecracker process runs and which names it is given, shared by a
// cold launch (fc_backend.cc) and a launch from a snapshot (fc_snapshot.cc).
//
// Firecracker always runs in a directory of the VM's and is given names
// relative to it, so that what a snapshot records (drive and vsock paths)
// resolves in whichever VM directory loads it:
// - unjailed, its working directory is the VM directory: the VM's own files
//   by their base name, read-only inputs from elsewhere (kernel, initrd, the
//   image's rootfs) under fixed names (fc-kernel, fc-initrd, fc-<drive id>):
//   hard links with a VMM user (it may not traverse the daemon's home),
//   symlinks without one. The API socket stays absolute without a VMM user.
// - under the jailer, the chroot (vmm/firecracker/jailer.h) with its fixed
//   names (kernel, <drive id>.img, v.sock ...).
//
// Thread-safety: free functions; one call per VM at a time.
#pragma once

#include <optional>
#include <string>

#include "base/process.h"
#include "base/result.h"
#include "vmm/backend.h"
#include "vmm/firecracker/jailer.h"
#include "vmm/launch_util.h"

namespace banger {

// The names a snapshot's files have where FC writes or reads them through a
// link (fc_snapshot.cc): in the chroot, or in the VM directory.
inline constexpr const char* kFcSnapshotStateName = "fc-snapshot.state";
inline constexpr const char* kFcSnapshotMemoryName = "fc-snapshot.mem";

struct FcPlacement {
  LaunchSpec fc;                   // the spec with the names FC is given
  std::optional<JailLayout> jail;  // set under the jailer
  std::string root;                // where FC's relative names resolve: the chroot or the VM directory
};

// The jail's user: vmm_user, or root when there is none (vmm_user = "root").
uid_t FcJailUid(const BackendOptions& opts);
gid_t FcJailGid(const BackendOptions& opts);

// Prepares the VM directory (or a fresh jail in it) for `spec` and returns
// the names FC is given. The caller removes the jail on failure (JailGuard).
Result<FcPlacement> PlaceFirecracker(const BackendOptions& opts, const LaunchSpec& spec);

// `firecracker --api-sock ... --id ...` (through the jailer under it), in
// the placement's directory, as the VMM user.
SpawnOptions FirecrackerSpawnOptions(const BackendOptions& opts, const LaunchSpec& spec,
                                     const FcPlacement& p);

// The identity of the spawned firecracker (under the jailer: once the
// jailer has exec'd it).
Result<ProcIdentity> IdentifyFirecracker(const BackendOptions& opts, ProcessOps& ops, pid_t pid,
                                         const FcPlacement& p, const Deadline& deadline);

// Polls until the API answers GET /; fails at once if FC exits first.
Status WaitForFcApi(ProcessOps& ops, const ProcIdentity& who, const std::string& sock,
                    const Deadline& deadline);

// FC before 1.14 refuses log and metrics paths that do not exist yet. The
// directory may be the VMM user's: never follows a symlink it put there.
Status CreateFcFileIfMissing(const std::string& path);

}  // namespace banger
