// Builds a minimal image from Debian's real kernel package (needs the apt
// registry) and boots it under QEMU microvm with TCG, checking the guest init
// contract: the overlay root is assembled, "banger-init: ready" is printed,
// the image's busybox init takes over and starts dropbear, and QEMU's
// power button shuts the guest down cleanly.
//
// Environment:
//   BANGER_IMAGE_CACHE  keep the kernel .deb here between runs (warm builds)
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "base/fs.h"
#include "base/process.h"
#include "image/builder.h"
#include "image/vmlinux.h"
#include "vmm/backend.h"
#ifdef BANGER_TEST_WITH_AGENT
#include "agent/client.h"
#endif

namespace banger {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kTestKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBangerImageBuildTestKeyNotARealOne0000 test";

int64_t MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start).count();
}

class ImageBuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Short: QEMU's socket paths must fit in sockaddr_un.
    char tmpl[] = "/tmp/banger-imgb-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(MakeDirs(dir_ + "/image").ok());
    env_.artifact_dir = dir_ + "/image";
    env_.agent_binary = BANGER_AGENT_BIN;
    env_.ssh_public_key = kTestKey;
    if (const char* cache = std::getenv("BANGER_IMAGE_CACHE"); cache && *cache) env_.kernel_cache_dir = cache;
  }

  void TearDown() override {
    // A failed assertion must not leave a guest running.
    if (backend_ && launched_.pid > 0) (void)backend_->Shutdown(launched_, milliseconds(0));
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  ImageBuildEnv env_;
  std::unique_ptr<VmmBackend> backend_;
  VmmProcess launched_;
};

TEST_F(ImageBuildTest, MinimalImageBuildsAndBootsToItsInit) {
  if (::geteuid() != 0) GTEST_SKIP() << "building images needs root";
  ImageBuildRequest req;
  req.name = "it-minimal";
  std::vector<std::string> stages;
  std::atomic<bool> cancel{false};
  auto build_start = std::chrono::steady_clock::now();
  auto built = BuildImage(
      req, env_, [&stages](const std::string& s) { stages.push_back(s); }, cancel);
  const int64_t build_ms = MillisSince(build_start);
  ASSERT_TRUE(built.ok()) << built.error().message();
  std::cout << "minimal image built in " << build_ms << " ms ("
            << (env_.kernel_cache_dir.empty() ? "no kernel cache" : "kernel cache " + env_.kernel_cache_dir)
            << ")\n";
  for (const auto& s : stages) std::cout << "  stage: " << s << "\n";

  ASSERT_GE(stages.size(), 5u);
  EXPECT_EQ(stages[0], "fetching kernel " + built->kernel_version);
  EXPECT_EQ(stages[1], "resolving modules");
  EXPECT_THAT(stages[2], HasSubstr("writing initramfs ("));
  EXPECT_EQ(stages[3], "building rootfs (minimal, 512M)");
  EXPECT_EQ(stages[4], "writing work seed");
  EXPECT_EQ(built->build_size, "512M");
  auto head = ReadFile(built->kernel_path);
  ASSERT_TRUE(head.ok());
  EXPECT_TRUE(IsElf(*head));
  EXPECT_TRUE(IsRegularFile(built->modules_dir + "/lib/modules/" + built->kernel_version + "/modules.dep"));
  EXPECT_FALSE(PathExists(env_.artifact_dir + "/.kernel")) << "scratch space is removed";
  EXPECT_FALSE(PathExists(env_.artifact_dir + "/.rootfs"));
  auto seed_key = RunChecked({"debugfs", "-R", "cat /.ssh/authorized_keys", built->work_seed_path});
  ASSERT_TRUE(seed_key.ok()) << seed_key.error().message();
  EXPECT_EQ(seed_key->out, std::string(kTestKey) + "\n");
  auto seed_root = RunChecked({"debugfs", "-R", "stat /", built->work_seed_path});
  ASSERT_TRUE(seed_root.ok());
  EXPECT_THAT(seed_root->out, HasSubstr("Mode:  0700")) << "root's home is private";

  // Per-VM disks, as the daemon makes them: a fresh overlay and a copy of
  // the work seed.
  const std::string overlay = dir_ + "/overlay.ext4";
  { std::ofstream create(overlay); }
  std::filesystem::resize_file(overlay, 256 << 20);
  auto mkfs = RunChecked({"mkfs.ext4", "-q", "-F", "-L", "banger-overlay", overlay});
  ASSERT_TRUE(mkfs.ok()) << mkfs.error().message();
  const std::string work = dir_ + "/work.ext4";
  std::filesystem::copy_file(built->work_seed_path, work);

  BackendOptions opts;
  opts.qemu_accel = "tcg";
  backend_ = MakeQemuBackend(opts, RealProcessOps());
  auto available = backend_->CheckAvailable();
  ASSERT_TRUE(available.ok()) << available.error().message();
  LaunchSpec spec;
  spec.vm_id = "0123456789abcdef";
  spec.vm_name = "it-minimal";
  spec.vcpu_count = 1;
  spec.memory_mib = 256;
  spec.kernel_path = built->kernel_path;
  spec.initrd_path = built->initrd_path;
  spec.kernel_cmdline =
      "console=ttyS0 reboot=k panic=1 banger.hostname=it-minimal banger.vm_id=0123456789abcdef "
      "banger.agent=serial";
  spec.drives = {{"rootfs", built->rootfs_path, true}, {"overlay", overlay, false}, {"work", work, false}};
  spec.vm_dir = dir_;
  spec.control_sock_path = dir_ + "/qmp.sock";
  spec.agent_sock_path = dir_ + "/agent.sock";
  spec.console_log_path = dir_ + "/console.log";
  spec.vmm_log_path = dir_ + "/qemu.log";

  auto launch_start = std::chrono::steady_clock::now();
  auto launched = backend_->Launch(spec, seconds(30));
  ASSERT_TRUE(launched.ok()) << launched.error().message();
  launched_ = *launched;

  // TCG reaches the ready line in seconds; the deadlines leave room for a
  // loaded machine. Dropbear's first line shows busybox init ran the
  // image's inittab.
  std::string console;
  int64_t ready_ms = -1;
  auto deadline = launch_start + seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    auto text = ReadFile(spec.console_log_path);
    console = text.ok() ? *text : "";
    if (ready_ms < 0 && console.find("banger-init: ready") != std::string::npos)
      ready_ms = MillisSince(launch_start);
    if (console.find("banger-init: error") != std::string::npos) break;
    if (console.find("Not backgrounding") != std::string::npos) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  const int64_t dropbear_ms = MillisSince(launch_start);
  const std::string console_tail = TailFile(spec.console_log_path, 3000);
  EXPECT_THAT(console, Not(HasSubstr("banger-init: error"))) << console_tail;
  ASSERT_THAT(console, HasSubstr("banger-init: ready")) << console_tail << "\nqemu log:\n"
                                                        << TailFile(spec.vmm_log_path, 2048);
  EXPECT_THAT(console, HasSubstr("banger-init: vm 0123456789abcdef (it-minimal)"));
  EXPECT_THAT(console, HasSubstr("Not backgrounding")) << console_tail;
  std::cout << "launch to \"banger-init: ready\": " << ready_ms << " ms; to dropbear running: " << dropbear_ms
            << " ms\n";

#ifdef BANGER_TEST_WITH_AGENT
  // The agent the init started answers on the virtio-serial port, from
  // inside the assembled root.
  {
    auto fd = ConnectAgentUnix(spec.agent_sock_path, seconds(10));
    ASSERT_TRUE(fd.ok()) << fd.error().message();
    auto conn = AgentConn::Handshake(std::move(*fd), seconds(30));
    ASSERT_TRUE(conn.ok()) << conn.error().message();
    EXPECT_EQ((*conn)->info().hostname, "it-minimal");
    ExecRequest req;
    req.argv = {"cat", "/proc/mounts"};
    auto ch = (*conn)->Exec(req);
    ASSERT_TRUE(ch.ok()) << ch.error().message();
    std::string mounts;
    for (;;) {
      auto ev = (*ch)->Next();
      ASSERT_TRUE(ev.ok()) << ev.error().message();
      if (ev->kind == ExecEvent::kExit) {
        EXPECT_EQ(ev->exit.ShellCode(), 0);
        break;
      }
      if (ev->kind == ExecEvent::kStdout) mounts += ev->data;
    }
    EXPECT_THAT(mounts, HasSubstr("overlay / overlay rw"));
    EXPECT_THAT(mounts, HasSubstr("/dev/vdc /root ext4 rw"));
  }
#endif

  // system_powerdown -> ACPI power button -> acpid -> poweroff: busybox init
  // unmounts and syncs, so the guest's writes are on the disks afterwards.
  auto stop_start = std::chrono::steady_clock::now();
  auto stopped = backend_->Shutdown(launched_, seconds(20));
  ASSERT_TRUE(stopped.ok()) << stopped.error().message();
  launched_ = {};
  std::cout << "graceful shutdown took " << MillisSince(stop_start) << " ms\n";
  auto final_console = ReadFile(spec.console_log_path);
  ASSERT_TRUE(final_console.ok());
  EXPECT_THAT(*final_console, HasSubstr("Requesting system poweroff"))
      << TailFile(spec.console_log_path, 3000);

  // The VM's changes landed in its overlay, not in the shared image.
  auto hostname = RunChecked({"debugfs", "-R", "cat /upper/etc/hostname", overlay});
  ASSERT_TRUE(hostname.ok()) << hostname.error().message();
  EXPECT_EQ(hostname->out, "it-minimal\n");
  auto image_hostname = RunChecked({"debugfs", "-R", "cat /etc/hostname", built->rootfs_path});
  ASSERT_TRUE(image_hostname.ok());
  EXPECT_EQ(image_hostname->out, "banger\n");
}

// Without a way to download the kernel, the error names the package and
// quotes apt. A stand-in apt-get that fails like an offline one does.
TEST_F(ImageBuildTest, FailedKernelDownloadNamesThePackageAndApt) {
  if (::geteuid() != 0) GTEST_SKIP() << "building images needs root";
  const std::string bin = dir_ + "/bin";
  ASSERT_TRUE(MakeDirs(bin).ok());
  ASSERT_TRUE(WriteFileAtomic(bin + "/apt-get",
                              "#!/bin/sh\n"
                              "echo \"E: Failed to fetch http://deb.example/pool/k.deb  "
                              "Temporary failure resolving 'deb.example'\" >&2\n"
                              "exit 100\n",
                              0755)
                  .ok());
  const std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", (bin + ":" + old_path).c_str(), 1);
  std::atomic<bool> cancel{false};
  env_.kernel_cache_dir.clear();
  auto built = BuildImage(
      ImageBuildRequest{}, env_, [](const std::string&) {}, cancel);
  ::setenv("PATH", old_path.c_str(), 1);
  ASSERT_FALSE(built.ok());
  EXPECT_THAT(built.error().message(), HasSubstr("fetching kernel: fetching kernel package linux-image-"));
  EXPECT_THAT(built.error().message(), HasSubstr("Temporary failure resolving 'deb.example'"));
}

TEST_F(ImageBuildTest, CancelledBuildSaysInterrupted) {
  if (::geteuid() != 0) GTEST_SKIP() << "building images needs root";
  std::atomic<bool> cancel{false};
  // Cancel as soon as the kernel stage starts: the build stops at the next
  // check instead of building the rest.
  auto built = BuildImage(
      ImageBuildRequest{}, env_, [&cancel](const std::string&) { cancel = true; }, cancel);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.error().message(), "interrupted");
  EXPECT_FALSE(PathExists(env_.artifact_dir + "/initrd.img"));
}

}  // namespace
}  // namespace banger
