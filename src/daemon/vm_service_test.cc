// The VM lifecycle state machine against a fake backend, fake processes and
// fake disks, over a real (in-memory) SQLite store.
#include "daemon/vm_service.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "base/fs.h"
#include "daemon/fakes.h"
#include "daemon/monitor.h"
#include "net/fake_net_ops.h"

namespace banger {
namespace {

using testing::FakeBackend;
using testing::FakeDisks;
using testing::FakeProcs;
namespace fs = std::filesystem;

class VmServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Short: VM socket paths must fit in sun_path.
    static int counter = 0;
    root_ = "/tmp/bgs-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    fs::remove_all(root_);
    fs::create_directories(root_ + "/vms");
    auto s = Store::Open(root_ + "/banger.db");
    ASSERT_TRUE(s.ok()) << s.error().message();
    store_ = std::move(*s);
    events_ = std::make_unique<EventLog>(*store_);
    // Image files must exist.
    for (const char* f : {"vmlinux", "rootfs.ext4", "initrd.img"}) {
      ASSERT_TRUE(WriteFileAtomic(root_ + "/" + f, "x").ok());
    }
    svc_ = MakeService();
    auto img = svc_->ImportImage({"base", root_ + "/vmlinux", root_ + "/rootfs.ext4", root_ + "/initrd.img", "", ""});
    ASSERT_TRUE(img.ok()) << img.error().message();
  }
  void TearDown() override { fs::remove_all(root_); }

  // A fresh service over the same store and home: what a restarted daemon sees.
  std::unique_ptr<VmService> MakeService() {
    VmServiceDeps d;
    d.home = HomeLayout{root_};
    d.config.default_image_name = "base";
    d.store = store_.get();
    d.events = events_.get();
    d.procs = &procs_;
    d.disks = &disks_;
    d.backends = {{BackendKind::kQemu, &qemu_}, {BackendKind::kFirecracker, &fc_}};
    d.default_backend = BackendKind::kQemu;
    return std::make_unique<VmService>(d);
  }

  VMRecord MustCreate(const std::string& name, bool no_start = false) {
    CreateVMRequest r;
    r.name = name;
    r.no_start = no_start;
    auto c = svc_->Create(r);
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message());
    return c.ok() ? c->view.vm : VMRecord{};
  }

  std::vector<std::string> EventTypes() {
    auto evs = store_->EventsAfter(0, 1000);
    std::vector<std::string> out;
    for (const auto& e : *evs) {
      out.push_back(e.type == "vm.state" ? "state:" + e.data["to"].get<std::string>() : e.type);
    }
    return out;
  }

  std::string root_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<EventLog> events_;
  FakeProcs procs_;
  FakeDisks disks_;
  FakeBackend qemu_{BackendKind::kQemu, procs_};
  FakeBackend fc_{BackendKind::kFirecracker, procs_};
  std::unique_ptr<VmService> svc_;
};

TEST_F(VmServiceTest, CreateStartsAndRecordsHandlesOutsideTheStore) {
  VMRecord vm = MustCreate("t1");
  EXPECT_EQ(vm.state, VMState::kRunning);
  EXPECT_EQ(vm.spec.vcpu_count, 2);
  EXPECT_EQ(vm.spec.memory_mib, 2048);
  EXPECT_EQ(vm.runtime.dns_name, "t1.vm");
  EXPECT_FALSE(vm.runtime.boot_id.empty());
  ASSERT_EQ(qemu_.launches.size(), 1u);
  const LaunchSpec& ls = qemu_.launches[0];
  EXPECT_NE(ls.kernel_cmdline.find("banger.hostname=t1"), std::string::npos);
  ASSERT_EQ(ls.drives.size(), 3u);
  EXPECT_TRUE(ls.drives[0].read_only);
  EXPECT_EQ(ls.drives[1].path, vm.runtime.system_overlay_path);
  EXPECT_EQ(ls.drives[2].path, vm.runtime.work_disk_path);
  EXPECT_TRUE(PathExists(vm.runtime.work_disk_path));
  EXPECT_EQ(disks_.SizeOf(vm.runtime.work_disk_path), 8 * kGiB);

  auto scratch = ReadHandlesFile(vm.runtime.vm_dir);
  ASSERT_TRUE(scratch.ok() && scratch->has_value());
  auto view = svc_->Get("t1");
  ASSERT_TRUE(view.ok());
  ASSERT_TRUE(view->handles.has_value());
  EXPECT_EQ(view->handles->pid, (*scratch)->pid);
  EXPECT_TRUE(svc_->VmAlive(view->vm));
  EXPECT_EQ(EventTypes(), (std::vector<std::string>{"image.created", "vm.created", "state:running"}));
}

TEST_F(VmServiceTest, StopStartRestartCycle) {
  VMRecord vm = MustCreate("t1", /*no_start=*/true);
  EXPECT_EQ(vm.state, VMState::kCreated);
  EXPECT_TRUE(qemu_.launches.empty());
  ASSERT_TRUE(svc_->Start("t1").ok());
  auto stopped = svc_->Stop("t1", std::chrono::milliseconds(1500));
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->vm.state, VMState::kStopped);
  EXPECT_FALSE(stopped->handles.has_value());
  EXPECT_EQ(qemu_.shutdowns.back(), std::chrono::milliseconds(1500));
  EXPECT_EQ(procs_.Count(), 0u);
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir + "/handles.json"));
  // Stop again is a no-op success.
  ASSERT_TRUE(svc_->Stop("t1", std::nullopt).ok());
  auto started = svc_->Start("t1");
  ASSERT_TRUE(started.ok());
  std::string boot1 = started->vm.runtime.boot_id;
  auto restarted = svc_->Restart("t1", std::nullopt);
  ASSERT_TRUE(restarted.ok());
  EXPECT_EQ(restarted->vm.state, VMState::kRunning);
  EXPECT_NE(restarted->vm.runtime.boot_id, boot1);
  EXPECT_EQ(procs_.Count(), 1u);
}

TEST_F(VmServiceTest, BadInputChangesNothing) {
  MustCreate("t1");
  size_t dirs = std::distance(fs::directory_iterator(root_ + "/vms"), {});
  CreateVMRequest dup;
  dup.name = "t1";
  auto r = svc_->Create(dup);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kConflict);
  EXPECT_NE(r.error().message().find("t1"), std::string::npos);

  CreateVMRequest bad_name;
  bad_name.name = "Bad_Name";
  EXPECT_EQ(svc_->Create(bad_name).error().kind(), ErrorKind::kInvalidArgument);

  CreateVMRequest bad_image;
  bad_image.name = "t2";
  bad_image.image = "nope";
  auto bi = svc_->Create(bad_image);
  ASSERT_FALSE(bi.ok());
  EXPECT_EQ(bi.error().kind(), ErrorKind::kNotFound);
  EXPECT_NE(bi.error().message().find("nope"), std::string::npos);

  CreateVMRequest too_big;
  too_big.name = "t3";
  too_big.work_disk_size_bytes = 200 * kGiB;
  EXPECT_EQ(svc_->Create(too_big).error().kind(), ErrorKind::kInvalidArgument);

  EXPECT_EQ(std::distance(fs::directory_iterator(root_ + "/vms"), {}), static_cast<long>(dirs));
  EXPECT_EQ(store_->ListVMs()->size(), 1u);
  EXPECT_EQ(qemu_.launches.size(), 1u);
}

TEST_F(VmServiceTest, LaunchFailureLeavesErrorStateAndNoLeaks) {
  qemu_.launch_error = Error::Unavailable("spawning qemu: No such file or directory");
  CreateVMRequest r;
  r.name = "t1";
  auto c = svc_->Create(r);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("No such file"), std::string::npos);
  auto vm = store_->GetVM("t1");
  ASSERT_TRUE(vm.ok());
  EXPECT_EQ(vm->state, VMState::kError);
  EXPECT_NE(vm->runtime.last_error.find("No such file"), std::string::npos);
  EXPECT_EQ(procs_.Count(), 0u);
  EXPECT_FALSE(PathExists(vm->runtime.vm_dir + "/handles.json"));
  // Fixing the cause and starting again works; last_error is cleared.
  qemu_.launch_error = Error(ErrorKind::kInternal, "");
  auto s = svc_->Start("t1");
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->vm.state, VMState::kRunning);
  EXPECT_TRUE(s->vm.runtime.last_error.empty());
}

TEST_F(VmServiceTest, UnavailableBackendIsAnErrorState) {
  qemu_.available = Error::Unavailable("qemu-system-x86_64: not found in PATH");
  CreateVMRequest r;
  r.name = "t1";
  auto c = svc_->Create(r);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(store_->GetVM("t1")->state, VMState::kError);
  EXPECT_TRUE(qemu_.launches.empty());
}

TEST_F(VmServiceTest, CreateIsIdempotentByRequestId) {
  CreateVMRequest r;
  r.request_id = "req-42";
  auto a = svc_->Create(r);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->created);
  auto b = svc_->Create(r);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->created);
  EXPECT_EQ(a->view.vm.id, b->view.vm.id);
  EXPECT_EQ(store_->ListVMs()->size(), 1u);
  EXPECT_EQ(qemu_.launches.size(), 1u);
}

TEST_F(VmServiceTest, SetRefusesRunningAndShrinking) {
  MustCreate("t1");
  SetVMRequest s;
  s.vcpu_count = 4;
  auto r = svc_->Set("t1", s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kConflict);
  EXPECT_NE(r.error().message().find("running"), std::string::npos);
  EXPECT_NE(r.error().message().find("stop"), std::string::npos);
  SetVMRequest nat;
  nat.nat_enabled = true;  // live changes are fine, but this daemon has no networking
  auto no_net = svc_->Set("t1", nat);
  ASSERT_FALSE(no_net.ok());
  EXPECT_EQ(no_net.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_NE(no_net.error().message().find("network = \"on\""), std::string::npos) << no_net.error().message();
  CreateVMRequest c;
  c.name = "t2";
  c.nat_enabled = true;
  EXPECT_FALSE(svc_->Create(c).ok());
  EXPECT_FALSE(store_->GetVM("t2").ok()) << "refused before anything was made";

  ASSERT_TRUE(svc_->Stop("t1", std::nullopt).ok());
  s.memory_mib = 1024;
  s.work_disk_size_bytes = 10 * kGiB;
  auto ok = svc_->Set("t1", s);
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(ok->vm.spec.vcpu_count, 4);
  EXPECT_EQ(ok->vm.spec.memory_mib, 1024);
  EXPECT_FALSE(ok->vm.spec.nat_enabled);
  EXPECT_EQ(disks_.SizeOf(ok->vm.runtime.work_disk_path), 10 * kGiB);

  SetVMRequest shrink;
  shrink.work_disk_size_bytes = kGiB;
  auto sh = svc_->Set("t1", shrink);
  ASSERT_FALSE(sh.ok());
  EXPECT_NE(sh.error().message().find("shrink"), std::string::npos);
  SetVMRequest zero;
  zero.vcpu_count = 0;
  EXPECT_EQ(svc_->Set("t1", zero).error().kind(), ErrorKind::kInvalidArgument);
}

TEST_F(VmServiceTest, DeleteRemovesEverything) {
  VMRecord vm = MustCreate("t1");
  auto id = svc_->Delete("t1", false);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, vm.id);
  EXPECT_EQ(procs_.Count(), 0u);
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir));
  EXPECT_EQ(store_->GetVM(vm.id).error().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(svc_->Delete("t1", false).error().kind(), ErrorKind::kNotFound);
  auto again = svc_->Delete("t1", true);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, "");
}

TEST_F(VmServiceTest, ImageInUseCannotBeDeleted) {
  MustCreate("t1", true);
  auto r = svc_->DeleteImage("base");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kConflict);
  ASSERT_TRUE(svc_->Delete("t1", false).ok());
  EXPECT_TRUE(svc_->DeleteImage("base").ok());
}

TEST_F(VmServiceTest, ImportValidatesPaths) {
  auto r = svc_->ImportImage({"other", root_ + "/missing", root_ + "/rootfs.ext4", "", "", ""});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("does not exist"), std::string::npos);
  EXPECT_FALSE(svc_->ImportImage({"other", "relative/vmlinux", root_ + "/rootfs.ext4", "", "", ""}).ok());
  EXPECT_FALSE(svc_->ImportImage({"Bad Name", root_ + "/vmlinux", root_ + "/rootfs.ext4", "", "", ""}).ok());
  auto dup = svc_->ImportImage({"base", root_ + "/vmlinux", root_ + "/rootfs.ext4", "", "", ""});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().kind(), ErrorKind::kConflict);
}

TEST_F(VmServiceTest, ReconcileReadoptsLiveVm) {
  VMRecord vm = MustCreate("t1");
  pid_t pid = svc_->Get("t1")->handles->pid;
  // The daemon dies (kill -9): a new one starts over the same store and home.
  svc_ = MakeService();
  ASSERT_TRUE(svc_->Reconcile().ok());
  auto v = svc_->Get("t1");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->vm.state, VMState::kRunning);
  ASSERT_TRUE(v->handles.has_value());
  EXPECT_EQ(v->handles->pid, pid);
  // And it can be stopped by the new daemon.
  ASSERT_TRUE(svc_->Stop("t1", std::nullopt).ok());
  EXPECT_EQ(procs_.Count(), 0u);
}

TEST_F(VmServiceTest, ReconcilePrefersProcessTableOverScratch) {
  VMRecord vm = MustCreate("t1");
  pid_t real = svc_->Get("t1")->handles->pid;
  VMHandles stale;
  stale.pid = 99999;
  ASSERT_TRUE(WriteHandlesFile(vm.runtime.vm_dir, stale).ok());
  svc_ = MakeService();
  ASSERT_TRUE(svc_->Reconcile().ok());
  EXPECT_EQ(svc_->Get("t1")->handles->pid, real);
  EXPECT_EQ((*ReadHandlesFile(vm.runtime.vm_dir))->pid, real);
}

TEST_F(VmServiceTest, ReconcileDemotesDeadVmAndCleansUp) {
  VMRecord vm = MustCreate("t1");
  pid_t pid = svc_->Get("t1")->handles->pid;
  procs_.Kill(pid);  // the VMM died while no daemon was watching
  svc_ = MakeService();
  ASSERT_TRUE(svc_->Reconcile().ok());
  auto v = svc_->Get("t1");
  EXPECT_EQ(v->vm.state, VMState::kStopped);
  EXPECT_FALSE(v->handles.has_value());
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir + "/handles.json"));
  EXPECT_TRUE(PathExists(vm.runtime.work_disk_path)) << "durable files stay";
}

TEST_F(VmServiceTest, ReconcileKillsStraysAndRemovesOrphans) {
  VMRecord vm = MustCreate("t1", true);
  // An interrupted start: the VMM runs but the store still says created.
  procs_.Add({"qemu", "-qmp", "unix:" + vm.runtime.api_sock_path + ",server=on"});
  // An interrupted create: a directory without a row.
  std::string orphan = root_ + "/vms/" + NewID().substr(0, 16);
  fs::create_directories(orphan);
  procs_.Add({"qemu", "-qmp", "unix:" + orphan + "/api.sock,server=on"});
  svc_ = MakeService();
  ASSERT_TRUE(svc_->Reconcile().ok());
  EXPECT_EQ(procs_.Count(), 0u);
  EXPECT_FALSE(PathExists(orphan));
  EXPECT_TRUE(PathExists(vm.runtime.vm_dir));
}

TEST_F(VmServiceTest, SweepDemotesVmWhoseVmmExited) {
  MustCreate("t1");
  procs_.Kill(svc_->Get("t1")->handles->pid);
  svc_->SweepDead();
  EXPECT_EQ(store_->GetVM("t1")->state, VMState::kStopped);
  auto types = EventTypes();
  EXPECT_EQ(types.back(), "state:stopped");
}

TEST_F(VmServiceTest, ConcurrentStartsOfOneVmLaunchOnce) {
  MustCreate("t1", true);
  std::vector<std::thread> ts;
  ts.reserve(6);
  for (int i = 0; i < 6; ++i) ts.emplace_back([this] { EXPECT_TRUE(svc_->Start("t1").ok()); });
  for (auto& t : ts) t.join();
  EXPECT_EQ(qemu_.launches.size(), 1u);
  EXPECT_EQ(procs_.Count(), 1u);
}

TEST_F(VmServiceTest, BackendOverridePerVm) {
  CreateVMRequest r;
  r.name = "fc1";
  r.backend = "firecracker";
  auto c = svc_->Create(r);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->view.vm.spec.backend, BackendKind::kFirecracker);
  EXPECT_EQ(fc_.launches.size(), 1u);
  EXPECT_FALSE(fc_.launches[0].vsock_path.empty());
  EXPECT_GE(fc_.launches[0].vsock_cid, 3u);
  r.name = "x";
  r.backend = "xen";
  EXPECT_EQ(svc_->Create(r).error().kind(), ErrorKind::kInvalidArgument);
}

TEST_F(VmServiceTest, ListFiltersByLabel) {
  CreateVMRequest a;
  a.name = "a";
  a.no_start = true;
  a.labels = {{"team", "infra"}};
  ASSERT_TRUE(svc_->Create(a).ok());
  CreateVMRequest b;
  b.name = "b";
  b.no_start = true;
  b.labels = {{"team", "web"}};
  ASSERT_TRUE(svc_->Create(b).ok());
  auto l = svc_->List({{"team", "infra"}});
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), 1u);
  EXPECT_EQ((*l)[0].vm.name, "a");
  EXPECT_EQ(svc_->List({})->size(), 2u);
}

TEST_F(VmServiceTest, ReadLogsFromOffset) {
  VMRecord vm = MustCreate("t1");
  ASSERT_TRUE(WriteFileAtomic(vm.runtime.log_path, "Linux version 6.1\nhello\n").ok());
  auto c = svc_->ReadLogs("t1", 0, 1 << 20, std::chrono::milliseconds(0));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->data, "Linux version 6.1\nhello\n");
  auto d = svc_->ReadLogs("t1", c->next_offset, 1 << 20, std::chrono::milliseconds(200));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->data, "");
  EXPECT_EQ(d->next_offset, c->next_offset);
}

}  // namespace
}  // namespace banger

// ---- cow_mode = "dm-snapshot": loops + dm snapshot on the host (fake) ----

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

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
    d.dm = &dm_;
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
};

TEST_F(VmServiceDmTest, StartRecordsLoopsAndDmInHandlesOnlyNeverInTheStore) {
  VMRecord vm = MustCreate("t1");
  ASSERT_EQ(vm.state, VMState::kRunning);
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
  const VMHandles& h = **scratch;
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
  std::string record = ToJson(*store_->GetVM("t1")).dump();
  std::string db = ReadAll(root_ + "/banger.db") + ReadAll(root_ + "/banger.db-wal");
  ASSERT_FALSE(db.empty());
  for (const std::string& s : {std::string("/dev/loop"), std::string("/dev/mapper"), dm_name}) {
    EXPECT_EQ(record.find(s), std::string::npos) << s;
    EXPECT_EQ(db.find(s), std::string::npos) << s;
  }
}

TEST_F(VmServiceDmTest, LaunchSpecBootsFromTheSnapshot) {
  VMRecord vm = MustCreate("t1");
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
  VMRecord vm = MustCreate("t1");
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
    CreateVMRequest r;
    r.name = name;
    auto c = svc_->Create(r);
    ASSERT_FALSE(c.ok()) << step;
    auto vm = store_->GetVM(name);
    ASSERT_TRUE(vm.ok());
    EXPECT_EQ(vm->state, VMState::kError) << step;
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
  VMRecord vm = MustCreate("t1");
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
  EXPECT_EQ(store_->GetVM("t1")->state, VMState::kStopped);
  ExpectNothingAttached("sweep");
}

TEST_F(VmServiceDmTest, ReconcileOfDeadVmTearsDownWhatHandlesJsonNames) {
  VMRecord vm = MustCreate("t1");
  procs_.Kill(svc_->Get("t1")->handles->pid);  // the VMM died with the daemon down
  svc_ = MakeDmService();  // a new daemon: empty cache
  ASSERT_TRUE(svc_->Reconcile().ok());
  EXPECT_EQ(store_->GetVM("t1")->state, VMState::kStopped);
  // The base loop is only known from handles.json (rediscovery cannot tell it
  // from other VMs' loops of the same image).
  ExpectNothingAttached("reconcile");
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir + "/handles.json"));
}

TEST_F(VmServiceDmTest, ReconcileReadoptsLiveDmVm) {
  MustCreate("t1");
  VMHandles before = *svc_->Get("t1")->handles;
  svc_ = MakeDmService();
  ASSERT_TRUE(svc_->Reconcile().ok());
  auto v = svc_->Get("t1");
  ASSERT_TRUE(v.ok() && v->handles.has_value());
  EXPECT_EQ(v->vm.state, VMState::kRunning);
  EXPECT_EQ(v->handles->dm_dev, before.dm_dev);
  EXPECT_EQ(v->handles->base_loop, before.base_loop);
  EXPECT_EQ(dm_.Snapshots().size(), 1u) << "a live VM keeps its root";
  ASSERT_TRUE(svc_->Stop("t1", std::nullopt).ok());
  ExpectNothingAttached("stop after re-adopt");
}

TEST_F(VmServiceDmTest, ReconcileTearsDownAStartInterruptedBeforeLaunch) {
  // The daemon died between setting up the dm root and launching: the store
  // never said running, but handles.json names the devices.
  VMRecord vm = MustCreate("t1", /*no_start=*/true);
  auto h = SetUpDmRoot(dm_, vm.id, root_ + "/rootfs.ext4", vm.runtime.system_overlay_path);
  ASSERT_TRUE(h.ok()) << h.error().message();
  ASSERT_TRUE(WriteHandlesFile(vm.runtime.vm_dir, *h).ok());
  svc_ = MakeDmService();
  ASSERT_TRUE(svc_->Reconcile().ok());
  ExpectNothingAttached("interrupted start");
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir + "/handles.json"));
}

TEST_F(VmServiceDmTest, FailedTeardownIsRememberedAndRetried) {
  VMRecord vm = MustCreate("t1");
  dm_.fail["remove"] = Error::Internal("dmsetup remove failed: Device or resource busy");
  ASSERT_TRUE(svc_->Stop("t1", std::nullopt).ok());
  auto left = ReadHandlesFile(vm.runtime.vm_dir);
  ASSERT_TRUE(left.ok() && left->has_value()) << "the scratch file keeps naming what is left";
  EXPECT_EQ((*left)->dm_name, "banger-" + vm.id.substr(0, 16));
  EXPECT_EQ((*left)->pid, 0);
  dm_.fail.clear();
  svc_ = MakeDmService();
  ASSERT_TRUE(svc_->Reconcile().ok());
  ExpectNothingAttached("retry");
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir + "/handles.json"));
}

TEST_F(VmServiceDmTest, UnavailableDeviceMapperIsAClearErrorState) {
  dm_.available = Error::Unavailable("no /dev/mapper/control");
  CreateVMRequest r;
  r.name = "t1";
  auto c = svc_->Create(r);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind(), ErrorKind::kUnavailable);
  EXPECT_NE(c.error().message().find("cow_mode = dm-snapshot but device-mapper is not available on this host "
                                     "(no /dev/mapper/control); use cow_mode = \"overlay\""),
            std::string::npos)
      << c.error().message();
  auto vm = store_->GetVM("t1");
  EXPECT_EQ(vm->state, VMState::kError);
  EXPECT_NE(vm->runtime.last_error.find("use cow_mode = \"overlay\""), std::string::npos);
  EXPECT_TRUE(qemu_.launches.empty());
  ExpectNothingAttached("unavailable");
  for (const auto& call : dm_.Calls()) EXPECT_EQ(call, "available");
}

TEST_F(VmServiceDmTest, DiskMadeForTheOtherModeIsRefused) {
  VMRecord vm = MustCreate("t1");
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

// ---------------- with host networking (on a fake NetOps) ----------------

class VmServiceNetTest : public VmServiceTest {
 protected:
  void SetUp() override {
    VmServiceTest::SetUp();
    if (HasFatalFailure()) return;
    cfg_.default_image_name = "base";
    cfg_.network = "on";
    cfg_.tap_pool_size = 2;
    auto n = VmNetwork::Create(net_, cfg_);
    ASSERT_TRUE(n.ok()) << n.error().message();
    network_ = std::move(*n);
    svc_ = MakeNetService();
  }
  std::unique_ptr<VmService> MakeNetService() {
    VmServiceDeps d;
    d.home = HomeLayout{root_};
    d.config = cfg_;
    d.store = store_.get();
    d.events = events_.get();
    d.procs = &procs_;
    d.disks = &disks_;
    d.network = network_.get();
    d.backends = {{BackendKind::kQemu, &qemu_}, {BackendKind::kFirecracker, &fc_}};
    d.default_backend = BackendKind::kQemu;
    return std::make_unique<VmService>(d);
  }
  std::string TapOf(const std::string& name) {
    auto v = svc_->Get(name);
    return v.ok() && v->handles ? v->handles->tap_device : "";
  }
  int NatRulesOf(const std::string& vm_id) {
    auto t = net_.Table("ip", "banger");
    if (!t) return 0;
    int n = 0;
    for (const auto& r : t->rules) n += r.comment == "banger-vm:" + vm_id ? 1 : 0;
    return n;
  }
  DaemonConfig cfg_;
  testing::FakeNetOps net_;
  std::unique_ptr<VmNetwork> network_;
};

TEST_F(VmServiceNetTest, AddressTapNatAndTheirReturn) {
  VMRecord a = MustCreate("a");
  VMRecord b = MustCreate("b");
  EXPECT_EQ(a.runtime.guest_ip, "172.16.0.2");
  EXPECT_EQ(b.runtime.guest_ip, "172.16.0.3");
  ASSERT_EQ(qemu_.launches.size(), 2u);
  EXPECT_EQ(qemu_.launches[0].guest_mac, "06:00:ac:10:00:02");
  EXPECT_NE(qemu_.launches[0].kernel_cmdline.find("banger.ip=172.16.0.2/24"), std::string::npos);
  std::string tap_a = TapOf("a");
  ASSERT_FALSE(tap_a.empty());
  EXPECT_EQ(qemu_.launches[0].tap_device, tap_a);
  EXPECT_EQ(net_.Link(tap_a)->master, "br-fc");
  EXPECT_EQ(net_.Link("br-fc")->mac, "0a:00:ac:10:00:01");

  // NAT follows `vm set` live, and only for that VM.
  SetVMRequest on;
  on.nat_enabled = true;
  ASSERT_TRUE(svc_->Set("a", on).ok());
  EXPECT_EQ(NatRulesOf(a.id), 3);
  EXPECT_EQ(NatRulesOf(b.id), 0);
  EXPECT_TRUE(net_.ip_forward());

  // A restarted daemon keeps live VMs' taps and rules.
  svc_ = MakeNetService();
  ASSERT_TRUE(svc_->Reconcile().ok());
  EXPECT_EQ(TapOf("a"), tap_a);
  EXPECT_EQ(NatRulesOf(a.id), 3);

  // Stop: the tap goes back (pool of 2), the rules go; the address stays.
  ASSERT_TRUE(svc_->Stop("a", std::nullopt).ok());
  EXPECT_EQ(NatRulesOf(a.id), 0);
  auto taps = [&] {
    int n = 0;
    for (const auto& l : net_.LinkNames()) n += l.rfind("bgtap", 0) == 0 ? 1 : 0;
    return n;
  };
  EXPECT_EQ(taps(), 3) << "b's tap + a full pool of 2 (a's tap was deleted, the pool being full)";
  ASSERT_TRUE(svc_->Start("a").ok());
  EXPECT_EQ(svc_->Get("a")->vm.runtime.guest_ip, "172.16.0.2");
  EXPECT_EQ(NatRulesOf(a.id), 3) << "nat_enabled is durable";

  // Delete both: only the pool's taps and no rule remain; the address is free.
  ASSERT_TRUE(svc_->Delete("a", false).ok());
  ASSERT_TRUE(svc_->Delete("b", false).ok());
  EXPECT_EQ(taps(), 2);
  EXPECT_FALSE(net_.Table("ip", "banger").has_value());
  EXPECT_EQ(MustCreate("c").runtime.guest_ip, "172.16.0.2");
}

TEST_F(VmServiceNetTest, ExhaustedSubnetIsAClearErrorAndMakesNothing) {
  cfg_.cidr = "30";  // 172.16.0.0/30: .1 is the bridge, .2 the only guest address
  auto n = VmNetwork::Create(net_, cfg_);
  ASSERT_TRUE(n.ok());
  network_ = std::move(*n);
  svc_ = MakeNetService();
  MustCreate("a", /*no_start=*/true);
  CreateVMRequest r;
  r.name = "b";
  r.no_start = true;
  auto c = svc_->Create(r);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("172.16.0.0/30"), std::string::npos) << c.error().message();
  EXPECT_FALSE(store_->GetVM("b").ok());
}

// ---------------- VmMonitor: stats, metrics, auto-stop ----------------

class VmMonitorTest : public VmServiceTest {
 protected:
  void SetUp() override {
    VmServiceTest::SetUp();
    if (HasFatalFailure()) return;
    monitor_ = std::make_unique<VmMonitor>(
        *svc_, *store_, procs_, std::map<BackendKind, VmmBackend*>{{BackendKind::kQemu, &qemu_}});
  }
  pid_t PidOf(const std::string& name) { return svc_->Get(name)->handles->pid; }
  std::unique_ptr<VmMonitor> monitor_;
};

TEST_F(VmMonitorTest, StatsCpuMemoryAndDisksOnTheHost) {
  VMRecord vm = MustCreate("t1");
  MustCreate("idle", /*no_start=*/true);
  pid_t pid = PidOf("t1");
  procs_.SetUsage(pid, ProcUsage{0, 300 << 20, 2LL << 30});
  auto before = std::chrono::steady_clock::now();
  monitor_->CollectStats();
  auto got = store_->GetVM("t1");
  EXPECT_EQ(got->stats.rss_bytes, 300 << 20);
  EXPECT_EQ(got->stats.vsz_bytes, 2LL << 30);
  EXPECT_DOUBLE_EQ(got->stats.cpu_percent, 0) << "no interval yet";
  EXPECT_EQ(got->stats.work_disk_bytes, AllocatedBytes(vm.runtime.work_disk_path));
  EXPECT_NE(got->stats.collected_at, Timestamp{});
  EXPECT_EQ(store_->GetVM("idle")->stats.collected_at, Timestamp{}) << "not running: not sampled";

  // 2 s of CPU over (at least) 100 ms of wall time: far above 100 %, and
  // bounded by the elapsed wall time.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  procs_.SetUsage(pid, ProcUsage{2'000'000'000, 300 << 20, 2LL << 30});
  monitor_->CollectStats();
  double elapsed_ns = static_cast<double>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - before).count());
  double cpu = store_->GetVM("t1")->stats.cpu_percent;
  EXPECT_LE(cpu, 100.0 * 2e9 / 1e8);
  EXPECT_GE(cpu, 100.0 * 2e9 / elapsed_ns);

  // `vm stats` on demand: a fresh sample (the VM's metrics survive it).
  monitor_->CollectMetrics();
  auto now = monitor_->StatsNow("t1", std::chrono::milliseconds(10));
  ASSERT_TRUE(now.ok()) << now.error().message();
  EXPECT_EQ(now->stats.rss_bytes, 300 << 20);
  EXPECT_EQ(now->stats.metrics_raw["vcpu"]["exit_io_out"], 7);
  EXPECT_FALSE(monitor_->StatsNow("nope").ok());
}

TEST_F(VmMonitorTest, MetricsComeFromTheVmmAndStatsKeepThem) {
  MustCreate("t1");
  monitor_->CollectMetrics();
  EXPECT_EQ(qemu_.metrics_calls, 1);
  EXPECT_EQ(store_->GetVM("t1")->stats.metrics_raw["vcpu"]["exit_io_out"], 7);
  monitor_->CollectStats();
  EXPECT_EQ(store_->GetVM("t1")->stats.metrics_raw["vcpu"]["exit_io_out"], 7) << "a stats pass keeps metrics";
  ASSERT_TRUE(svc_->Stop("t1", std::nullopt).ok());
  monitor_->CollectMetrics();
  EXPECT_EQ(qemu_.metrics_calls, 1) << "stopped VMs are not asked";
}

TEST_F(VmMonitorTest, AutoStopTakesOnlyIdleVmsWithoutLiveSessions) {
  MustCreate("busy");
  MustCreate("idle");
  MustCreate("worker");
  Timestamp now = Now();
  // Everything was touched at start; an hour later, "busy" was just used and
  // "worker" runs a session.
  ASSERT_TRUE(store_->TouchVM(store_->GetVM("busy")->id, now + std::chrono::hours(1)).ok());
  GuestSession s;
  s.id = NewID();
  s.vm_id = store_->GetVM("worker")->id;
  s.name = "job";
  s.command = "sleep";
  s.status = GuestSessionStatus::kRunning;
  ASSERT_TRUE(store_->UpsertSession(s).ok());

  auto stopped = monitor_->StopStale(now + std::chrono::hours(1), std::chrono::minutes(30));
  EXPECT_EQ(stopped, std::vector<std::string>{"idle"});
  EXPECT_EQ(store_->GetVM("idle")->state, VMState::kStopped);
  EXPECT_EQ(store_->GetVM("busy")->state, VMState::kRunning);
  EXPECT_EQ(store_->GetVM("worker")->state, VMState::kRunning);
  auto evs = store_->EventsAfter(0, 1000);
  bool said = false;
  for (const auto& e : *evs) said |= e.data.dump().find("auto-stopped: idle for 30m") != std::string::npos;
  EXPECT_TRUE(said) << "the stop's reason is in the event";

  // The session ends: the worker goes at the next sweep; 0 disables it all.
  s.status = GuestSessionStatus::kExited;
  ASSERT_TRUE(store_->UpsertSession(s).ok());
  EXPECT_TRUE(monitor_->StopStale(now + std::chrono::hours(1), std::chrono::seconds(0)).empty());
  EXPECT_EQ(monitor_->StopStale(now + std::chrono::hours(1), std::chrono::minutes(30)),
            std::vector<std::string>{"worker"});
}

}  // namespace
}  // namespace banger
