// Host folders shared with a guest (`vm create --mount HOST:GUEST[:ro|rw]`):
// the flag's grammar, the checks on the guest path and the mount list, and
// the kernel command line items that tell the guest init what to mount.
//
// The contract with the guest init (guest/init/init.sh): one item per
// mount, in mount order,
//   banger.mount=TAG,MODE,GUEST_DIR
// TAG is the virtio-9p mount tag QEMU exports the folder under (MountTag),
// MODE "ro" or "rw", GUEST_DIR the guest path with every byte outside
// [A-Za-z0-9/._-] written as %HH (upper-case hex), so blanks, quotes,
// commas and any other byte survive the kernel's command line parsing; the
// init decodes it with busybox printf.
//
// Pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/types.h"

namespace banger {

// At most this many mounts per VM.
inline constexpr size_t kMaxMounts = 8;
// The longest guest path accepted (bytes, before encoding).
inline constexpr size_t kMaxGuestMountPath = 255;
// The budget of the encoded banger.mount= items on the kernel command line
// (x86 allows 2048 bytes in all).
inline constexpr size_t kMaxMountCmdline = 1024;

// "HOST:GUEST", "HOST:GUEST:ro" or "HOST:GUEST:rw" (the default is rw).
// Neither path may contain ':' (use the API's structured form for such a
// host path). HOST is returned as given (the CLI makes it absolute); GUEST
// is checked with ValidateGuestMountPath.
Result<VmMount> ParseMountFlag(const std::string& flag);

// A guest path: absolute, normalized (no empty, "." or ".." components, no
// trailing '/'), not "/" and not /proc, /sys, /dev, /run/banger or under
// them, no control characters, at most kMaxGuestMountPath bytes.
Status ValidateGuestMountPath(const std::string& path);

// A mount list as a request gives it: at most kMaxMounts, every host path
// absolute, every guest path valid, no guest path equal to or inside
// another, and the kernel command line items within kMaxMountCmdline.
Status ValidateMounts(const std::vector<VmMount>& mounts);

// The 9p mount tag of the i-th mount: "banger0".."banger7".
std::string MountTag(size_t index);

// `path` with every byte outside [A-Za-z0-9/._-] as %HH.
std::string PercentEncodePath(const std::string& path);

// " banger.mount=..." for every mount ("" for none), to append to the
// kernel command line.
std::string MountKernelArgs(const std::vector<VmMount>& mounts);

// OK, or the one-line refusal of mounts on `backend` (Firecracker has no
// file-system sharing).
Status CheckMountBackend(BackendKind backend, const std::vector<VmMount>& mounts);
inline constexpr const char* kFirecrackerMountRefusal =
    "--mount needs the QEMU backend: Firecracker has no file-system sharing; use `banger vm cp` or a "
    "workspace";

// "HOST:GUEST:ro" or "HOST:GUEST:rw", for display.
std::string FormatMount(const VmMount& m);

}  // namespace banger
