// End to end on the Firecracker backend: the real CLI and daemon driving a
// real Firecracker through its REST API. Runs only where a Firecracker binary
// is available (BANGER_FIRECRACKER_BIN or PATH) and /dev/kvm is usable.
// (On hosts whose nested KVM cannot boot Linux, the guest never reaches init,
// but configure + InstanceStart, liveness, re-adoption and stop all work.)
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "e2e_util.h"

namespace banger::e2e {
namespace {

std::string FirecrackerBin() {
  if (const char* env = std::getenv("BANGER_FIRECRACKER_BIN"); env && *env) return env;
  auto found = FindExecutable("firecracker");
  return found.ok() ? *found : "";
}

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
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig("backend = \"firecracker\"\nfirecracker_bin = \"" + bin_ +
                                        "\"\ndefault_image_name = \"base\"\nstop_timeout = \"1s\"\n"));
  std::string g = GuestDir();
  ASSERT_TRUE(IsRegularFile(g + "/vmlinux")) << "run scripts/make-test-guest.sh " << g;
  ASSERT_EQ(h.Banger({"image", "import", "base", "--kernel", g + "/vmlinux", "--initrd", g + "/initrd.img",
                      "--rootfs", g + "/rootfs.ext4"})
                .code,
            0);
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
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig("backend = \"firecracker\"\nfirecracker_bin = \"" + bin_ +
                                        "\"\ndefault_image_name = \"base\"\nstop_timeout = \"1s\"\n"));
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
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig("backend = \"firecracker\"\nfirecracker_bin = \"" + bin_ +
                                        "\"\ndefault_image_name = \"base\"\nstop_timeout = \"1s\"\n"));
  std::string g = GuestDir();
  ASSERT_TRUE(IsRegularFile(g + "/vmlinux")) << "run scripts/make-test-guest.sh " << g;
  ASSERT_EQ(h.Banger({"image", "import", "base", "--kernel", g + "/vmlinux", "--initrd", g + "/initrd.img",
                      "--rootfs", g + "/rootfs.ext4"})
                .code,
            0);
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

}  // namespace
}  // namespace banger::e2e
