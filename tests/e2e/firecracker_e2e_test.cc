// End to end on the Firecracker backend: the real CLI and daemon driving a
// real Firecracker through its REST API. Runs only where a Firecracker binary
// is available (BANGER_FIRECRACKER_BIN or PATH) and /dev/kvm is usable.
// (On hosts whose nested KVM cannot boot Linux, the guest never reaches init,
// but configure + InstanceStart, liveness, re-adoption and stop all work.)
// The jailed test also needs BANGER_JAILER_BIN (the jailer of that release).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "base/account.h"
#include "base/testing/proc_status.h"
#include "e2e_util.h"
#include "vmm/launch_util.h"

namespace banger::e2e {
namespace {

std::string FirecrackerBin() {
  if (const char* env = std::getenv("BANGER_FIRECRACKER_BIN"); env && *env) return env;
  auto found = FindExecutable("firecracker");
  return found.ok() ? *found : "";
}

// A root daemon runs firecracker as vmm_user (banger-vmm), which needs
// read-write /dev/kvm (group kvm on a stock Debian host). Where that user
// cannot open it (here /dev/kvm may be root's alone), the tests run
// firecracker as root, the documented opt-out; VmmUserWithoutKvmIsRefused
// checks the refusal itself.
bool VmmUserLacksKvm() {
  if (::geteuid() != 0) return false;
  auto u = LookupUser("banger-vmm");
  if (!u.ok()) return false;
  auto err = OpenErrnoAs("/dev/kvm", Credentials{u->uid, u->gid, u->groups});
  return err.ok() && *err != 0;
}

std::string FcConfig(const std::string& bin) {
  std::string c = "backend = \"firecracker\"\nfirecracker_bin = \"" + bin +
                  "\"\ndefault_image_name = \"base\"\nstop_timeout = \"1s\"\n";
  if (VmmUserLacksKvm()) c += "vmm_user = \"root\"\n";
  return c;
}

void ImportFcGuest(BangerHome& h) {
  std::string g = GuestDir();
  ASSERT_TRUE(IsRegularFile(g + "/vmlinux")) << "run scripts/make-test-guest.sh " << g;
  ASSERT_EQ(h.Banger({"image", "import", "base", "--kernel", g + "/vmlinux", "--initrd", g + "/initrd.img",
                      "--rootfs", g + "/rootfs.ext4"})
                .code,
            0);
}

using banger::testing::StatusField;

using banger::testing::RootDirOf;

class FirecrackerE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = FirecrackerBin();
    if (bin_.empty()) GTEST_SKIP() << "firecracker binary not found (set BANGER_FIRECRACKER_BIN); skipping";
    int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) GTEST_SKIP() << "/dev/kvm is not usable; Firecracker needs KVM; skipping";
    ::close(fd);
  }
  std::string bin_;
};

TEST_F(FirecrackerE2E, CreateReadoptAfterKillDashNineStopDelete) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(FcConfig(bin_)));
  ASSERT_NO_FATAL_FAILURE(ImportFcGuest(h));
  CliRun c = h.Banger({"vm", "create", "--name", "fc1", "--vcpus", "1", "--memory", "256"});
  ASSERT_EQ(c.code, 0) << c.err;
  Json vm = h.BangerJson({"vm", "show", "fc1"});
  EXPECT_EQ(vm["state"], "running");
  EXPECT_EQ(vm["spec"]["backend"], "firecracker");
  pid_t pid = vm["handles"]["pid"];
  std::string api_sock = vm["runtime"]["api_sock_path"];
  // Firecracker itself says the instance runs.
  auto root = UnixHttpGet(api_sock);
  EXPECT_NE(root.find("\"Running\""), std::string::npos) << root;

  pid_t daemon = h.DaemonPid();
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] { return !RealProcessOps().Alive(daemon); }, std::chrono::seconds(5)));
  Json again = h.BangerJson({"vm", "show", "fc1"});
  EXPECT_EQ(again["state"], "running");
  EXPECT_EQ(again["handles"]["pid"], pid);

  ASSERT_EQ(h.Banger({"vm", "stop", "fc1"}).code, 0);
  EXPECT_TRUE(WaitUntil([&] { return !RealProcessOps().Alive(pid); }, std::chrono::seconds(5)));
  EXPECT_FALSE(PathExists(api_sock));
  ASSERT_EQ(h.Banger({"vm", "delete", "fc1"}).code, 0);
  EXPECT_TRUE(h.Vmms().empty());
}

// vm pause/resume drive PATCH /vm; a paused VM survives kill -9 of the
// daemon and is re-adopted paused; then resumed, stopped and deleted.
TEST_F(FirecrackerE2E, PauseSurvivesADaemonKillAndResumes) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(FcConfig(bin_)));
  std::string g = GuestDir();
  ASSERT_TRUE(IsRegularFile(g + "/vmlinux")) << "run scripts/make-test-guest.sh " << g;
  ASSERT_EQ(h.Banger({"image", "import", "base", "--kernel", g + "/vmlinux", "--initrd", g + "/initrd.img",
                      "--rootfs", g + "/rootfs.ext4"})
                .code,
            0);
  ASSERT_EQ(h.Banger({"vm", "create", "--name", "fcp", "--vcpus", "1", "--memory", "256"}).code, 0);
  CliRun p = h.Banger({"vm", "pause", "fcp"});
  ASSERT_EQ(p.code, 0) << p.err;
  Json vm = h.BangerJson({"vm", "show", "fcp"});
  EXPECT_EQ(vm["state"], "paused");
  std::string api_sock = vm["runtime"]["api_sock_path"];
  EXPECT_NE(UnixHttpGet(api_sock).find("\"Paused\""), std::string::npos) << UnixHttpGet(api_sock);

  pid_t daemon = h.DaemonPid();
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] { return !RealProcessOps().Alive(daemon); }, std::chrono::seconds(5)));
  Json again = h.BangerJson({"vm", "show", "fcp"});
  EXPECT_EQ(again["state"], "paused") << "re-adopted as paused";
  EXPECT_EQ(again["handles"]["pid"], vm["handles"]["pid"]);

  CliRun r = h.Banger({"vm", "resume", "fcp"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(UnixHttpGet(api_sock).find("\"Running\""), std::string::npos) << UnixHttpGet(api_sock);
  EXPECT_EQ(h.BangerJson({"vm", "show", "fcp"})["state"], "running");
  ASSERT_EQ(h.Banger({"vm", "pause", "fcp"}).code, 0);
  ASSERT_EQ(h.Banger({"vm", "delete", "fcp"}).code, 0);
  EXPECT_TRUE(h.Vmms().empty());
}

// Rate limits reach Firecracker as rate_limiter token buckets at
// configuration time, and `vm set` PATCHes them on the running VM.
TEST_F(FirecrackerE2E, DiskRateLimitsAtBootAndLive) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(FcConfig(bin_)));
  ASSERT_NO_FATAL_FAILURE(ImportFcGuest(h));
  CliRun c = h.Banger({"vm", "create", "--name", "fcl", "--vcpus", "1", "--memory", "256", "--disk-bw", "10M",
                       "--disk-iops", "100"});
  ASSERT_EQ(c.code, 0) << c.err;
  std::string api_sock = h.BangerJson({"vm", "show", "fcl"})["runtime"]["api_sock_path"];
  HttpRequest req;
  req.target = "/vm/config";
  auto cfg = UnixHttpCall(api_sock, req, std::chrono::seconds(5));
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  auto j = ParseJson(cfg->body);
  ASSERT_TRUE(j.ok()) << cfg->body;
  ASSERT_TRUE((*j)["drives"].is_array()) << cfg->body;
  for (const auto& d : (*j)["drives"]) {
    EXPECT_EQ(d["rate_limiter"]["bandwidth"]["size"], 10 * 1024 * 1024) << d.dump();
    EXPECT_EQ(d["rate_limiter"]["ops"]["size"], 100) << d.dump();
  }
  CliRun s = h.Banger({"vm", "set", "fcl", "--disk-bw", "1M"});
  EXPECT_EQ(s.code, 0) << s.err;
  EXPECT_EQ(h.BangerJson({"vm", "show", "fcl"})["spec"]["disk_bw_bytes_per_sec"], 1024 * 1024);
  ASSERT_EQ(h.Banger({"vm", "delete", "fcl"}).code, 0);
}

// The default vmm_user on a host where it cannot open /dev/kvm: vm create
// fails before firecracker is spawned, with one line naming the fixes
// (instead of "Error creating KVM object" from PUT /actions).
TEST_F(FirecrackerE2E, VmmUserWithoutKvmIsRefusedInOneLine) {
  if (!VmmUserLacksKvm())
    GTEST_SKIP() << "banger-vmm can open /dev/kvm here (or not root); nothing to refuse";
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig("backend = \"firecracker\"\nfirecracker_bin = \"" + bin_ +
                                        "\"\ndefault_image_name = \"base\"\n"));
  ASSERT_NO_FATAL_FAILURE(ImportFcGuest(h));
  CliRun c = h.Banger({"vm", "create", "--name", "nokvm"});
  EXPECT_NE(c.code, 0);
  EXPECT_NE(
      c.err.find("firecracker: /dev/kvm is not accessible to vmm_user banger-vmm (add it to group kvm, or "
                 "set jailer_bin, or vmm_user = \"root\")"),
      std::string::npos)
      << c.err;
  EXPECT_EQ(c.err.find("KVM object"), std::string::npos) << c.err;
  EXPECT_TRUE(h.Vmms().empty());
  CliRun d = h.Banger({"doctor"});
  EXPECT_NE(d.out.find("/dev/kvm is not accessible to vmm_user banger-vmm"), std::string::npos) << d.out;
}

// Through the jailer (config jailer_bin): firecracker runs as banger-vmm,
// chrooted in the VM's jail, even where banger-vmm cannot open the host's
// /dev/kvm; a daemon killed with -9 re-adopts it; stop removes the jail,
// start builds it again, delete removes everything.
TEST_F(FirecrackerE2E, JailedCreateReadoptStopStartDelete) {
  std::string jailer;
  if (const char* env = std::getenv("BANGER_JAILER_BIN"); env && *env) jailer = env;
  if (jailer.empty())
    GTEST_SKIP() << "set BANGER_JAILER_BIN (the jailer of this firecracker's release); skipping";
  if (::geteuid() != 0) GTEST_SKIP() << "the jailer needs a root daemon; skipping";
  auto user = LookupUser("banger-vmm");
  ASSERT_TRUE(user.ok()) << "run scripts/install-deps.sh: " << user.error().message();
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig("backend = \"firecracker\"\nfirecracker_bin = \"" + bin_ +
                                        "\"\njailer_bin = \"" + jailer +
                                        "\"\ndefault_image_name = \"base\"\nstop_timeout = \"1s\"\n"));
  ASSERT_NO_FATAL_FAILURE(ImportFcGuest(h));
  CliRun c = h.Banger({"vm", "create", "--name", "jailed"});
  ASSERT_EQ(c.code, 0) << c.err;
  Json vm = h.BangerJson({"vm", "show", "jailed"});
  EXPECT_EQ(vm["state"], "running");
  pid_t pid = vm["handles"]["pid"];
  const std::string vm_dir = vm["runtime"]["vm_dir"];
  const std::string api_sock = vm["runtime"]["api_sock_path"];
  const std::string exec_name = std::filesystem::path(bin_).filename().string();
  const std::string root = vm_dir + "/jail/" + exec_name + "/jailed/root";
  const std::string uid = std::to_string(user->uid);
  EXPECT_EQ(StatusField(pid, "Uid"), uid + "\t" + uid + "\t" + uid + "\t" + uid);
  EXPECT_EQ(RootDirOf(pid), root);
  EXPECT_EQ(vm["handles"]["vmm_uid"], user->uid);
  EXPECT_NE(UnixHttpGet(api_sock).find("\"Running\""), std::string::npos);
  // The jailer ran inside the VM's cgroup, so firecracker is there too.
  if (h.Banger({"doctor"}).out.find("per-VM cgroups active") != std::string::npos) {
    auto cg = ReadFile("/proc/" + std::to_string(pid) + "/cgroup");
    ASSERT_TRUE(cg.ok());
    EXPECT_NE(cg->find("/banger/"), std::string::npos) << *cg;
  }

  pid_t daemon = h.DaemonPid();
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] { return !RealProcessOps().Alive(daemon); }, std::chrono::seconds(5)));
  Json again = h.BangerJson({"vm", "show", "jailed"});
  EXPECT_EQ(again["state"], "running");
  EXPECT_EQ(again["handles"]["pid"], pid);

  ASSERT_EQ(h.Banger({"vm", "stop", "jailed"}).code, 0);
  EXPECT_TRUE(WaitUntil([&] { return !RealProcessOps().Alive(pid); }, std::chrono::seconds(5)));
  EXPECT_FALSE(PathExists(vm_dir + "/jail"));
  EXPECT_FALSE(PathExists(api_sock));

  CliRun s = h.Banger({"vm", "start", "jailed"});
  ASSERT_EQ(s.code, 0) << s.err;
  pid_t pid2 = h.BangerJson({"vm", "show", "jailed"})["handles"]["pid"];
  EXPECT_EQ(RootDirOf(pid2), root);
  ASSERT_EQ(h.Banger({"vm", "delete", "jailed"}).code, 0);
  EXPECT_TRUE(WaitUntil([&] { return !RealProcessOps().Alive(pid2); }, std::chrono::seconds(5)));
  EXPECT_FALSE(PathExists(vm_dir));
  if (RealProcessOps().Alive(pid2)) (void)RealProcessOps().Signal(pid2, SIGKILL);
}

// Snapshots under the jailer through the daemon: written inside the chroot
// and moved out to the VM's snapshot directory; `vm stop --save` and
// `vm start`, then `vm restore`, continue the VM in a fresh jail on its own
// disks (by inode: the files the restored firecracker has open).
TEST_F(FirecrackerE2E, JailedSnapshotSaveStartAndRestore) {
  std::string jailer;
  if (const char* env = std::getenv("BANGER_JAILER_BIN"); env && *env) jailer = env;
  if (jailer.empty())
    GTEST_SKIP() << "set BANGER_JAILER_BIN (the jailer of this firecracker's release); skipping";
  if (::geteuid() != 0) GTEST_SKIP() << "the jailer needs a root daemon; skipping";
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig("backend = \"firecracker\"\nfirecracker_bin = \"" + bin_ +
                                        "\"\njailer_bin = \"" + jailer +
                                        "\"\ndefault_image_name = \"base\"\nstop_timeout = \"1s\"\n"));
  ASSERT_NO_FATAL_FAILURE(ImportFcGuest(h));
  ASSERT_EQ(h.Banger({"vm", "create", "--name", "js", "--vcpus", "1", "--memory", "128"}).code, 0);
  Json vm = h.BangerJson({"vm", "show", "js"});
  const std::string vm_dir = vm["runtime"]["vm_dir"];
  const std::string work = vm["runtime"]["work_disk_path"];
  auto has_open = [](pid_t pid, const std::string& path) {
    struct stat want {};
    if (::stat(path.c_str(), &want) != 0) return false;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
      struct stat st {};
      if (::stat(e.path().c_str(), &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino)
        return true;
    }
    return false;
  };

  CliRun snap = h.Banger({"vm", "snapshot", "create", "js", "--name", "one"});
  ASSERT_EQ(snap.code, 0) << snap.err;
  EXPECT_EQ(h.BangerJson({"vm", "show", "js"})["state"], "running");
  CliRun save = h.Banger({"vm", "stop", "js", "--save"});
  ASSERT_EQ(save.code, 0) << save.err;
  EXPECT_FALSE(PathExists(vm_dir + "/jail"));
  CliRun start = h.Banger({"vm", "start", "js"});
  ASSERT_EQ(start.code, 0) << start.err;
  Json resumed = h.BangerJson({"vm", "show", "js"});
  EXPECT_EQ(resumed["state"], "running");
  EXPECT_TRUE(has_open(resumed["handles"]["pid"], work)) << "the saved state runs on the VM's work disk";

  ASSERT_EQ(h.Banger({"vm", "stop", "js"}).code, 0);
  CliRun restore = h.Banger({"vm", "restore", "js", "--snapshot", "one"});
  ASSERT_EQ(restore.code, 0) << restore.err;
  Json restored = h.BangerJson({"vm", "show", "js"});
  EXPECT_EQ(restored["state"], "running");
  const pid_t pid = restored["handles"]["pid"];
  EXPECT_TRUE(has_open(pid, work)) << "the restored VM runs on its work disk (the snapshot's copy)";
  EXPECT_NE(UnixHttpGet(restored["runtime"]["api_sock_path"]).find("\"Running\""), std::string::npos);
  ASSERT_EQ(h.Banger({"vm", "delete", "js"}).code, 0);
  EXPECT_TRUE(WaitUntil([&] { return !RealProcessOps().Alive(pid); }, std::chrono::seconds(5)));
}

}  // namespace
}  // namespace banger::e2e
