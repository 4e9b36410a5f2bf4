// cow_mode = "dm-snapshot": loops + dm snapshot on the host (a fake kernel),
// through VmService; and the overlay mode never touching device-mapper.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "daemon/testing/vm_service_fixture.h"

namespace banger {
namespace {

using testing::FakeDeviceMapper;

class VmServiceDmTest : public VmServiceTest {
 protected:
  void SetUp() override {
    VmServiceTest::SetUp();
    if (HasFatalFailure()) return;
    // A snapshot is sized to its base: give the image rootfs whole sectors.
    ASSERT_EQ(::truncate((root_ + "/rootfs.ext4").c_str(), 1 << 20), 0);
    svc_ = MakeDmService();
  }

  std::unique_ptr<VmService> MakeDmService(const std::string& cow_mode = kCowModeDmSnapshot) {
    VmServiceDeps d;
    d.home = HomeLayout{root_};
    d.config.default_image_name = "base";
    d.config.cow_mode = cow_mode;
    d.store = store_.get();
    d.events = events_.get();
    d.procs = &procs_;
    d.disks = &disks_;
    cow_ = MakeCowRoot(cow_mode, &dm_, disks_, *store_);
    d.cow = cow_.get();
    d.backends = {{BackendKind::kQemu, &qemu_}, {BackendKind::kFirecracker, &fc_}};
    d.default_backend = BackendKind::kQemu;
    return std::make_unique<VmService>(d);
  }

  // Nothing attached, nothing mapped.
  void ExpectNothingAttached(const std::string& why) {
    EXPECT_TRUE(dm_.Loops().empty()) << why;
    EXPECT_TRUE(dm_.Snapshots().empty()) << why;
  }

  std::string ReadAll(const std::string& path) {
    auto r = ReadFile(path);
    return r.ok() ? *r : std::string();
  }

  FakeDeviceMapper dm_;
  std::unique_ptr<CowRoot> cow_;
};

TEST_F(VmServiceDmTest, StartRecordsLoopsAndDmInHandlesOnlyNeverInTheStore) {
  VmRecord vm = MustCreate("t1");
  ASSERT_EQ(vm.state, VmState::kRunning);
  std::string dm_name = "banger-" + vm.id.substr(0, 16);

  auto loops = dm_.Loops();
  ASSERT_EQ(loops.size(), 2u);
  EXPECT_EQ(loops["/dev/loop0"].file, root_ + "/rootfs.ext4");
  EXPECT_TRUE(loops["/dev/loop0"].read_only);
  EXPECT_EQ(loops["/dev/loop1"].file, vm.runtime.system_overlay_path);
  EXPECT_FALSE(loops["/dev/loop1"].read_only);
  auto snaps = dm_.Snapshots();
  ASSERT_EQ(snaps.size(), 1u);
  EXPECT_EQ(snaps[dm_name].base, "/dev/loop0");
  EXPECT_EQ(snaps[dm_name].cow, "/dev/loop1");
  EXPECT_EQ(snaps[dm_name].sectors, (1u << 20) / 512);
  // The COW store is a raw sparse file of the overlay size, not ext4.
  EXPECT_EQ(disks_.SizeOf(vm.runtime.system_overlay_path), 8 * kGiB);
  EXPECT_EQ(ProbeDiskFormat(vm.runtime.system_overlay_path), DiskFormat::kUnknown);

  auto scratch = ReadHandlesFile(vm.runtime.vm_dir);
  ASSERT_TRUE(scratch.ok() && scratch->has_value());
  const VmHandles& h = **scratch;
  EXPECT_GT(h.pid, 0);
  EXPECT_EQ(h.base_loop, "/dev/loop0");
  EXPECT_EQ(h.cow_loop, "/dev/loop1");
  EXPECT_EQ(h.dm_name, dm_name);
  EXPECT_EQ(h.dm_dev, "/dev/mapper/" + dm_name);
  auto view = svc_->Get("t1");
  ASSERT_TRUE(view.ok() && view->handles.has_value());
  EXPECT_EQ(view->handles->dm_dev, h.dm_dev);
  EXPECT_EQ(view->handles->base_loop, h.base_loop);
  EXPECT_EQ(view->handles->cow_loop, h.cow_loop);

  // Nothing of them in SQLite: not in the record, not anywhere in the file.
  std::string record = ToJson(*store_->GetVm("t1")).dump();
  std::string db = ReadAll(root_ + "/banger.db") + ReadAll(root_ + "/banger.db-wal");
  ASSERT_FALSE(db.empty());
  for (const std::string& s : {std::string("/dev/loop"), std::string("/dev/mapper"), dm_name}) {
    EXPECT_EQ(record.find(s), std::string::npos) << s;
    EXPECT_EQ(db.find(s), std::string::npos) << s;
  }
}

TEST_F(VmServiceDmTest, LaunchSpecBootsFromTheSnapshot) {
  VmRecord vm = MustCreate("t1");
  ASSERT_EQ(qemu_.launches.size(), 1u);
  const LaunchSpec& ls = qemu_.launches[0];
  ASSERT_EQ(ls.drives.size(), 2u);
  EXPECT_EQ(ls.drives[0].path, "/dev/mapper/banger-" + vm.id.substr(0, 16));
  EXPECT_FALSE(ls.drives[0].read_only) << "the snapshot is the VM's private root";
  EXPECT_EQ(ls.drives[1].path, vm.runtime.work_disk_path);
  EXPECT_FALSE(ls.drives[1].read_only);
  EXPECT_NE(ls.kernel_cmdline.find(" banger.cow=dm"), std::string::npos) << ls.kernel_cmdline;
}

TEST_F(VmServiceDmTest, OverlayModeNeverTouchesDeviceMapper) {
  svc_ = MakeDmService(kCowModeOverlay);
  VmRecord vm = MustCreate("t1");
  const LaunchSpec& ls = qemu_.launches.at(0);
  EXPECT_EQ(ls.kernel_cmdline.find("banger.cow"), std::string::npos);
  ASSERT_EQ(ls.drives.size(), 3u);
  EXPECT_EQ(ls.drives[0].path, root_ + "/rootfs.ext4");
  EXPECT_TRUE(ls.drives[0].read_only);
  EXPECT_EQ(ls.drives[1].path, vm.runtime.system_overlay_path);
  ASSERT_TRUE(svc_->Restart("t1", std::nullopt).ok());
  ASSERT_TRUE(svc_->Delete("t1", false).ok());
  EXPECT_TRUE(dm_.Calls().empty());
}

TEST_F(VmServiceDmTest, FailureAtEachSetupStepLeavesNothingAttached) {
  int n = 0;
  for (const char* step : {"attach-ro", "attach-rw", "create", "launch"}) {
    std::string name = "t" + std::to_string(n++);
    if (std::string(step) == "launch") {
      qemu_.launch_error = Error::Unavailable("spawning qemu: No such file or directory");
    } else {
      dm_.fail[step] = Error::Internal(std::string("injected ") + step + " failure");
    }
    auto c = TryCreate(name);
    ASSERT_FALSE(c.ok()) << step;
    auto vm = store_->GetVm(name);
    ASSERT_TRUE(vm.ok());
    EXPECT_EQ(vm->state, VmState::kError) << step;
    ExpectNothingAttached(step);
    EXPECT_FALSE(PathExists(vm->runtime.vm_dir + "/handles.json")) << step;
    EXPECT_FALSE(svc_->Get(name)->handles.has_value()) << step;
    EXPECT_EQ(procs_.Count(), 0u) << step;
    dm_.fail.clear();
    qemu_.launch_error = Error(ErrorKind::kInternal, "");
    // With the cause gone, the same VM starts.
    auto s = svc_->Start(name);
    ASSERT_TRUE(s.ok()) << step << ": " << s.error().message();
    ASSERT_TRUE(svc_->Stop(name, std::nullopt).ok());
    ExpectNothingAttached(step);
  }
}

TEST_F(VmServiceDmTest, StopAndDeleteTearEverythingDown) {
  VmRecord vm = MustCreate("t1");
  ASSERT_FALSE(dm_.Snapshots().empty());
  ASSERT_TRUE(svc_->Stop("t1", std::nullopt).ok());
  ExpectNothingAttached("stop");
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir + "/handles.json"));
  EXPECT_TRUE(PathExists(vm.runtime.system_overlay_path)) << "the COW store is durable";
  // The snapshot goes before its loops.
  auto calls = dm_.Calls();
  auto at = [&](const std::string& c) { return std::find(calls.rbegin(), calls.rend(), c) - calls.rbegin(); };
  EXPECT_LT(at("detach /dev/loop0"), at("remove banger-" + vm.id.substr(0, 16)));
  EXPECT_LT(at("detach /dev/loop1"), at("remove banger-" + vm.id.substr(0, 16)));

  ASSERT_TRUE(svc_->Start("t1").ok());
  EXPECT_EQ(dm_.Snapshots().size(), 1u);
  ASSERT_TRUE(svc_->Restart("t1", std::nullopt).ok());
  EXPECT_EQ(dm_.Snapshots().size(), 1u);
  EXPECT_EQ(dm_.Loops().size(), 2u) << "a restart does not leak loops";
  ASSERT_TRUE(svc_->Delete("t1", false).ok());
  ExpectNothingAttached("delete");
  EXPECT_EQ(procs_.Count(), 0u);
}

TEST_F(VmServiceDmTest, SweepOfExitedVmTearsDown) {
  MustCreate("t1");
  procs_.Kill(svc_->Get("t1")->handles->pid);  // the guest powered off
  svc_->SweepDead();
  EXPECT_EQ(store_->GetVm("t1")->state, VmState::kStopped);
  ExpectNothingAttached("sweep");
}

TEST_F(VmServiceDmTest, ReconcileOfDeadVmTearsDownWhatHandlesJsonNames) {
  VmRecord vm = MustCreate("t1");
  procs_.Kill(svc_->Get("t1")->handles->pid);  // the VMM died with the daemon down
  svc_ = MakeDmService();                      // a new daemon: empty cache
  ASSERT_TRUE(Reconcile().ok());
  EXPECT_EQ(store_->GetVm("t1")->state, VmState::kStopped);
  // The base loop is only known from handles.json (rediscovery cannot tell it
  // from other VMs' loops of the same image).
  ExpectNothingAttached("reconcile");
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir + "/handles.json"));
}

TEST_F(VmServiceDmTest, ReconcileReadoptsLiveDmVm) {
  MustCreate("t1");
  VmHandles before = *svc_->Get("t1")->handles;
  svc_ = MakeDmService();
  ASSERT_TRUE(Reconcile().ok());
  auto v = svc_->Get("t1");
  ASSERT_TRUE(v.ok() && v->handles.has_value());
  EXPECT_EQ(v->vm.state, VmState::kRunning);
  EXPECT_EQ(v->handles->dm_dev, before.dm_dev);
  EXPECT_EQ(v->handles->base_loop, before.base_loop);
  EXPECT_EQ(dm_.Snapshots().size(), 1u) << "a live VM keeps its root";
  ASSERT_TRUE(svc_->Stop("t1", std::nullopt).ok());
  ExpectNothingAttached("stop after re-adopt");
}

TEST_F(VmServiceDmTest, ReconcileTearsDownAStartInterruptedBeforeLaunch) {
  // The daemon died between setting up the dm root and launching: the store
  // never said running, but handles.json names the devices.
  VmRecord vm = MustCreate("t1", /*no_start=*/true);
  auto h = SetUpDmRoot(dm_, vm.id, root_ + "/rootfs.ext4", vm.runtime.system_overlay_path);
  ASSERT_TRUE(h.ok()) << h.error().message();
  ASSERT_TRUE(WriteHandlesFile(vm.runtime.vm_dir, *h).ok());
  svc_ = MakeDmService();
  ASSERT_TRUE(Reconcile().ok());
  ExpectNothingAttached("interrupted start");
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir + "/handles.json"));
}

TEST_F(VmServiceDmTest, FailedTeardownIsRememberedAndRetried) {
  VmRecord vm = MustCreate("t1");
  dm_.fail["remove"] = Error::Internal("dmsetup remove failed: Device or resource busy");
  ASSERT_TRUE(svc_->Stop("t1", std::nullopt).ok());
  auto left = ReadHandlesFile(vm.runtime.vm_dir);
  ASSERT_TRUE(left.ok() && left->has_value()) << "the scratch file keeps naming what is left";
  EXPECT_EQ((*left)->dm_name, "banger-" + vm.id.substr(0, 16));
  EXPECT_EQ((*left)->pid, 0);
  dm_.fail.clear();
  svc_ = MakeDmService();
  ASSERT_TRUE(Reconcile().ok());
  ExpectNothingAttached("retry");
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir + "/handles.json"));
}

TEST_F(VmServiceDmTest, UnavailableDeviceMapperIsAClearErrorState) {
  dm_.available = Error::Unavailable("no /dev/mapper/control");
  auto c = TryCreate("t1");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind(), ErrorKind::kUnavailable);
  EXPECT_NE(c.error().message().find("cow_mode = dm-snapshot but device-mapper is not available on this host "
                                     "(no /dev/mapper/control); use cow_mode = \"overlay\""),
            std::string::npos)
      << c.error().message();
  auto vm = store_->GetVm("t1");
  EXPECT_EQ(vm->state, VmState::kError);
  EXPECT_NE(vm->runtime.last_error.find("use cow_mode = \"overlay\""), std::string::npos);
  EXPECT_TRUE(qemu_.launches.empty());
  ExpectNothingAttached("unavailable");
  for (const auto& call : dm_.Calls()) EXPECT_EQ(call, "available");
}

TEST_F(VmServiceDmTest, DiskMadeForTheOtherModeIsRefused) {
  VmRecord vm = MustCreate("t1");
  ASSERT_TRUE(svc_->Stop("t1", std::nullopt).ok());
  // The kernel wrote its exception-store header into the COW file.
  {
    int fd = ::open(vm.runtime.system_overlay_path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "SnAp", 4, 0), 4);
    ::close(fd);
  }
  svc_ = MakeDmService(kCowModeOverlay);
  auto s = svc_->Start("t1");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::kConflict);
  EXPECT_NE(s.error().message().find("cow_mode = \"dm-snapshot\""), std::string::npos) << s.error().message();
  EXPECT_TRUE(qemu_.launches.size() == 1u);
  svc_ = MakeDmService();
  ASSERT_TRUE(svc_->Start("t1").ok()) << "back in its mode it starts";
}

}  // namespace
}  // namespace banger
