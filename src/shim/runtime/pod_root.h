// The root filesystem of a pod's container inside the pod's VM. The VM
// boots the sandbox's root; a container of another image gets its own root
// under /var/lib/banger/containers/ in the VM: the shim sends its rootfs
// there (archive upload, owners and modes kept), mounts proc, sys and dev
// in it and runs its processes chrooted through `banger-agent ctr-root exec`
// (guest/agent/ctr_root.h).
#pragma once

#include <string>

#include "base/result.h"
#include "runtime/bangerd.h"
#include "runtime/spec.h"

namespace banger::shim {

// Where container `id`'s root lives in the VM.
std::string GuestRootFor(const std::string& id);

// Runs `argv` in VM `vm` through the agent (as root, no stdin) and waits at
// most `timeout`; an exit other than 0 is an error carrying its stderr.
Status RunInVm(Bangerd& api, const std::string& vm, const std::vector<std::string>& argv,
               std::chrono::milliseconds timeout);

// Creates `guest_root` in the VM, sends the host tree `tree` into it and
// mounts proc, sys and dev there. On failure what was made is removed.
Status InstallGuestRoot(Bangerd& api, const std::string& vm, const std::string& tree,
                        const std::string& guest_root);
// Unmounts and deletes `guest_root` in the VM (a VM that is gone is fine).
Status RemoveGuestRoot(Bangerd& api, const std::string& vm, const std::string& guest_root);

// `process` as the VM runs it: chrooted into `guest_root`, as its user, in
// its directory (the agent itself runs as root).
ProcessSpec Chrooted(const ProcessSpec& process, const std::string& guest_root);

}  // namespace banger::shim
