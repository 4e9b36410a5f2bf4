// Firecracker snapshots to disk: PATCH /vm Paused + PUT /snapshot/create
// (a full snapshot: device-state file + guest memory file), and a fresh
// firecracker process that PUT /snapshot/load's them (memory backed by the
// file, network_overrides for the tap of this boot).
//
// Paths: what FC stores in the state file are the names it was given at
// boot for the drives and the vsock socket, relative to the VM directory
// (its working directory) or to the chroot under the jailer (fc_launch.h).
// A load runs FC in the loading VM's own directory (or a fresh jail in it),
// so the snapshot continues on that VM's disks and sockets: the same VM
// (the daemon puts the snapshot's disk copies back first) or another one (a
// fork, with copies of the disks under the same names). The tap comes from
// network_overrides (FC >= 1.12; an older FC with a NIC is refused with one
// line). The load is paused first and GET /vm/config must show only this
// VM's drives before the VM is resumed (a snapshot an older banger took with
// absolute paths continues only in its own VM).
//
// Where FC writes and reads the snapshot files: unjailed, at their paths
// (with a VMM user they must lie inside the VM directory, and are created
// owned by that user); under the jailer, inside the chroot, then moved out
// to the given paths; a load hard-links them into FC's directory whenever
// FC runs as another user (the links go once loaded).
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
