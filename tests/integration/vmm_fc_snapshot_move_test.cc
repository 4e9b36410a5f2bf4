// Firecracker snapshots are location-independent: a snapshot taken of a VM in
// directory A, loaded by the backend for a VM in directory B (as `vm fork`
// does), continues on B's disks and sockets, unjailed and under the jailer.
// Checked on the loaded process itself: the inodes of the files it has open
// (/proc/<pid>/fd), the taps it has open (/proc/<pid>/fdinfo, inside a
// network namespace of the test's own), its working directory or chroot,
// and GET /vm/config. A
// snapshot with absolute paths (what an older banger took) is refused for
// another VM. API level only: the guest cannot run on nested KVM here, but
// snapshot create and load work fully.
//
// Needs BANGER_FIRECRACKER_BIN; the jailed case also BANGER_JAILER_BIN, root
// and the banger-vmm user; the refusal of an FC without network_overrides
// BANGER_FIRECRACKER_OLD_BIN (a firecracker older than 1.12).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <utility>

#include "base/account.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/testing/proc_status.h"
#include "base/unique_fd.h"
#include "vmm/backend.h"
#include "vmm/firecracker/fc_client.h"
#include "vmm/firecracker/fc_launch.h"
#include "vmm/firecracker/jailer.h"
#include "vmm/launch_util.h"

namespace banger {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using Inode = std::pair<uint64_t, uint64_t>;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : "";
}

std::string TestGuestDir() {
  std::string env = Env("BANGER_TEST_GUEST_DIR");
  return !env.empty() ? env : std::string(BANGER_SOURCE_DIR) + "/build/test-guest";
}

Inode InodeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {0, 0};
  return {st.st_dev, st.st_ino};
}

// The regular files process `pid` has open, by inode (a path read through
// /proc/<pid>/fd would be the one inside its chroot).
std::set<Inode> OpenFiles(pid_t pid) {
  std::set<Inode> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    struct stat st {};
    if (::stat(e.path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) out.insert({st.st_dev, st.st_ino});
  }
  return out;
}

std::string DrivePath(const Json& cfg, const std::string& id) {
  if (!cfg.contains("drives")) return "";
  for (const auto& d : cfg["drives"]) {
    if (d.value("drive_id", "") == id) return d.value("path_on_host", "");
  }
  return "";
}

bool IsSocket(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

class VmmSnapshotMoveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fc_ = Env("BANGER_FIRECRACKER_BIN");
    if (fc_.empty()) GTEST_SKIP() << "BANGER_FIRECRACKER_BIN not set; skipping";
    const std::string guest = TestGuestDir();
    ASSERT_TRUE(IsRegularFile(guest + "/vmlinux") && IsRegularFile(guest + "/initrd.img"))
        << "test guest missing in " << guest;
    char tmpl[] = "/tmp/banger-fcmove-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    // Copies: a jail gives its read-only inputs to the vmm user's group.
    std::filesystem::copy_file(guest + "/vmlinux", root_ + "/vmlinux");
    std::filesystem::copy_file(guest + "/initrd.img", root_ + "/initrd.img");
    Disk(root_ + "/rootfs.ext4", "shared rootfs");
  }
  void TearDown() override {
    for (auto& p : running_) (void)backend_->Shutdown(p, milliseconds(0));
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }

  static void Disk(const std::string& path, const std::string& marker) {
    std::ofstream(path) << marker;
    std::filesystem::resize_file(path, 16 << 20);
  }

  // A VM directory `name` with its own work disk; the rootfs is shared.
  LaunchSpec SpecIn(const std::string& name, const std::string& id) {
    const std::string d = root_ + "/" + name;
    EXPECT_TRUE(MakeDirs(d, 0700).ok());
    LaunchSpec s;
    s.vm_id = id;
    s.vm_name = name;
    s.vcpu_count = 1;
    s.memory_mib = 128;
    s.kernel_path = root_ + "/vmlinux";
    s.initrd_path = root_ + "/initrd.img";
    s.kernel_cmdline = "console=ttyS0 reboot=k panic=1";
    s.vm_dir = d;
    s.control_sock_path = d + "/api.sock";
    s.vsock_path = d + "/v.sock";
    s.vsock_cid = 3;
    s.console_log_path = d + "/console.log";
    s.vmm_log_path = d + "/vmm.log";
    s.metrics_path = d + "/metrics.json";
    Disk(d + "/work.ext4", "work of " + name);
    s.drives = {{"rootfs", root_ + "/rootfs.ext4", true}, {"work", d + "/work.ext4", false}};
    return s;
  }

  // Launches `a`, snapshots it into a/snapshots/s1 and stops it.
  SnapshotPaths SnapshotOf(const LaunchSpec& a) {
    auto vm = backend_->Launch(a, seconds(10));
    EXPECT_TRUE(vm.ok()) << vm.error().message() << "\n" << TailFile(a.vmm_log_path, 2000);
    if (!vm.ok()) return {};
    const std::string dir = a.vm_dir + "/snapshots/s1";
    EXPECT_TRUE(MakeDirs(dir, 0700).ok());
    SnapshotPaths snap{dir + "/state", dir + "/memory"};
    auto saved = backend_->SaveSnapshot(*vm, snap, seconds(30));
    EXPECT_TRUE(saved.ok()) << saved.error().message();
    EXPECT_TRUE(backend_->Shutdown(*vm, milliseconds(0)).ok());
    // Gone with A's process: a load that reached for A's socket would fail
    // to show it again, not find a stale one.
    RemovePaths({a.vsock_path});
    return snap;
  }

  // B's process runs on B's disks and not on A's.
  void ExpectOnItsOwnDisks(const VmmProcess& p, const LaunchSpec& a, const LaunchSpec& b) {
    const auto open = OpenFiles(p.pid);
    EXPECT_EQ(open.count(InodeOf(b.vm_dir + "/work.ext4")), 1u) << "B's work disk is open";
    EXPECT_EQ(open.count(InodeOf(a.vm_dir + "/work.ext4")), 0u) << "A's work disk is not";
    EXPECT_EQ(open.count(InodeOf(root_ + "/rootfs.ext4")), 1u) << "the shared rootfs is open";
    EXPECT_TRUE(IsSocket(b.vsock_path)) << "the load bound B's vsock socket";
    EXPECT_FALSE(PathExists(a.vsock_path)) << "and not A's";
  }

  std::string fc_, root_;
  std::unique_ptr<VmmBackend> backend_;
  std::vector<VmmProcess> running_;
};

TEST_F(VmmSnapshotMoveTest, FirecrackerSnapshotOfALoadsInBOnBsDisks) {
  UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm.valid()) GTEST_SKIP() << "/dev/kvm cannot be opened read-write; skipping";
  BackendOptions opts;
  opts.firecracker_bin = fc_;
  backend_ = MakeFirecrackerBackend(opts, RealProcessOps());
  const LaunchSpec a = SpecIn("vm-a", "aaaaaaaaaaaaaaaa");
  const LaunchSpec b = SpecIn("vm-b", "bbbbbbbbbbbbbbbb");
  const SnapshotPaths snap = SnapshotOf(a);
  ASSERT_FALSE(snap.state_path.empty());

  auto loaded = backend_->LaunchFromSnapshot(b, snap, /*resume=*/true, seconds(10));
  ASSERT_TRUE(loaded.ok()) << loaded.error().message() << "\n" << TailFile(b.vmm_log_path, 2000);
  running_.push_back(*loaded);
  EXPECT_EQ(*backend_->QueryState(*loaded), "running");
  ExpectOnItsOwnDisks(*loaded, a, b);
  std::error_code ec;
  EXPECT_EQ(std::filesystem::read_symlink("/proc/" + std::to_string(loaded->pid) + "/cwd", ec).string(),
            b.vm_dir);
  // The names the snapshot recorded are relative (resolved in B).
  auto cfg = FcClient(b.control_sock_path, seconds(5)).GetVmConfig();
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  EXPECT_EQ(DrivePath(*cfg, "work"), "work.ext4") << cfg->dump();
  EXPECT_EQ(DrivePath(*cfg, "rootfs"), "fc-rootfs") << cfg->dump();
  // The snapshot files stay where they were; nothing was linked into B.
  EXPECT_TRUE(IsRegularFile(snap.memory_path));
  EXPECT_FALSE(PathExists(b.vm_dir + "/fc-snapshot.mem"));
}

// The names of the taps process `pid` has open (tun fds list "iff: NAME").
std::set<std::string> OpenTaps(pid_t pid) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fdinfo", ec)) {
    auto text = ReadFile(e.path().string());
    if (!text.ok()) continue;
    size_t at = text->find("iff:\t");
    if (at == std::string::npos) continue;
    at += 5;
    out.insert(text->substr(at, text->find('\n', at) - at));
  }
  return out;
}

// With a NIC the load gets B's tap (network_overrides), not the one A's
// snapshot recorded. In a network namespace of this test's own: the taps FC
// creates never appear in the host's.
TEST_F(VmmSnapshotMoveTest, FirecrackerSnapshotOfALoadsInBOnBsTap) {
  UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm.valid()) GTEST_SKIP() << "/dev/kvm cannot be opened read-write; skipping";
  if (::geteuid() != 0) GTEST_SKIP() << "creating taps in a new network namespace needs root; skipping";
  ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET)";
  BackendOptions opts;
  opts.firecracker_bin = fc_;
  backend_ = MakeFirecrackerBackend(opts, RealProcessOps());
  LaunchSpec a = SpecIn("vm-a", "aaaaaaaaaaaaaaaa");
  LaunchSpec b = SpecIn("vm-b", "bbbbbbbbbbbbbbbb");
  a.tap_device = "bgsnap-a";
  a.guest_mac = "06:00:ac:10:00:02";
  b.tap_device = "bgsnap-b";
  b.guest_mac = "06:00:ac:10:00:03";
  const SnapshotPaths snap = SnapshotOf(a);
  ASSERT_FALSE(snap.state_path.empty());

  auto loaded = backend_->LaunchFromSnapshot(b, snap, /*resume=*/true, seconds(10));
  ASSERT_TRUE(loaded.ok()) << loaded.error().message() << "\n" << TailFile(b.vmm_log_path, 2000);
  running_.push_back(*loaded);
  EXPECT_EQ(*backend_->QueryState(*loaded), "running");
  EXPECT_EQ(OpenTaps(loaded->pid), std::set<std::string>{"bgsnap-b"});
  ExpectOnItsOwnDisks(*loaded, a, b);
}

// A snapshot whose state names A's disks by absolute path (taken by an older
// banger) continues only in A: loading it for B would write A's disks.
TEST_F(VmmSnapshotMoveTest, FirecrackerSnapshotWithAbsolutePathsIsRefusedForAnotherVm) {
  UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm.valid()) GTEST_SKIP() << "/dev/kvm cannot be opened read-write; skipping";
  BackendOptions opts;
  opts.firecracker_bin = fc_;
  backend_ = MakeFirecrackerBackend(opts, RealProcessOps());
  const LaunchSpec a = SpecIn("vm-a", "aaaaaaaaaaaaaaaa");
  const LaunchSpec b = SpecIn("vm-b", "bbbbbbbbbbbbbbbb");

  // Configured by hand with absolute paths, as before.
  SpawnOptions so;
  so.argv = {fc_, "--api-sock", a.control_sock_path};
  so.stdout_path = a.console_log_path;
  auto pid = SpawnDetached(so);
  ASSERT_TRUE(pid.ok()) << pid.error().message();
  auto who = IdentifySpawned(RealProcessOps(), *pid, ::geteuid());
  ASSERT_TRUE(who.ok());
  LaunchGuard guard(RealProcessOps(), *who, {a.control_sock_path, a.vsock_path});
  ASSERT_TRUE(WaitForFcApi(RealProcessOps(), *who, a.control_sock_path, Deadline(seconds(5))).ok());
  FcClient fc(a.control_sock_path, seconds(10));
  ASSERT_TRUE(fc.PutMachineConfig(1, 128).ok());
  ASSERT_TRUE(fc.PutBootSource(a.kernel_path, a.initrd_path, a.kernel_cmdline).ok());
  for (const auto& d : a.drives) ASSERT_TRUE(fc.PutDrive(d).ok());
  ASSERT_TRUE(fc.PutVsock(3, a.vsock_path).ok());
  ASSERT_TRUE(fc.InstanceStart().ok());
  ASSERT_TRUE(fc.PauseVm().ok());
  SnapshotPaths snap{root_ + "/abs.state", root_ + "/abs.mem"};
  auto created = fc.CreateSnapshot(snap.state_path, snap.memory_path);
  ASSERT_TRUE(created.ok()) << created.error().message();
  ASSERT_TRUE(KillAndWait(RealProcessOps(), *who, seconds(5)).ok());
  guard.Release();
  RemovePaths({a.control_sock_path, a.vsock_path});

  pid_t spawned = 0;
  LaunchSpec b2 = b;
  b2.on_spawn = [&](const ProcIdentity& p) {
    spawned = p.pid;
    return OkStatus();
  };
  auto bad = backend_->LaunchFromSnapshot(b2, snap, true, seconds(10));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind(), ErrorKind::kConflict) << bad.error().message();
  EXPECT_THAT(bad.error().message(), HasSubstr("can only be restored into the vm it was taken from"));
  EXPECT_THAT(bad.error().message(), HasSubstr(a.vm_dir + "/work.ext4"));
  EXPECT_EQ(bad.error().message().find('\n'), std::string::npos) << bad.error().message();
  ASSERT_GT(spawned, 0);
  // Killed: its exe link goes first, its /proc entry a moment later (once
  // its guest memory is unmapped).
  for (int i = 0; i < 500 && RealProcessOps().Alive(spawned); ++i) ::usleep(10000);
  EXPECT_FALSE(RealProcessOps().Alive(spawned)) << "the refused process is gone";

  // In A itself it continues, as it always did.
  auto own = backend_->LaunchFromSnapshot(a, snap, true, seconds(10));
  ASSERT_TRUE(own.ok()) << own.error().message();
  running_.push_back(*own);
  EXPECT_EQ(OpenFiles(own->pid).count(InodeOf(a.vm_dir + "/work.ext4")), 1u);
}

TEST_F(VmmSnapshotMoveTest, FirecrackerWithoutNetworkOverridesIsRefusedWithANic) {
  const std::string old_fc = Env("BANGER_FIRECRACKER_OLD_BIN");
  if (old_fc.empty()) GTEST_SKIP() << "BANGER_FIRECRACKER_OLD_BIN (a firecracker < 1.12) not set; skipping";
  BackendOptions opts;
  opts.firecracker_bin = old_fc;
  backend_ = MakeFirecrackerBackend(opts, RealProcessOps());
  LaunchSpec b = SpecIn("vm-b", "bbbbbbbbbbbbbbbb");
  b.tap_device = "bgtest0";
  SnapshotPaths snap{root_ + "/state", root_ + "/memory"};
  std::ofstream(snap.state_path) << "x";
  std::ofstream(snap.memory_path) << "x";
  auto bad = backend_->LaunchFromSnapshot(b, snap, true, seconds(10));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind(), ErrorKind::kUnavailable) << bad.error().message();
  EXPECT_THAT(bad.error().message(), HasSubstr("network_overrides needs firecracker 1.12 or newer"));
  EXPECT_EQ(bad.error().message().find('\n'), std::string::npos) << bad.error().message();
  EXPECT_THAT(RealProcessOps().FindByArg(b.control_sock_path), ::testing::IsEmpty());
}

TEST_F(VmmSnapshotMoveTest, JailedFirecrackerSnapshotOfALoadsInBsJailOnBsDisks) {
  const std::string jailer = Env("BANGER_JAILER_BIN");
  if (jailer.empty()) GTEST_SKIP() << "BANGER_JAILER_BIN not set; skipping";
  if (::geteuid() != 0) GTEST_SKIP() << "the jailer needs root; skipping";
  auto user = LookupUser("banger-vmm");
  if (!user.ok()) GTEST_SKIP() << "no banger-vmm user (scripts/install-deps.sh); skipping";
  BackendOptions opts;
  opts.firecracker_bin = fc_;
  opts.jailer_bin = jailer;
  opts.vmm_user = *user;
  backend_ = MakeFirecrackerBackend(opts, RealProcessOps());
  const LaunchSpec a = SpecIn("vm-a", "aaaaaaaaaaaaaaaa");
  const LaunchSpec b = SpecIn("vm-b", "bbbbbbbbbbbbbbbb");
  const std::string exec_file = std::filesystem::absolute(fc_).string();
  const JailLayout jail_a = JailLayoutFor(a, exec_file);
  const JailLayout jail_b = JailLayoutFor(b, exec_file);

  const SnapshotPaths snap = SnapshotOf(a);
  ASSERT_FALSE(snap.state_path.empty());
  // Written inside A's chroot, moved out to the snapshot directory.
  EXPECT_TRUE(IsRegularFile(snap.state_path));
  EXPECT_EQ(std::filesystem::file_size(snap.memory_path), 128u << 20);
  EXPECT_FALSE(PathExists(jail_a.root + "/fc-snapshot.state"));
  EXPECT_FALSE(PathExists(jail_a.root + "/fc-snapshot.mem"));
  ASSERT_TRUE(RemoveJail(a.vm_dir).ok());  // the daemon's teardown

  auto loaded = backend_->LaunchFromSnapshot(b, snap, /*resume=*/true, seconds(10));
  ASSERT_TRUE(loaded.ok()) << loaded.error().message() << "\n" << TailFile(b.vmm_log_path, 2000);
  running_.push_back(*loaded);
  EXPECT_EQ(*backend_->QueryState(*loaded), "running");
  EXPECT_EQ(banger::testing::RootDirOf(loaded->pid), jail_b.root);
  ExpectOnItsOwnDisks(*loaded, a, b);
  auto cfg = FcClient(b.control_sock_path, seconds(5)).GetVmConfig();
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  EXPECT_EQ(DrivePath(*cfg, "work"), "work.img") << cfg->dump();
  // The links the load read the snapshot through are gone again.
  EXPECT_FALSE(PathExists(jail_b.root + "/fc-snapshot.state"));
  EXPECT_FALSE(PathExists(jail_b.root + "/fc-snapshot.mem"));
  EXPECT_TRUE(IsRegularFile(snap.memory_path));
  ASSERT_TRUE(backend_->Shutdown(*loaded, milliseconds(0)).ok());
  running_.clear();
  ASSERT_TRUE(RemoveJail(b.vm_dir).ok());
}

}  // namespace
}  // namespace banger
