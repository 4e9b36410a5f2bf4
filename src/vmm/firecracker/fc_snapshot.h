// Firecracker snapshots to disk: PATCH /vm Paused + PUT /snapshot/create
// (a full snapshot: device-state file + guest memory file), and a fresh
// firecracker process that PUT /snapshot/load's them (memory backed by the
// file, network_overrides for the tap of this boot).
//
// Paths: what FC stores in the state file are the drive and vsock paths it
// was given at boot. A restore of the same VM reuses them (the daemon puts
// the snapshot's disk copies back at those paths first, and removes the old
// vsock socket: FC binds it again during the load). With a VMM user, FC runs
// in the VM directory and every path it sees is relative to it, so the
// snapshot's files must lie inside the VM directory; they are created owned
// by that user. Under the jailer (jailer_bin) snapshots are refused: the
// files would have to live inside the chroot.
//
// Thread-safety: free functions; one call per VM at a time.
#pragma once

#include <chrono>

#include "base/process.h"
#include "base/result.h"
#include "vmm/backend.h"

namespace banger {

Status FcSaveSnapshot(const BackendOptions& opts, const VmmProcess& p, const SnapshotPaths& out,
                      std::chrono::milliseconds timeout);

Result<VmmProcess> FcLaunchFromSnapshot(const BackendOptions& opts, ProcessOps& ops, const LaunchSpec& spec,
                                        const SnapshotPaths& in, bool resume,
                                        std::chrono::milliseconds timeout);

}  // namespace banger
