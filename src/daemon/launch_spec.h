// A VM's runtime layout and its VMM launch spec, as pure functions (no I/O):
// the file names in <home>/vms/<id[:16]>/, and the LaunchSpec handed to a
// VmmBackend, which carries the kernel command line contract with the guest
// init (guest/init/init.sh): console=ttyS0 reboot=k panic=1
// banger.hostname=NAME banger.vm_id=ID banger.agent=serial|vsock
// [banger.cow=dm] [banger.ip=... banger.gw=... banger.dns=...]
// [banger.mount=TAG,MODE,DIR ... (model/mounts.h)], and the disks
// in guest order (vda rootfs, vdb overlay, vdc work; dm-snapshot: vda the
// private root, vdb work).
#pragma once

#include <cstdint>
#include <string>

#include "config/config.h"
#include "model/types.h"
#include "vmm/backend.h"
#include "vmm/cgroup.h"

namespace banger {

inline constexpr const char* kControlSockName = "api.sock";
inline constexpr const char* kAgentSockName = "agent.sock";
inline constexpr const char* kVsockSockName = "v.sock";
inline constexpr const char* kConsoleLogName = "console.log";
inline constexpr const char* kVmmLogName = "vmm.log";
inline constexpr const char* kMetricsName = "metrics.json";
inline constexpr const char* kOverlayDiskName = "system-overlay.ext4";
inline constexpr const char* kWorkDiskName = "work.ext4";

// The guest vsock CID (>= 3), derived from the id: durable and rarely colliding.
uint32_t CidFor(const std::string& vm_id);

// Sets vm.runtime's deterministic paths (directory, sockets, logs, disks,
// vsock) for vm.id and vm.spec.backend under `home`.
void FillRuntimePaths(const HomeLayout& home, VmRecord& vm);

// What one boot has set up on the host, besides the VM's files.
struct BootDevices {
  std::string root_dev;         // private root device (dm-snapshot); "" = overlay layout
  std::string tap_device;       // "" = no NIC
  std::string net_kernel_args;  // " banger.ip=..." from VmNetwork::KernelArgs, when a NIC
};

// The launch spec for `vm` (runtime paths filled) booting `img`.
LaunchSpec BuildLaunchSpec(const VmRecord& vm, const Image& img, const BootDevices& dev);

// The running VMM of `vm` as its handles record it: the identity from
// handles, the sockets from the VM's directory (never from the process).
VmmProcess VmmProcessOf(const VmRecord& vm, const VmHandles& h);

// The drive ids BuildLaunchSpec gives: rootfs, overlay, work; with a
// dm-snapshot root (`dm_root`) rootfs, work.
std::vector<std::string> DriveIds(bool dm_root);

// A VM's cgroup (vmm/cgroup.h): named like its directory (the id's first 16
// hex digits), its memory limit the guest's memory plus what the VMM itself
// may need beyond it (docs/security.md "Resource limits": QEMU under TCG,
// 256 MiB guest, booted: 216 MiB peak RSS; beyond guest RAM, QEMU's heap
// and the TCG translation cache, bounded to kQemuTcgTbSizeMiB: QEMU's 1 GiB
// default got a 1 GiB docker guest's VMM OOM-killed at 1.5 GiB RSS).
// Firecracker documents < 5 MiB.
inline constexpr int64_t kQemuMemoryOverheadMiB = 512;
inline constexpr int64_t kFirecrackerMemoryOverheadMiB = 64;
// Threads (and processes) a VMM may have: QEMU's worker pool alone may
// reach 64, plus one thread per vCPU and a few of its own.
inline constexpr int64_t kVmmPidsMax = 256;
std::string CgroupName(const VmRecord& vm);
CgroupLimits CgroupLimitsFor(const VmSpec& spec);

}  // namespace banger
