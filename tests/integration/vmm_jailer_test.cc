// Drives the real jailer + firecracker pair through the backend (config
// jailer_bin): firecracker must run as the jail's user, chrooted in the VM
// directory's jail, answer its API through the VM's usual socket path, reach
// InstanceStart, be recorded as itself (not as the jailer), and leave no
// jail behind once stopped. Needs root, BANGER_JAILER_BIN and
// BANGER_FIRECRACKER_BIN (a matching pair; the jailer makes /dev/kvm inside
// the jail for the jail's user, so a host /dev/kvm of mode 0600 is fine).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "base/account.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/testing/proc_status.h"
#include "http/http.h"
#include "vmm/backend.h"
#include "vmm/firecracker/jailer.h"

namespace banger {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : "";
}

std::string TestGuestDir() {
  std::string env = Env("BANGER_TEST_GUEST_DIR");
  return !env.empty() ? env : std::string(BANGER_SOURCE_DIR) + "/build/test-guest";
}

using banger::testing::StatusField;

using banger::testing::RootDirOf;

class VmmJailerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    jailer_ = Env("BANGER_JAILER_BIN");
    fc_ = Env("BANGER_FIRECRACKER_BIN");
    if (jailer_.empty() || fc_.empty()) {
      GTEST_SKIP() << "set BANGER_JAILER_BIN and BANGER_FIRECRACKER_BIN (a jailer and firecracker of one "
                      "release) to run; skipping";
    }
    if (::geteuid() != 0) GTEST_SKIP() << "the jailer needs root; skipping";
    auto user = LookupUser("banger-vmm");
    if (!user.ok()) GTEST_SKIP() << "no banger-vmm user (scripts/install-deps.sh); skipping";
    user_ = *user;
    char tmpl[] = "/tmp/banger-vmmj-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }

  void TearDown() override {
    if (launched_.pid > 0) (void)backend_->Shutdown(launched_, milliseconds(0));
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string jailer_, fc_, dir_;
  UserAccount user_;
  std::unique_ptr<VmmBackend> backend_;
  VmmProcess launched_;
};

TEST_F(VmmJailerTest, FirecrackerRunsJailedAsTheVmmUserAndLeavesNoJail) {
  const std::string guest = TestGuestDir();
  ASSERT_TRUE(IsRegularFile(guest + "/vmlinux") && IsRegularFile(guest + "/initrd.img"))
      << "test guest missing in " << guest << ": run scripts/make-test-guest.sh";
  BackendOptions opts;
  opts.firecracker_bin = fc_;
  opts.jailer_bin = jailer_;
  opts.vmm_user = user_;
  backend_ = MakeFirecrackerBackend(opts, RealProcessOps());
  // The host's /dev/kvm may be closed to the vmm user: the jailer makes its own.
  auto available = backend_->CheckAvailable();
  ASSERT_TRUE(available.ok()) << available.error().message();

  const std::string vm_dir = dir_ + "/vm";
  ASSERT_TRUE(MakeDirs(vm_dir, 0700).ok());
  LaunchSpec s;
  s.vm_id = "0123456789abcdef";
  s.vm_name = "jailed-1";
  s.vcpu_count = 1;
  s.memory_mib = 128;
  // Copies: the jail gives its inputs to the vmm user's group (the shared
  // test guest stays as it is).
  s.kernel_path = dir_ + "/vmlinux";
  s.initrd_path = dir_ + "/initrd.img";
  std::filesystem::copy_file(guest + "/vmlinux", s.kernel_path);
  std::filesystem::copy_file(guest + "/initrd.img", s.initrd_path);
  s.kernel_cmdline = "console=ttyS0 reboot=k panic=1";
  s.vm_dir = vm_dir;
  s.control_sock_path = vm_dir + "/api.sock";
  s.vsock_path = vm_dir + "/v.sock";
  s.vsock_cid = 3;
  s.console_log_path = vm_dir + "/console.log";
  s.vmm_log_path = vm_dir + "/vmm.log";
  s.metrics_path = vm_dir + "/metrics.json";
  const std::string disk = vm_dir + "/work.ext4";
  { std::ofstream create(disk); }
  std::filesystem::resize_file(disk, 16 << 20);
  s.drives = {{"work", disk, false}};
  ProcIdentity recorded;
  s.on_spawn = [&](const ProcIdentity& who) {
    recorded = who;
    return OkStatus();
  };

  auto start = std::chrono::steady_clock::now();
  auto launched = backend_->Launch(s, seconds(10));
  ASSERT_TRUE(launched.ok()) << launched.error().message() << "\nvmm.log: " << TailFile(s.vmm_log_path, 2000);
  launched_ = *launched;
  std::cout << "jailed firecracker launch (jailer + configure + InstanceStart) took "
            << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start).count()
            << " ms\n";
  const pid_t pid = launched_.pid;
  const JailLayout jail = JailLayoutFor(s, std::filesystem::absolute(fc_).string());

  // Firecracker (the jailer exec'd it in the same pid) as the vmm user...
  const std::string uid = std::to_string(user_.uid);
  EXPECT_EQ(StatusField(pid, "Uid"), uid + "\t" + uid + "\t" + uid + "\t" + uid);
  EXPECT_EQ(StatusField(pid, "Name"), std::filesystem::path(fc_).filename().string().substr(0, 15));
  // ...with the jail's root as its "/"...
  EXPECT_EQ(RootDirOf(pid), jail.root);
  EXPECT_TRUE(PathExists(jail.root + "/dev/kvm"));
  // ...recorded as itself (the copy in the jail), the identity reconcile
  // compares a live process with.
  EXPECT_EQ(recorded, launched_.identity);
  EXPECT_EQ(recorded.uid, user_.uid);
  struct stat exe {};
  ASSERT_EQ(::stat(jail.exe.c_str(), &exe), 0);
  EXPECT_EQ(recorded.exe_ino, static_cast<uint64_t>(exe.st_ino));
  auto seen = RealProcessOps().Identify(pid);
  ASSERT_TRUE(seen.ok());
  EXPECT_TRUE(IdentityMatches(recorded, *seen));

  // The API answers through the VM's usual path, and the VM was started.
  auto state = backend_->QueryState(launched_);
  ASSERT_TRUE(state.ok()) << state.error().message();
  EXPECT_EQ(*state, "running");
  HttpRequest req;
  req.target = "/vm/config";
  auto cfg = UnixHttpCall(s.control_sock_path, req, seconds(5));
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  EXPECT_NE(cfg->body.find("\"kernel_image_path\":\"kernel\""), std::string::npos) << cfg->body;
  EXPECT_NE(cfg->body.find("\"path_on_host\":\"work.img\""), std::string::npos) << cfg->body;
  // What FC writes lands in the VM's own files.
  auto m = backend_->Metrics(launched_, s.metrics_path);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_TRUE(m->contains("utc_timestamp_ms"));

  // A second backend (a restarted daemon) still recognizes it.
  auto again = MakeFirecrackerBackend(opts, RealProcessOps());
  EXPECT_TRUE(IsSameProcess(RealProcessOps(), recorded));
  auto state2 = again->QueryState(launched_);
  ASSERT_TRUE(state2.ok()) << state2.error().message();

  ASSERT_TRUE(backend_->Shutdown(launched_, milliseconds(500)).ok());
  EXPECT_FALSE(IsSameProcess(RealProcessOps(), recorded));
  launched_ = {};
  // The daemon's teardown removes the jail (vm_runtime CleanupRuntime).
  ASSERT_TRUE(RemoveJail(vm_dir).ok());
  EXPECT_FALSE(PathExists(vm_dir + "/jail"));
  EXPECT_TRUE(IsRegularFile(disk));
  // The kernel the jail linked is now readable by the vmm user's group.
  struct stat k {};
  ASSERT_EQ(::stat(s.kernel_path.c_str(), &k), 0);
  EXPECT_EQ(k.st_gid, user_.gid);
  EXPECT_NE(k.st_mode & S_IRGRP, 0u);
}

TEST_F(VmmJailerTest, AFailedLaunchLeavesNoJailAndNoProcess) {
  BackendOptions opts;
  opts.firecracker_bin = fc_;
  opts.jailer_bin = jailer_;
  opts.vmm_user = user_;
  backend_ = MakeFirecrackerBackend(opts, RealProcessOps());
  const std::string vm_dir = dir_ + "/vm";
  ASSERT_TRUE(MakeDirs(vm_dir, 0700).ok());
  LaunchSpec s;
  s.vm_id = "fedcba9876543210";
  s.vm_name = "jailed-2";
  s.vm_dir = vm_dir;
  // Not an ELF kernel: the configuration fails inside the jail.
  s.kernel_path = vm_dir + "/not-a-kernel";
  std::ofstream(s.kernel_path) << "nope";
  s.control_sock_path = vm_dir + "/api.sock";
  s.console_log_path = vm_dir + "/console.log";
  pid_t spawned = 0;
  s.on_spawn = [&](const ProcIdentity& who) {
    spawned = who.pid;
    return OkStatus();
  };
  auto launched = backend_->Launch(s, seconds(10));
  ASSERT_FALSE(launched.ok());
  // FC 1.0 refuses it at InstanceStart, later ones at PUT /boot-source.
  EXPECT_NE(launched.error().message().find("configuring firecracker: PUT /"), std::string::npos)
      << launched.error().message();
  EXPECT_NE(launched.error().message().find("kernel"), std::string::npos) << launched.error().message();
  ASSERT_GT(spawned, 0);
  EXPECT_FALSE(RealProcessOps().Alive(spawned));
  EXPECT_FALSE(PathExists(vm_dir + "/jail"));
  EXPECT_FALSE(PathExists(s.control_sock_path));
}

}  // namespace
}  // namespace banger
