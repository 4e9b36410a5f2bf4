// Firecracker through its jailer (config jailer_bin): the jailer, started as
// root, copies the firecracker binary into a chroot, makes /dev/kvm,
// /dev/net/tun and /dev/urandom there owned by the jail's uid:gid, enters
// a new mount namespace, pivots into the chroot, drops to uid:gid and execs
// firecracker in the same process (no --daemonize, no --new-pid-ns).
//
// Layout: the chroot base is the VM's own directory, <vm_dir>/jail, so the
// jail goes with the VM (delete, and reconcile's orphan cleanup, remove the
// whole directory) and hard links from it to the VM's disks never cross a
// filesystem. The VM directory stays the daemon's (0700): the jailer runs as
// root under it, so nothing above the chroot may be writable by the VMM user.
//
//   <vm_dir>/jail/<exec name>/<jail id>/root      the chroot, FC's "/"
//     kernel, initrd, <drive id>.img               hard links (a read-only
//                                                  input is copied across
//                                                  filesystems)
//     vmm.log, metrics.json                        hard links to the VM's files
//     api.sock, v.sock                             bound by FC; the VM's
//                                                  <vm_dir>/api.sock and
//                                                  v.sock are symlinks to them
//
// Firecracker is given chroot-relative paths (its working directory is the
// chroot's root). Cgroups stay banger's (vmm/cgroup.h): the spawn joins the
// VM's groups before exec'ing the jailer, which runs without --cgroup, so
// jailer and firecracker never run outside them and the daemon's teardown
// removes them (the jailer would leave its own behind).
//
// Thread-safety: free functions; calls for different VMs may run at once.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "base/process.h"
#include "base/result.h"
#include "vmm/backend.h"

namespace banger {

// The jail's directory name inside a VM directory.
inline constexpr const char* kJailDirName = "jail";

struct JailLayout {
  std::string base;       // --chroot-base-dir: <vm_dir>/jail
  std::string id;         // --id (also firecracker's instance id)
  std::string exec_file;  // --exec-file: the firecracker binary, absolute
  std::string dir;        // <base>/<exec basename>/<id>
  std::string root;       // <dir>/root: the chroot
  std::string exe;        // <root>/<exec basename>: the copy firecracker runs as
};

// The layout for a VM: the jail id is its name when the jailer accepts it
// ([A-Za-z0-9-], at most 64), else its id.
JailLayout JailLayoutFor(const LaunchSpec& spec, const std::string& exec_file);

// jailer argv: jailer --id --exec-file --uid --gid --chroot-base-dir -- <fc_args>.
std::vector<std::string> JailerArgv(const std::string& jailer_bin, const JailLayout& jail, uid_t uid,
                                    gid_t gid, const std::vector<std::string>& fc_args);

// Builds a fresh chroot for `spec` (an earlier jail is removed first) and
// returns the spec firecracker is configured with: every path relative to
// the chroot's root. What FC writes (writable drives, log, metrics) is owned
// by uid:gid; the host socket paths of `spec` become symlinks into the jail.
Result<LaunchSpec> PrepareJail(const LaunchSpec& spec, const JailLayout& jail, uid_t uid, gid_t gid);

// Waits until `pid` (the jailer) has exec'd the firecracker copy in the
// chroot and returns that process's identity with `uid` (the identity at
// spawn is the jailer binary's, which reconcile would never recognize). A
// jailer that exits first is kUnavailable; one that is not done by the
// deadline is SIGKILLed and kTimeout.
Result<ProcIdentity> WaitForJailedExec(ProcessOps& ops, pid_t pid, const JailLayout& jail, uid_t uid,
                                       std::chrono::milliseconds timeout);

// Removes <vm_dir>/jail and everything in it (never following symlinks); a
// missing one is success.
Status RemoveJail(const std::string& vm_dir);

// Removes the jail when destroyed, unless Release()d: a failed launch leaves
// no chroot behind.
class JailGuard {
 public:
  explicit JailGuard(std::string vm_dir) : vm_dir_(std::move(vm_dir)) {}
  ~JailGuard();
  JailGuard(const JailGuard&) = delete;
  JailGuard& operator=(const JailGuard&) = delete;
  void Release() { vm_dir_.clear(); }

 private:
  std::string vm_dir_;
};

}  // namespace banger
