// The launch spec as a pure function: the kernel command line contract with
// guest/init/init.sh, the disk order per copy-on-write mode, the agent
// transport per backend, and the runtime layout.
#include "daemon/launch_spec.h"

#include <gtest/gtest.h>

#include "net/address.h"

namespace banger {
namespace {

VmRecord SampleVm(BackendKind backend) {
  VmRecord vm;
  vm.id = "0123456789abcdef0123456789abcdef";
  vm.name = "web";
  vm.spec.backend = backend;
  vm.spec.vcpu_count = 3;
  vm.spec.memory_mib = 1024;
  vm.runtime.guest_ip = "172.16.0.2";
  FillRuntimePaths(HomeLayout{"/h"}, vm);
  return vm;
}

Image SampleImage() {
  Image img;
  img.kernel_path = "/img/vmlinux";
  img.initrd_path = "/img/initrd.img";
  img.rootfs_path = "/img/rootfs.ext4";
  return img;
}

TEST(LaunchSpecTest, RuntimePathsAreDeterministic) {
  VmRecord q = SampleVm(BackendKind::kQemu);
  EXPECT_EQ(q.runtime.vm_dir, "/h/vms/0123456789abcdef");
  EXPECT_EQ(q.runtime.api_sock_path, "/h/vms/0123456789abcdef/api.sock");
  EXPECT_EQ(q.runtime.log_path, "/h/vms/0123456789abcdef/console.log");
  EXPECT_EQ(q.runtime.system_overlay_path, "/h/vms/0123456789abcdef/system-overlay.ext4");
  EXPECT_EQ(q.runtime.work_disk_path, "/h/vms/0123456789abcdef/work.ext4");
  EXPECT_TRUE(q.runtime.vsock_path.empty());
  EXPECT_EQ(q.runtime.vsock_cid, 0u);
  VmRecord f = SampleVm(BackendKind::kFirecracker);
  EXPECT_EQ(f.runtime.vsock_path, "/h/vms/0123456789abcdef/v.sock");
  EXPECT_EQ(f.runtime.metrics_path, "/h/vms/0123456789abcdef/metrics.json");
  EXPECT_EQ(f.runtime.vsock_cid, CidFor(f.id));
  EXPECT_GE(CidFor("0000000000"), 3u);
}

TEST(LaunchSpecTest, OverlayLayoutOverQemuSerial) {
  VmRecord vm = SampleVm(BackendKind::kQemu);
  LaunchSpec ls = BuildLaunchSpec(vm, SampleImage(), BootDevices{});
  EXPECT_EQ(
      ls.kernel_cmdline,
      "console=ttyS0 reboot=k panic=1 banger.hostname=web banger.vm_id=0123456789abcdef0123456789abcdef "
      "banger.agent=serial");
  ASSERT_EQ(ls.drives.size(), 3u);
  EXPECT_EQ(ls.drives[0].path, "/img/rootfs.ext4");
  EXPECT_TRUE(ls.drives[0].read_only);
  EXPECT_EQ(ls.drives[1].path, vm.runtime.system_overlay_path);
  EXPECT_FALSE(ls.drives[1].read_only);
  EXPECT_EQ(ls.drives[2].path, vm.runtime.work_disk_path);
  EXPECT_EQ(ls.vcpu_count, 3);
  EXPECT_EQ(ls.memory_mib, 1024);
  EXPECT_EQ(ls.kernel_path, "/img/vmlinux");
  EXPECT_EQ(ls.initrd_path, "/img/initrd.img");
  EXPECT_EQ(ls.agent_sock_path, vm.runtime.vm_dir + "/agent.sock");
  EXPECT_EQ(ls.control_sock_path, vm.runtime.api_sock_path);
  EXPECT_EQ(ls.console_log_path, vm.runtime.log_path);
  EXPECT_EQ(ls.vmm_log_path, vm.runtime.vm_dir + "/vmm.log");
  EXPECT_TRUE(ls.tap_device.empty());
  EXPECT_TRUE(ls.guest_mac.empty());
}

TEST(LaunchSpecTest, DmSnapshotBootsFromThePrivateRootOverFirecrackerVsock) {
  VmRecord vm = SampleVm(BackendKind::kFirecracker);
  LaunchSpec ls =
      BuildLaunchSpec(vm, SampleImage(), BootDevices{"/dev/mapper/banger-0123456789abcdef", "", ""});
  EXPECT_NE(ls.kernel_cmdline.find(" banger.agent=vsock banger.cow=dm"), std::string::npos)
      << ls.kernel_cmdline;
  ASSERT_EQ(ls.drives.size(), 2u);
  EXPECT_EQ(ls.drives[0].path, "/dev/mapper/banger-0123456789abcdef");
  EXPECT_FALSE(ls.drives[0].read_only);
  EXPECT_EQ(ls.drives[1].path, vm.runtime.work_disk_path);
  EXPECT_TRUE(ls.agent_sock_path.empty());
  EXPECT_EQ(ls.vsock_path, vm.runtime.vsock_path);
  EXPECT_EQ(ls.vsock_cid, vm.runtime.vsock_cid);
  EXPECT_EQ(ls.metrics_path, vm.runtime.metrics_path);
}

TEST(LaunchSpecTest, NicAddsTapMacAndTheInitsNetworkArguments) {
  VmRecord vm = SampleVm(BackendKind::kQemu);
  LaunchSpec ls = BuildLaunchSpec(vm, SampleImage(),
                                  BootDevices{"", "tap3", " banger.ip=172.16.0.2/24 banger.gw=172.16.0.1"});
  EXPECT_EQ(ls.tap_device, "tap3");
  EXPECT_EQ(ls.guest_mac, MacForIp("172.16.0.2"));
  EXPECT_TRUE(ls.kernel_cmdline.ends_with("banger.agent=serial banger.ip=172.16.0.2/24 banger.gw=172.16.0.1"))
      << ls.kernel_cmdline;
}

}  // namespace
}  // namespace banger
