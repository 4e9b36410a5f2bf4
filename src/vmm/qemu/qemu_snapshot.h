// QEMU snapshots to disk, without a shell: the migration stream goes to a
// file the daemon opens itself and hands to QEMU over QMP (getfd with
// SCM_RIGHTS, then migrate "fd:NAME"); a restore passes the opened file to
// the new QEMU as an inherited descriptor (-incoming fd:N). QEMU 7.2 has no
// file: URI, and exec: would spawn /bin/sh, which QEMU's own sandbox
// (spawn=deny) forbids; with fd: QEMU spawns nothing and, running as the
// VMM user, needs no permission on the snapshot directory.
//
// Thread-safety: free functions; one call per VM at a time.
#pragma once

#include <chrono>

#include "base/result.h"
#include "base/unique_fd.h"
#include "vmm/backend.h"

namespace banger {

// Pauses the VM (QMP stop), writes the migration stream to out.state_path
// (created 0600, must not exist), fsyncs it. The VM stays paused, also on
// failure; a failed save returns only once QEMU's migration is over
// (cancelled if need be) and QEMU holds no descriptor of the file, so the
// caller may resume the VM and remove the file. A full disk fails with
// QEMU's words ("... No space left on device").
Status SaveQemuSnapshot(const VmmProcess& p, const SnapshotPaths& out, std::chrono::milliseconds timeout);

// Opens in.state_path for a restore (read-only, close-on-exec; SpawnDetached
// clears that for the fd it keeps).
Result<UniqueFd> OpenQemuSnapshotForRestore(const SnapshotPaths& in);

}  // namespace banger
