// Building a guest image: everything a VM boots from, written into one
// artifact directory.
//
//   vmlinux          Debian's cloud (or generic) kernel as an ELF
//   initrd.img       busybox, the guest init, the virtio/vsock/overlay
//                    modules, the 9p modules when the kernel has them, and
//                    the static guest agent (see initramfs.h)
//   rootfs.ext4      the image's root, mounted read-only as the lower layer
//                    of each VM's overlay root (label banger-root)
//   work-seed.ext4   the template of a VM's work disk, mounted at /root
//                    (label banger-work): root's authorized_keys, .profile
//   modules/         the kernel's full module tree (lib/modules/<kver>)
//
// The guest init's kernel command line and disk order are documented at the
// top of guest/init/init.sh.
//
// BuildImage blocks for seconds (minimal) to minutes (debian); run it off
// the request thread. It must run as root: file ownership inside the images
// is copied from the staging trees. Builds into different artifact
// directories may run concurrently (apt's own lock serializes updates).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "base/result.h"

namespace banger {

struct ImageBuildRequest {
  std::string name;
  std::string profile = "minimal";  // minimal | debian | oci
  bool docker = false;              // debian only
  int64_t rootfs_size_bytes = 0;    // 0 = profile default (minimal 512M, debian 4G)
  // Debian's kernel: "cloud" (small, fast to boot, no 9p) or "generic" (has
  // 9p: host folders, `vm create --mount`); image/kernel_info.h.
  std::string kernel_flavour = "cloud";
  // profile oci: the image's layers already unpacked (oci/layout.h) into a
  // directory inside the artifact dir; it becomes rootfs.ext4 as it is
  // (nothing of banger's added: the guest init and agent come from the
  // initramfs) and is removed afterwards. Sized from the tree unless
  // rootfs_size_bytes is given.
  std::string oci_rootfs_dir;
  // The tree is not the builder's (image build --from-rootfs): left as it is.
  bool keep_oci_rootfs_dir = false;
};

struct ImageBuildEnv {
  std::string artifact_dir;              // empty dir to fill (the daemon owns and removes it on failure)
  std::string agent_binary;              // static banger-agent to install
  std::string ssh_public_key;            // one OpenSSH public key line to authorize for root
  std::string busybox = "/bin/busybox";  // static busybox (Debian busybox-static)
  std::string kernel_cache_dir;          // keeps the kernel .deb across builds; empty = no cache
};

struct BuiltImage {
  std::string kernel_path, initrd_path, rootfs_path, modules_dir, work_seed_path, kernel_version, build_size;
};

// One short line per stage ("fetching kernel 6.1.0-56-cloud-amd64",
// "resolving modules", "writing initramfs (12 modules)", ...).
using BuildProgress = std::function<void(const std::string& stage)>;

// Builds an image into env.artifact_dir. Errors name the failing step
// ("fetching kernel: ...", "building rootfs: ..."). `cancel` is checked
// between steps; a cancelled build returns Error::Internal("interrupted").
Result<BuiltImage> BuildImage(const ImageBuildRequest& req, const ImageBuildEnv& env,
                              const BuildProgress& progress, const std::atomic<bool>& cancel);

// Default rootfs sizes per profile.
inline constexpr int64_t kMinimalRootfsBytes = int64_t{512} << 20;
inline constexpr int64_t kDebianRootfsBytes = int64_t{4} << 30;
inline constexpr int64_t kWorkSeedBytes = int64_t{64} << 20;

// The checks BuildImage makes before doing anything (exposed for tests).
Status ValidateBuildRequest(const ImageBuildRequest& req, const ImageBuildEnv& env);

}  // namespace banger
