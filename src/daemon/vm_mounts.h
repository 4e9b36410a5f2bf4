// Host folders of a VM (`vm create --mount`): the daemon-side checks.
//
// At create (CheckMountsForCaller): each host path is resolved once
// (realpath: no symlink left in it) and must be a directory the CALLER
// could read (and write, for a rw mount) itself: the check runs as the
// caller's uid, gid and supplementary groups as the API saw them
// (SO_PEERCRED / SO_PEERGROUPS), so the root daemon never lends its own
// access. The resolved path is what the VM's spec keeps.
//
// At every boot (CheckMountsAtBoot): each kept path must still resolve to
// itself and be a directory (a component swapped for a symlink since is
// refused), and the image's kernel must have 9p (CheckImageMounts, read
// from the image's modules, never guessed from its name).
//
// The OS calls go through MountOps so tests substitute them. Thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/process.h"
#include "base/result.h"
#include "model/types.h"
#include "vmm/backend.h"

namespace banger {

struct MountOps {
  // realpath(3): the canonical absolute path, or the errno as an error.
  std::function<Result<std::string>(const std::string& path)> resolve;
  // Whether `path` is a directory (not following a final symlink).
  std::function<bool(const std::string& path)> is_directory;
  // Whether `who` may access `path` with access(2)'s `mode` (R_OK, W_OK,
  // X_OK), tried as `who` in a forked child: 0 or the errno. An error only
  // when the probe itself failed.
  std::function<Result<int>(const std::string& path, const Credentials& who, int mode)> access_as;
};
const MountOps& RealMountOps();

// The mounts of a create request, checked for `caller` (unset: the request
// did not come over the local socket, so nobody vouches for it: refused),
// with each host path resolved. [] for none.
Result<std::vector<VmMount>> CheckMountsForCaller(const std::vector<VmMount>& mounts,
                                                  const std::optional<Credentials>& caller,
                                                  const MountOps& ops);

// Before a boot: the kept host paths are still directories with no symlink.
Status CheckMountsAtBoot(const std::vector<VmMount>& mounts, const MountOps& ops);

// A VM with mounts needs an image whose kernel has 9p: the refusal names
// the kernel and how to build an image that has it.
Status CheckImageMounts(const Image& img, const std::vector<VmMount>& mounts);

// The VMM's view: tag banger<i> for mount i.
std::vector<ShareSpec> SharesOf(const std::vector<VmMount>& mounts);

// The one-line refusal of saving a VM with mounts (snapshots, stop --save,
// forks, templates): QEMU cannot migrate a mounted 9p share. OK without mounts.
Status CheckSavable(const VmRecord& vm);

}  // namespace banger
