// Snapshots to disk through both real VMMs: QEMU microvm under TCG saves a
// booted test guest (migration stream through an fd, no shell), a new QEMU
// continues it; Firecracker (BANGER_FIRECRACKER_BIN, API level: the guest
// cannot run on nested KVM here) creates and loads a full snapshot.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "base/account.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/unique_fd.h"
#include "vmm/backend.h"

namespace banger {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

std::string TestGuestDir() {
  const char* env = std::getenv("BANGER_TEST_GUEST_DIR");
  return env && *env ? env : std::string(BANGER_SOURCE_DIR) + "/build/test-guest";
}

int64_t Ms(Clock::duration d) { return std::chrono::duration_cast<milliseconds>(d).count(); }

int64_t SizeOf(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

class VmmSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/banger-vmms-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (auto& p : running_) (void)backend_->Shutdown(p, milliseconds(0));
    std::filesystem::remove_all(dir_);
  }

  LaunchSpec Spec(const std::string& guest, const std::string& kernel, const std::string& sock) {
    LaunchSpec s;
    s.vm_id = "0123456789abcdef";
    s.vm_name = "vmm-snapshot-test";
    s.vcpu_count = 1;
    s.memory_mib = 256;
    s.kernel_path = guest + "/" + kernel;
    s.initrd_path = guest + "/initrd.img";
    s.kernel_cmdline = "console=ttyS0 reboot=k panic=1";
    s.vm_dir = dir_;
    s.control_sock_path = dir_ + "/" + sock;
    s.console_log_path = dir_ + "/console.log";
    s.vmm_log_path = dir_ + "/vmm.log";
    const std::string disk = dir_ + "/work.img";
    { std::ofstream create(disk); }
    std::filesystem::resize_file(disk, 16 << 20);
    s.drives = {{"work", disk, false}};
    return s;
  }

  std::string dir_;
  std::unique_ptr<VmmBackend> backend_;
  std::vector<VmmProcess> running_;
};

bool WaitForConsole(const std::string& path, const std::string& needle, seconds budget) {
  auto end = Clock::now() + budget;
  while (Clock::now() < end) {
    auto text = ReadFile(path);
    if (text.ok() && text->find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(milliseconds(100));
  }
  return false;
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

class VmmSnapshotQemuTest : public VmmSnapshotTest, public ::testing::WithParamInterface<bool> {};

// Param: QEMU drops to an unprivileged user (-runas), as under a root daemon.
TEST_P(VmmSnapshotQemuTest, QemuSavesAndANewQemuContinuesTheGuest) {
  const std::string guest = TestGuestDir();
  ASSERT_TRUE(IsRegularFile(guest + "/vmlinuz")) << "test guest missing in " << guest;
  BackendOptions opts;
  opts.qemu_accel = "tcg";
  if (GetParam()) {
    auto user = LookupUser("nobody");
    if (::geteuid() != 0 || !user.ok()) GTEST_SKIP() << "needs root and the user nobody";
    opts.vmm_user = *user;
  }
  backend_ = MakeQemuBackend(opts, RealProcessOps());
  LaunchSpec spec = Spec(guest, "vmlinuz", "qmp.sock");
  spec.agent_sock_path = dir_ + "/agent.sock";

  auto boot_start = Clock::now();
  auto vm = backend_->Launch(spec, seconds(30));
  ASSERT_TRUE(vm.ok()) << vm.error().message();
  running_.push_back(*vm);
  ASSERT_TRUE(WaitForConsole(spec.console_log_path, "banger-test-guest: init ready", seconds(90)));
  const int64_t cold_ms = Ms(Clock::now() - boot_start);

  SnapshotPaths snap{dir_ + "/vmstate", ""};
  auto save_start = Clock::now();
  auto saved = backend_->SaveSnapshot(*vm, snap, seconds(60));
  ASSERT_TRUE(saved.ok()) << saved.error().message();
  const int64_t save_ms = Ms(Clock::now() - save_start);
  EXPECT_EQ(*backend_->QueryState(*vm), "postmigrate") << "paused after the save";
  // Zero pages are not stored: far less than the 256 MiB of guest memory.
  const int64_t bytes = SizeOf(snap.state_path);
  EXPECT_GT(bytes, 1 << 20);
  EXPECT_LT(bytes, 256LL << 20);
  // A second save to the same file is refused: nothing is overwritten.
  EXPECT_FALSE(backend_->SaveSnapshot(*vm, snap, seconds(5)).ok());

  // The source continues after the save.
  ASSERT_TRUE(backend_->Resume(*vm).ok());
  EXPECT_EQ(*backend_->QueryState(*vm), "running");
  ASSERT_TRUE(backend_->Shutdown(*vm, milliseconds(0)).ok());
  running_.clear();

  const std::string before = *ReadFile(spec.console_log_path);
  auto restore_start = Clock::now();
  auto restored = backend_->LaunchFromSnapshot(spec, snap, /*resume=*/true, seconds(30));
  ASSERT_TRUE(restored.ok()) << restored.error().message() << "\n" << TailFile(spec.vmm_log_path, 2048);
  const int64_t restore_ms = Ms(Clock::now() - restore_start);
  running_.push_back(*restored);
  EXPECT_EQ(*backend_->QueryState(*restored), "running");
  std::this_thread::sleep_for(seconds(1));
  EXPECT_EQ(*backend_->QueryState(*restored), "running");
  // The guest was continued, not booted again.
  EXPECT_EQ(Count(*ReadFile(spec.console_log_path), "Linux version"), Count(before, "Linux version"));
  std::cout << "qemu/tcg 256 MiB: cold boot to init ready " << cold_ms << " ms; save " << save_ms << " ms, "
            << bytes << " bytes; restore (running) " << restore_ms << " ms\n";
  ASSERT_TRUE(backend_->Shutdown(*restored, milliseconds(0)).ok());
  running_.clear();

  // Paused restore, then resume.
  auto paused = backend_->LaunchFromSnapshot(spec, snap, /*resume=*/false, seconds(30));
  ASSERT_TRUE(paused.ok()) << paused.error().message();
  running_.push_back(*paused);
  EXPECT_EQ(*backend_->QueryState(*paused), "paused");
  ASSERT_TRUE(backend_->Resume(*paused).ok());
  EXPECT_EQ(*backend_->QueryState(*paused), "running");
  ASSERT_TRUE(backend_->Shutdown(*paused, milliseconds(0)).ok());
  running_.clear();

  // A stream truncated by hand: the restore fails and leaves nothing.
  ASSERT_EQ(::truncate(snap.state_path.c_str(), bytes / 2), 0);
  auto bad = backend_->LaunchFromSnapshot(spec, snap, true, seconds(30));
  ASSERT_FALSE(bad.ok());
  std::cout << "truncated stream: " << bad.error().message() << "\n";
  EXPECT_THAT(RealProcessOps().FindByArg(spec.control_sock_path), ::testing::IsEmpty());
  EXPECT_FALSE(PathExists(spec.control_sock_path));
}

INSTANTIATE_TEST_SUITE_P(RunAs, VmmSnapshotQemuTest, ::testing::Bool());

std::string FirecrackerBin() {
  const char* env = std::getenv("BANGER_FIRECRACKER_BIN");
  return env && *env ? env : "";
}

TEST_F(VmmSnapshotTest, FirecrackerCreatesAndLoadsAFullSnapshot) {
  const std::string bin = FirecrackerBin();
  if (bin.empty()) GTEST_SKIP() << "BANGER_FIRECRACKER_BIN not set; skipping";
  UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm.valid()) GTEST_SKIP() << "/dev/kvm cannot be opened read-write; skipping";
  const std::string guest = TestGuestDir();
  ASSERT_TRUE(IsRegularFile(guest + "/vmlinux")) << "test guest missing in " << guest;
  BackendOptions opts;
  opts.firecracker_bin = bin;
  backend_ = MakeFirecrackerBackend(opts, RealProcessOps());
  LaunchSpec spec = Spec(guest, "vmlinux", "fc.sock");
  spec.vsock_path = dir_ + "/v.sock";
  spec.vsock_cid = 3;

  auto vm = backend_->Launch(spec, seconds(10));
  ASSERT_TRUE(vm.ok()) << vm.error().message();
  running_.push_back(*vm);
  ASSERT_TRUE(MakeDirs(dir_ + "/snap").ok());
  SnapshotPaths snap{dir_ + "/snap/state", dir_ + "/snap/memory"};
  auto save_start = Clock::now();
  auto saved = backend_->SaveSnapshot(*vm, snap, seconds(30));
  ASSERT_TRUE(saved.ok()) << saved.error().message();
  const int64_t save_ms = Ms(Clock::now() - save_start);
  EXPECT_EQ(*backend_->QueryState(*vm), "paused");
  EXPECT_EQ(SizeOf(snap.memory_path), 256LL << 20);
  EXPECT_GT(SizeOf(snap.state_path), 0);
  ASSERT_TRUE(backend_->Shutdown(*vm, milliseconds(0)).ok());
  running_.clear();

  auto load_start = Clock::now();
  auto loaded = backend_->LaunchFromSnapshot(spec, snap, /*resume=*/true, seconds(10));
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  const int64_t load_ms = Ms(Clock::now() - load_start);
  running_.push_back(*loaded);
  EXPECT_EQ(*backend_->QueryState(*loaded), "running");
  EXPECT_TRUE(PathExists(spec.vsock_path)) << "the vsock socket is bound again by the load";
  std::cout << "firecracker 256 MiB: snapshot create " << save_ms << " ms; load (running) " << load_ms
            << " ms\n";
  ASSERT_TRUE(backend_->Shutdown(*loaded, milliseconds(0)).ok());
  running_.clear();

  // A memory file truncated by hand: the load fails, nothing is left.
  ASSERT_EQ(::truncate(snap.memory_path.c_str(), 4096), 0);
  auto bad = backend_->LaunchFromSnapshot(spec, snap, true, seconds(10));
  ASSERT_FALSE(bad.ok());
  std::cout << "truncated memory: " << bad.error().message() << "\n";
  EXPECT_THAT(RealProcessOps().FindByArg(spec.control_sock_path), ::testing::IsEmpty());
}

}  // namespace
}  // namespace banger
