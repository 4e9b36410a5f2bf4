#include "daemon/launch_spec.h"

#include "daemon/handle_cache.h"
#include "daemon/vm_mounts.h"
#include "model/mounts.h"
#include "net/address.h"

namespace banger {

uint32_t CidFor(const std::string& vm_id) {
  uint32_t v = static_cast<uint32_t>(std::stoul(vm_id.substr(0, 7), nullptr, 16));
  return 3 + v % 0x0FFFFFF0;
}

void FillRuntimePaths(const HomeLayout& home, VmRecord& vm) {
  std::string dir = home.VmDir(vm.id);
  vm.runtime.vm_dir = dir;
  vm.runtime.api_sock_path = dir + "/" + kControlSockName;
  vm.runtime.log_path = dir + "/" + kConsoleLogName;
  vm.runtime.system_overlay_path = dir + "/" + kOverlayDiskName;
  vm.runtime.work_disk_path = dir + "/" + kWorkDiskName;
  if (vm.spec.backend == BackendKind::kFirecracker) {
    vm.runtime.vsock_path = dir + "/" + kVsockSockName;
    vm.runtime.vsock_cid = CidFor(vm.id);
    vm.runtime.metrics_path = dir + "/" + kMetricsName;
  } else {
    vm.runtime.vsock_path.clear();
    vm.runtime.vsock_cid = 0;
    vm.runtime.metrics_path.clear();
  }
}

LaunchSpec BuildLaunchSpec(const VmRecord& vm, const Image& img, const BootDevices& dev) {
  LaunchSpec ls;
  ls.vm_id = vm.id;
  ls.vm_name = vm.name;
  ls.vcpu_count = vm.spec.vcpu_count;
  ls.memory_mib = vm.spec.memory_mib;
  ls.kernel_path = img.kernel_path;
  ls.initrd_path = img.initrd_path;
  // The contract with the guest init (guest/init/init.sh).
  ls.kernel_cmdline = "console=ttyS0 reboot=k panic=1 banger.hostname=" + vm.name + " banger.vm_id=" + vm.id +
                      " banger.agent=" + (vm.spec.backend == BackendKind::kFirecracker ? "vsock" : "serial");
  if (!dev.root_dev.empty()) {
    // The snapshot is the VM's private root: the guest mounts it read-write.
    ls.kernel_cmdline += " banger.cow=dm";
    ls.drives = {{"rootfs", dev.root_dev, false},
                 {"work", vm.runtime.work_disk_path, false}};  // DriveIds(true)
  } else {
    ls.drives = {{"rootfs", img.rootfs_path, true},
                 {"overlay", vm.runtime.system_overlay_path, false},
                 {"work", vm.runtime.work_disk_path, false}};  // DriveIds(false)
  }
  ls.limits = vm.spec.limits;
  // Host folders: exported by the VMM, mounted by the guest init (model/mounts.h).
  ls.shares = SharesOf(vm.spec.mounts);
  ls.kernel_cmdline += MountKernelArgs(vm.spec.mounts);
  if (!dev.tap_device.empty()) {
    ls.tap_device = dev.tap_device;
    ls.guest_mac = MacForIp(vm.runtime.guest_ip);
    ls.kernel_cmdline += dev.net_kernel_args;
  }
  ls.vm_dir = vm.runtime.vm_dir;
  ls.control_sock_path = vm.runtime.api_sock_path;
  ls.vsock_path = vm.runtime.vsock_path;
  ls.vsock_cid = vm.runtime.vsock_cid;
  if (vm.spec.backend == BackendKind::kQemu) ls.agent_sock_path = vm.runtime.vm_dir + "/" + kAgentSockName;
  ls.console_log_path = vm.runtime.log_path;
  ls.vmm_log_path = vm.runtime.vm_dir + "/" + kVmmLogName;
  ls.metrics_path = vm.runtime.metrics_path;
  return ls;
}

VmmProcess VmmProcessOf(const VmRecord& vm, const VmHandles& h) {
  VmmProcess p;
  p.pid = h.pid;
  p.identity = VmmIdentityOf(h);
  p.control_sock_path = vm.runtime.api_sock_path;
  if (vm.spec.backend == BackendKind::kQemu && !vm.runtime.vm_dir.empty()) {
    p.agent_sock_path = vm.runtime.vm_dir + "/" + kAgentSockName;
  }
  return p;
}

std::vector<std::string> DriveIds(bool dm_root) {
  if (dm_root) return {"rootfs", "work"};
  return {"rootfs", "overlay", "work"};
}

std::string CgroupName(const VmRecord& vm) { return vm.id.substr(0, 16); }

CgroupLimits CgroupLimitsFor(const VmSpec& spec) {
  int64_t overhead =
      spec.backend == BackendKind::kFirecracker ? kFirecrackerMemoryOverheadMiB : kQemuMemoryOverheadMiB;
  return CgroupLimits{(spec.memory_mib + overhead) * kMiB, kVmmPidsMax};
}

}  // namespace banger
