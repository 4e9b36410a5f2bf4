// Per-VM cgroups and rate limits in the VM lifecycle, over fake backends and
// a cgroup v1 tree in a temp directory.
#include <fcntl.h>
#include <sys/stat.h>

#include <set>

#include "daemon/testing/vm_service_fixture.h"

namespace banger {
namespace {

class VmLimitsTest : public VmServiceTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(VmServiceTest::SetUp());
    const std::string r = cgroot_.path();
    ASSERT_TRUE(MakeDirs(r + "/proc/self").ok());
    ASSERT_TRUE(WriteFileAtomic(r + "/proc/self/mountinfo",
                                "35 31 0:32 / /cg/memory rw - cgroup cgroup rw,memory\n"
                                "39 31 0:36 / /cg/pids rw - cgroup cgroup rw,pids\n")
                    .ok());
    ASSERT_TRUE(WriteFileAtomic(r + "/proc/self/cgroup", "8:pids:/\n4:memory:/\n").ok());
    ASSERT_TRUE(MakeDirs(r + "/cg/memory").ok());
    ASSERT_TRUE(MakeDirs(r + "/cg/pids").ok());
    cgroups_ = std::make_unique<VmCgroups>(DetectCgroupHost(r));
    ASSERT_TRUE(cgroups_->enabled()) << cgroups_->host().why_none;
    VmServiceDeps d = FakeVmServiceDeps(root_, *store_, *events_, procs_, disks_);
    d.backends = {{BackendKind::kQemu, &qemu_}, {BackendKind::kFirecracker, &fc_}};
    d.cgroups = cgroups_.get();
    svc_ = std::make_unique<VmService>(d);
  }
  std::string MemDir(const VmRecord& vm) {
    return cgroot_.path() + "/cg/memory/banger/" + vm.id.substr(0, 16);
  }

  testing::TempDir cgroot_{"bgcgd"};
  std::unique_ptr<VmCgroups> cgroups_;
};

TEST_F(VmLimitsTest, VmmJoinsItsGroupWhichGoesAtStop) {
  CreateVmRequest r = Named("c1");
  r.memory_mib = 256;
  VmRecord vm = MustCreateVm(*svc_, r);
  ASSERT_EQ(qemu_.launches.size(), 1u);
  const std::string name = vm.id.substr(0, 16);
  EXPECT_EQ(qemu_.launches[0].cgroup_procs_files,
            (std::vector<std::string>{MemDir(vm) + "/cgroup.procs",
                                      cgroot_.path() + "/cg/pids/banger/" + name + "/cgroup.procs"}));
  auto mem = ReadFile(MemDir(vm) + "/memory.limit_in_bytes");
  ASSERT_TRUE(mem.ok());
  EXPECT_EQ(*mem, std::to_string((256 + kQemuMemoryOverheadMiB) * kMiB));
  auto pids = ReadFile(cgroot_.path() + "/cg/pids/banger/" + name + "/pids.max");
  ASSERT_TRUE(pids.ok());
  EXPECT_EQ(*pids, std::to_string(kVmmPidsMax));

  ASSERT_TRUE(svc_->Stop("c1", std::chrono::milliseconds(0)).ok());
  EXPECT_FALSE(PathExists(MemDir(vm)));
  EXPECT_TRUE(cgroups_->List().empty());
}

TEST_F(VmLimitsTest, StaleGroupsGoAtReconcileLiveOnesStay) {
  VmRecord live = MustCreate("live");
  // A group of a VM that no longer exists, old enough to be stale.
  ASSERT_TRUE(cgroups_->Create("00000000deadbeef", {}).ok());
  for (const auto& dir : cgroups_->GroupDirs("00000000deadbeef")) {
    struct timespec old[2] = {{0, 0}, {0, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, dir.c_str(), old, 0), 0);
  }
  // A fresh one: another daemon may be about to use it.
  ASSERT_TRUE(cgroups_->Create("1111111111111111", {}).ok());
  svc_ = MakeService();  // a restarted daemon, without cgroups: nothing happens
  ASSERT_TRUE(Reconcile().ok());
  EXPECT_EQ(cgroups_->List().size(), 3u);

  VmServiceDeps d = FakeVmServiceDeps(root_, *store_, *events_, procs_, disks_);
  d.backends = {{BackendKind::kQemu, &qemu_}, {BackendKind::kFirecracker, &fc_}};
  d.cgroups = cgroups_.get();
  svc_ = std::make_unique<VmService>(d);
  ASSERT_TRUE(Reconcile().ok());
  auto left = cgroups_->List();
  EXPECT_EQ(std::set<std::string>(left.begin(), left.end()),
            (std::set<std::string>{live.id.substr(0, 16), "1111111111111111"}));
}

TEST_F(VmLimitsTest, CreateCarriesLimitsIntoTheSpecAndLaunch) {
  CreateVmRequest r = Named("l1");
  r.disk_bw_bytes_per_sec = 10 * kMiB;
  r.disk_iops = 300;
  VmRecord vm = MustCreateVm(*svc_, r);
  EXPECT_EQ(vm.spec.limits, (RateLimits{10 * kMiB, 300, 0}));
  ASSERT_EQ(qemu_.launches.size(), 1u);
  EXPECT_EQ(qemu_.launches[0].limits, vm.spec.limits);
  auto shown = svc_->Get("l1");
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(ToJson(shown->vm.spec)["disk_iops"], 300);
}

TEST_F(VmLimitsTest, NetworkLimitOnQemuIsRefusedInOneLine) {
  CreateVmRequest r = Named("n1");
  r.net_bw_bytes_per_sec = kMiB;
  auto c = svc_->Create(r);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(c.error().message(),
            "--net-bw is not supported by the qemu backend (only firecracker limits network bandwidth)");
  EXPECT_TRUE(qemu_.launches.empty());
  r.backend = "firecracker";
  auto fc = svc_->Create(r);
  ASSERT_TRUE(fc.ok()) << fc.error().message();
  EXPECT_EQ(fc_.launches.at(0).limits.net_bytes_per_sec, kMiB);
}

TEST_F(VmLimitsTest, SetChangesARunningVmLiveAndAStoppedOneForItsNextBoot) {
  MustCreate("s1");
  SetVmRequest set;
  set.disk_bw_bytes_per_sec = 5 * kMiB;
  auto v = svc_->Set("s1", set);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(v->vm.spec.limits.disk_bytes_per_sec, 5 * kMiB);
  ASSERT_EQ(qemu_.rate_limit_calls.size(), 1u);
  EXPECT_EQ(qemu_.rate_limit_calls[0].drive_ids, (std::vector<std::string>{"rootfs", "overlay", "work"}));
  EXPECT_FALSE(qemu_.rate_limit_calls[0].has_nic);
  EXPECT_EQ(qemu_.rate_limit_calls[0].limits, (RateLimits{5 * kMiB, 0, 0}));

  // The same value again changes nothing in the VMM.
  ASSERT_TRUE(svc_->Set("s1", set).ok());
  EXPECT_EQ(qemu_.rate_limit_calls.size(), 1u);

  ASSERT_TRUE(svc_->Stop("s1", std::chrono::milliseconds(0)).ok());
  set.disk_bw_bytes_per_sec = 0;
  set.disk_iops = 50;
  ASSERT_TRUE(svc_->Set("s1", set).ok());
  EXPECT_EQ(qemu_.rate_limit_calls.size(), 1u);
  ASSERT_TRUE(svc_->Start("s1").ok());
  EXPECT_EQ(qemu_.launches.back().limits, (RateLimits{0, 50, 0}));

  SetVmRequest net;
  net.net_bw_bytes_per_sec = 1;
  auto refused = svc_->Set("s1", net);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind(), ErrorKind::kInvalidArgument);
}

}  // namespace
}  // namespace banger
