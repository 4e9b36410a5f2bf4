// Guest root filesystems: a staging directory filled on the host, then
// turned into an ext4 image with `mkfs.ext4 -d` (no loop mount, no root
// privileges for mkfs itself; file ownership is copied from the staging
// tree, so staging must be done as root for root-owned files).
//
// Profiles:
//  - minimal: busybox (every applet), busybox init, dropbear copied from the
//    host together with its shared libraries. Builds in seconds.
//  - debian: debootstrap of Debian bookworm (minbase + systemd, udev, dbus,
//    OpenSSH, git), optionally with docker.io and the kernel modules Docker
//    loads on demand. Needs Debian's mirror and takes minutes.
// Both carry /usr/local/sbin/banger-agent; the guest init copies the one
// from the initramfs over it at every boot and starts it.
//
// The *Config() functions are pure; the rest do file and process I/O and are
// safe to run concurrently on different staging directories.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "image/modules.h"

namespace banger {

// Files of the minimal profile's /etc, generated rather than shipped so the
// tests can check them.
std::string MinimalPasswdConfig();  // root only; home /root, shell /bin/sh
std::string MinimalGroupConfig();
std::string MinimalShadowConfig();  // root's password locked ("*"): key logins only
std::string MinimalInittabConfig();
std::string MinimalRcsConfig();  // /etc/init.d/rcS, busybox init's sysinit
std::string HostsConfig();       // localhost lines; the guest init adds its name

// The shared libraries (and the dynamic loader) `ldd` says a program needs,
// as absolute host paths, each once. The vDSO (no path) is skipped; a
// library ldd reports "not found" is an error naming it. A static program
// ("statically linked" / "not a dynamic executable") needs none.
Result<std::vector<std::string>> ParseLddOutput(std::string_view ldd_output);

// Fills an empty staging directory with the minimal profile. `busybox` must
// be static (it also provides /sbin/init); dropbear and dropbearkey are
// taken from the host (Debian package dropbear-bin).
Status StageMinimalRootfs(const std::string& staging, const std::string& busybox, const std::string& agent);

struct DebianRootfsSpec {
  std::string staging;  // an empty directory
  std::string agent;    // host path of the static banger-agent
  bool docker = false;
  // For docker: the kernel's module tree (holding lib/modules/<kver>) and
  // its index; the Docker module set is copied into the rootfs.
  std::string modules_root;
  std::string kernel_version;
  const ModuleIndex* modules = nullptr;
};

// debootstrap into spec.staging, then the agent, sshd settings and (for
// docker) kernel modules. Checks `cancel` between its steps.
Status StageDebianRootfs(const DebianRootfsSpec& spec, const std::atomic<bool>& cancel);

// The debootstrap command line StageDebianRootfs runs (exposed for tests).
std::vector<std::string> DebootstrapArgv(const std::string& staging, bool docker);

struct Ext4Spec {
  std::string image_path;  // created (or truncated) as a sparse file
  int64_t size_bytes = 0;
  std::string label;
  std::string source_dir;  // copied in as the filesystem's root directory
  bool journal = true;     // off for images only ever mounted read-only
  int64_t inodes = 0;      // 0 = mkfs's default ratio; else at least this many (-N)
};

// The ext4 size and inode count that hold a staged tree (an unpacked OCI
// image): its allocated bytes plus a quarter and 64 MiB of headroom, whole
// MiB; one inode per entry plus a fifth and 4096 spare.
struct TreeFit {
  int64_t bytes = 0;
  int64_t inodes = 0;
};
TreeFit Ext4FitFor(int64_t allocated_bytes, int64_t entries);
// Counts a tree's entries (every file, directory and link) without
// following symlinks.
int64_t TreeEntryCount(const std::string& dir);

// Makes an ext4 image of source_dir with mkfs.ext4 -d.
Status MakeExt4(const Ext4Spec& spec);

}  // namespace banger
