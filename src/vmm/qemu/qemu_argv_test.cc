#include "vmm/qemu/qemu_argv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace banger {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

LaunchSpec MinimalSpec() {
  LaunchSpec s;
  s.vm_name = "web-1";
  s.vcpu_count = 2;
  s.memory_mib = 512;
  s.kernel_path = "/img/vmlinuz";
  s.kernel_cmdline = "console=ttyS0 panic=1";
  s.control_sock_path = "/vm/qmp.sock";
  s.console_log_path = "/vm/console.log";
  return s;
}

// The value following `flag` each time it occurs.
std::vector<std::string> ValuesOf(const std::vector<std::string>& argv, const std::string& flag) {
  std::vector<std::string> out;
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == flag) out.push_back(argv[i + 1]);
  }
  return out;
}

TEST(QemuArgvTest, MinimalTcgCommandLine) {
  auto argv = BuildQemuArgv("/usr/bin/qemu-system-x86_64", QemuAccel::kTcg, MinimalSpec());
  ASSERT_TRUE(argv.ok()) << argv.error().message();
  EXPECT_THAT(
      *argv, ElementsAre("/usr/bin/qemu-system-x86_64", "-M", "microvm,acpi=on,pit=on,rtc=on", "-accel",
                         "tcg,tb-size=256", "-cpu", "max", "-m", "512", "-smp", "2", "-nodefaults",
                         "-no-user-config", "-display", "none", "-no-reboot", "-name", "web-1", "-kernel",
                         "/img/vmlinuz", "-append", "console=ttyS0 panic=1 tsc_early_khz=2400000 lpj=9600000",
                         "-chardev", "file,id=con0,path=/vm/console.log,append=on", "-serial", "chardev:con0",
                         "-qmp", "unix:/vm/qmp.sock,server=on,wait=off", "-sandbox",
                         "on,obsolete=deny,spawn=deny,resourcecontrol=deny"));
}

TEST(QemuArgvTest, DiskLimitsThrottleEveryDrive) {
  LaunchSpec s = MinimalSpec();
  s.drives = {{"rootfs", "/img/root.ext4", true}, {"work", "/vm/work.ext4", false}};
  s.limits = RateLimits{10485760, 400, 0};
  auto argv = BuildQemuArgv("qemu", QemuAccel::kTcg, s);
  ASSERT_TRUE(argv.ok()) << argv.error().message();
  EXPECT_THAT(ValuesOf(*argv, "-drive"),
              ElementsAre("id=rootfs,file=/img/root.ext4,format=raw,if=none,readonly=on,"
                          "throttling.bps-total=10485760,throttling.iops-total=400",
                          "id=work,file=/vm/work.ext4,format=raw,if=none,file.auto-read-only=off,"
                          "throttling.bps-total=10485760,throttling.iops-total=400"));
}

TEST(QemuArgvTest, NetworkLimitIsRefused) {
  LaunchSpec s = MinimalSpec();
  s.limits.net_bytes_per_sec = 1000;
  auto argv = BuildQemuArgv("qemu", QemuAccel::kTcg, s);
  ASSERT_FALSE(argv.ok());
  EXPECT_THAT(argv.error().message(), HasSubstr("--net-bw is not supported by the qemu backend"));
}

TEST(QemuArgvTest, KvmUsesHostCpuAndNoCalibrationHints) {
  auto argv = BuildQemuArgv("qemu", QemuAccel::kKvm, MinimalSpec());
  ASSERT_TRUE(argv.ok()) << argv.error().message();
  EXPECT_THAT(ValuesOf(*argv, "-M"), ElementsAre("microvm,acpi=on,x-option-roms=off,rtc=on"));
  EXPECT_THAT(*argv, testing::Contains("-enable-kvm"));
  EXPECT_THAT(ValuesOf(*argv, "-cpu"), ElementsAre("host"));
  EXPECT_THAT(ValuesOf(*argv, "-append"), ElementsAre("console=ttyS0 panic=1"));
}

TEST(QemuArgvTest, DrivesNicAgentAndInitrd) {
  LaunchSpec s = MinimalSpec();
  s.initrd_path = "/img/initrd.img";
  s.drives = {{"rootfs", "/img/root.ext4", true}, {"work", "/vm/work.ext4", false}};
  s.tap_device = "tap3";
  s.guest_mac = "06:00:ac:10:00:02";
  s.agent_sock_path = "/vm/agent.sock";
  auto argv = BuildQemuArgv("qemu", QemuAccel::kTcg, s);
  ASSERT_TRUE(argv.ok()) << argv.error().message();
  EXPECT_THAT(ValuesOf(*argv, "-initrd"), ElementsAre("/img/initrd.img"));
  EXPECT_THAT(ValuesOf(*argv, "-drive"),
              ElementsAre("id=rootfs,file=/img/root.ext4,format=raw,if=none,readonly=on",
                          "id=work,file=/vm/work.ext4,format=raw,if=none,file.auto-read-only=off"));
  EXPECT_THAT(ValuesOf(*argv, "-netdev"), ElementsAre("tap,id=n0,ifname=tap3,script=no,downscript=no"));
  EXPECT_THAT(ValuesOf(*argv, "-device"),
              ElementsAre("virtio-blk-device,drive=rootfs", "virtio-blk-device,drive=work",
                          "virtio-net-device,netdev=n0,mac=06:00:ac:10:00:02", "virtio-serial-device",
                          "virtserialport,chardev=ag,name=banger.agent"));
  EXPECT_THAT(ValuesOf(*argv, "-chardev"),
              ElementsAre("file,id=con0,path=/vm/console.log,append=on",
                          "socket,id=ag,path=/vm/agent.sock,server=on,wait=off"));
}

TEST(QemuArgvTest, NoAgentMeansNoVirtioSerial) {
  auto argv = BuildQemuArgv("qemu", QemuAccel::kTcg, MinimalSpec());
  ASSERT_TRUE(argv.ok());
  EXPECT_THAT(*argv, Not(testing::Contains("virtio-serial-device")));
}

TEST(QemuArgvTest, AlwaysSandboxedAndRunsAsTheVmmUserWhenGiven) {
  auto plain = BuildQemuArgv("qemu", QemuAccel::kTcg, MinimalSpec());
  ASSERT_TRUE(plain.ok());
  EXPECT_THAT(ValuesOf(*plain, "-sandbox"), ElementsAre("on,obsolete=deny,spawn=deny,resourcecontrol=deny"));
  EXPECT_THAT(ValuesOf(*plain, "-runas"), testing::IsEmpty());
  auto dropped = BuildQemuArgv("qemu", QemuAccel::kKvm, MinimalSpec(), "banger-vmm");
  ASSERT_TRUE(dropped.ok());
  EXPECT_THAT(ValuesOf(*dropped, "-runas"), ElementsAre("banger-vmm"));
  EXPECT_THAT(ValuesOf(*dropped, "-sandbox"),
              ElementsAre("on,obsolete=deny,spawn=deny,resourcecontrol=deny"));
  // elevateprivileges=deny with -runas kills QEMU (SIGSYS) at the drop.
  EXPECT_THAT(ValuesOf(*dropped, "-sandbox").front(), Not(HasSubstr("elevateprivileges")));
  EXPECT_FALSE(BuildQemuArgv("qemu", QemuAccel::kKvm, MinimalSpec(), "a,b").ok());
}

TEST(QemuArgvTest, CommaInAnyPathIsRefused) {
  std::vector<std::pair<std::string, void (*)(LaunchSpec&)>> cases = {
      {"kernel path", [](LaunchSpec& s) { s.kernel_path = "/img/a,b"; }},
      {"initrd path", [](LaunchSpec& s) { s.initrd_path = "/img/a,b"; }},
      {"console log path", [](LaunchSpec& s) { s.console_log_path = "/vm/a,b"; }},
      {"QMP socket path", [](LaunchSpec& s) { s.control_sock_path = "/vm/a,b"; }},
      {"agent socket path", [](LaunchSpec& s) { s.agent_sock_path = "/vm/a,b"; }},
      {"drive path",
       [](LaunchSpec& s) {
         s.drives = {{"work", "/vm/w,ork.ext4", false}};
       }},
  };
  for (const auto& [what, mutate] : cases) {
    LaunchSpec s = MinimalSpec();
    mutate(s);
    auto argv = BuildQemuArgv("qemu", QemuAccel::kTcg, s);
    ASSERT_FALSE(argv.ok()) << what;
    EXPECT_EQ(argv.error().kind(), ErrorKind::kInvalidArgument);
    EXPECT_THAT(argv.error().message(), HasSubstr(what + " must not contain ','"));
  }
}

TEST(QemuArgvTest, MissingKernelIsRefused) {
  LaunchSpec s = MinimalSpec();
  s.kernel_path.clear();
  EXPECT_FALSE(BuildQemuArgv("qemu", QemuAccel::kTcg, s).ok());
}

TEST(QemuArgvTest, ParseAccel) {
  EXPECT_EQ(*ParseQemuAccel("kvm"), QemuAccel::kKvm);
  EXPECT_EQ(*ParseQemuAccel("tcg"), QemuAccel::kTcg);
  EXPECT_FALSE(ParseQemuAccel("hvf").ok());
}

TEST(QemuArgvTest, EmptyCmdlineGetsOnlyHints) {
  EXPECT_EQ(QemuKernelCmdline(QemuAccel::kTcg, ""), "tsc_early_khz=2400000 lpj=9600000");
  EXPECT_EQ(QemuKernelCmdline(QemuAccel::kKvm, ""), "");
}

}  // namespace
}  // namespace banger

namespace banger {
namespace {

TEST(QemuArgvShareTest, HostFoldersBecomeVirtio9pDevices) {
  LaunchSpec s = MinimalSpec();
  s.shares = {{"banger0", "/srv/data", true}, {"banger1", "/home/u/a,b", false}};
  auto argv = BuildQemuArgv("qemu", QemuAccel::kTcg, s, "banger-vmm");
  ASSERT_TRUE(argv.ok()) << argv.error().message();
  EXPECT_THAT(ValuesOf(*argv, "-fsdev"),
              ElementsAre("local,id=fs0,path=/srv/data,security_model=none,readonly=on",
                          "local,id=fs1,path=/home/u/a,,b,security_model=none"));
  EXPECT_THAT(ValuesOf(*argv, "-device"), ElementsAre("virtio-9p-device,fsdev=fs0,mount_tag=banger0",
                                                      "virtio-9p-device,fsdev=fs1,mount_tag=banger1"));
  // Still sandboxed and dropping to the VMM user.
  EXPECT_THAT(ValuesOf(*argv, "-sandbox"), ElementsAre(kQemuSandbox));
  EXPECT_THAT(ValuesOf(*argv, "-runas"), ElementsAre("banger-vmm"));
}

TEST(QemuArgvShareTest, NoSharesNoFsdev) {
  auto argv = BuildQemuArgv("qemu", QemuAccel::kTcg, MinimalSpec());
  ASSERT_TRUE(argv.ok());
  EXPECT_THAT(*argv, Not(testing::Contains("-fsdev")));
}

TEST(QemuArgvShareTest, RelativePathOrOddTagRefused) {
  LaunchSpec s = MinimalSpec();
  s.shares = {{"banger0", "srv", false}};
  auto rel = BuildQemuArgv("qemu", QemuAccel::kTcg, s);
  ASSERT_FALSE(rel.ok());
  EXPECT_THAT(rel.error().message(), HasSubstr("must be absolute"));
  s.shares = {{"b,x", "/srv", false}};
  auto tag = BuildQemuArgv("qemu", QemuAccel::kTcg, s);
  ASSERT_FALSE(tag.ok());
  EXPECT_THAT(tag.error().message(), HasSubstr("bad 9p mount tag"));
}

}  // namespace
}  // namespace banger
