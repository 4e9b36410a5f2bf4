// The startup reconcile and the periodic sweep of dead VMs.

#include "daemon/reconcile.h"

#include "daemon/testing/vm_service_fixture.h"

namespace banger {
namespace {

TEST_F(VmServiceTest, ReconcileReadoptsLiveVm) {
  VmRecord vm = MustCreate("t1");
  pid_t pid = svc_->Get("t1")->handles->pid;
  // The daemon dies (kill -9): a new one starts over the same store and home.
  svc_ = MakeService();
  ASSERT_TRUE(Reconcile().ok());
  auto v = svc_->Get("t1");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->vm.state, VmState::kRunning);
  ASSERT_TRUE(v->handles.has_value());
  EXPECT_EQ(v->handles->pid, pid);
  // And it can be stopped by the new daemon.
  ASSERT_TRUE(svc_->Stop("t1", std::nullopt).ok());
  EXPECT_EQ(procs_.Count(), 0u);
}

TEST_F(VmServiceTest, ReconcileRecordsTheVmmIdentityAtSpawn) {
  VmRecord vm = MustCreate("t1");
  pid_t pid = svc_->Get("t1")->handles->pid;
  auto h = ReadHandlesFile(vm.runtime.vm_dir);
  ASSERT_TRUE(h.ok() && h->has_value());
  EXPECT_EQ(VmmIdentityOf(**h), procs_.IdentityOf(pid));
  EXPECT_EQ((*h)->vmm_uid, testing::FakeProcs::kVmmUid);
  EXPECT_GT((*h)->vmm_start_time, 0);
}

TEST_F(VmServiceTest, ReconcileDoesNotAdoptAProcessThatOnlyNamesOurSocket) {
  VmRecord vm = MustCreate("t1");
  pid_t ours = svc_->Get("t1")->handles->pid;
  procs_.Kill(ours);  // our VMM died while no daemon was watching
  // Another local user starts a process whose argv names the VM's control
  // socket and a file of root's as its "agent socket".
  std::string victim = root_ + "/victim";
  ASSERT_TRUE(WriteFileAtomic(victim, "precious").ok());
  pid_t foreign =
      procs_.AddAs({"qemu-system-x86_64", "-qmp", "unix:" + vm.runtime.api_sock_path + ",server=on",
                    "-chardev", "socket,id=ag,path=" + victim + ",server=on,wait=off"},
                   65534, testing::FakeProcs::kVmmExe);
  svc_ = MakeService();
  ASSERT_TRUE(Reconcile().ok());
  auto v = svc_->Get("t1");
  EXPECT_EQ(v->vm.state, VmState::kStopped) << "a stranger's process is not our VM";
  EXPECT_TRUE(procs_.Alive(foreign)) << "and it is not signalled";
  EXPECT_TRUE(procs_.signals().empty());
  EXPECT_TRUE(PathExists(victim)) << "no path from its argv is removed";
  // Starting the VM again leaves it alone too.
  ASSERT_TRUE(svc_->Start("t1").ok());
  ASSERT_TRUE(svc_->Stop("t1", std::nullopt).ok());
  EXPECT_TRUE(procs_.Alive(foreign));
  EXPECT_TRUE(PathExists(victim));
}

TEST_F(VmServiceTest, ReconcileDoesNotAdoptOrSignalARecycledPid) {
  VmRecord vm = MustCreate("t1", false);
  pid_t pid = svc_->Get("t1")->handles->pid;
  // The VMM exits and its pid goes to another user's process naming our socket.
  procs_.Recycle(pid, {"qemu-system-x86_64", "-qmp", "unix:" + vm.runtime.api_sock_path + ",server=on"},
                 65534, testing::FakeProcs::kVmmExe);
  svc_ = MakeService();
  ASSERT_TRUE(Reconcile().ok());
  EXPECT_EQ(svc_->Get("t1")->vm.state, VmState::kStopped);
  EXPECT_TRUE(procs_.Alive(pid));
  EXPECT_TRUE(procs_.signals().empty());
  // Same uid, another executable, same pid: not ours either.
  MustCreate("t2", true);
  ASSERT_TRUE(svc_->Start("t2").ok());
  pid_t pid2 = svc_->Get("t2")->handles->pid;
  procs_.Recycle(pid2, {"sleep", "1000"}, testing::FakeProcs::kVmmUid, testing::FakeProcs::kVmmExe + 1);
  svc_->SweepDead();
  EXPECT_EQ(store_->GetVm("t2")->state, VmState::kStopped);
  EXPECT_TRUE(procs_.Alive(pid2));
  EXPECT_TRUE(procs_.signals().empty());
}

TEST_F(VmServiceTest, ReconcileDemotesDeadVmAndCleansUp) {
  VmRecord vm = MustCreate("t1");
  pid_t pid = svc_->Get("t1")->handles->pid;
  procs_.Kill(pid);  // the VMM died while no daemon was watching
  svc_ = MakeService();
  ASSERT_TRUE(Reconcile().ok());
  auto v = svc_->Get("t1");
  EXPECT_EQ(v->vm.state, VmState::kStopped);
  EXPECT_FALSE(v->handles.has_value());
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir + "/handles.json"));
  EXPECT_TRUE(PathExists(vm.runtime.work_disk_path)) << "durable files stay";
}

TEST_F(VmServiceTest, ReconcileFailsSessionsLeftStartingAndRepollsStoppingOnes) {
  VmRecord vm = MustCreate("t1", /*no_start=*/true);  // a session left starting on it never started
  auto row = [&](const std::string& name, GuestSessionStatus status) {
    GuestSession s;
    s.id = NewId();
    s.vm_id = vm.id;
    s.name = name;
    s.command = "sleep";
    s.status = status;
    s.created_at = s.updated_at = Now();
    EXPECT_TRUE(store_->UpsertSession(s).ok());
  };
  // The daemon was killed (kill -9) mid-start and mid-stop.
  row("starting", GuestSessionStatus::kStarting);
  row("stopping", GuestSessionStatus::kStopping);
  row("done", GuestSessionStatus::kExited);
  svc_ = MakeService();
  ASSERT_TRUE(Reconcile().ok());
  auto starting = store_->GetSession("starting", vm.id);
  ASSERT_TRUE(starting.ok());
  EXPECT_EQ(starting->status, GuestSessionStatus::kFailed);
  EXPECT_EQ(starting->last_error, kInterruptedStartMessage);
  EXPECT_NE(starting->ended_at, Timestamp{});
  EXPECT_EQ(store_->GetSession("stopping", vm.id)->status, GuestSessionStatus::kRunning)
      << "the next poll asks the guest";
  EXPECT_EQ(store_->GetSession("done", vm.id)->status, GuestSessionStatus::kExited);
}

TEST_F(VmServiceTest, ReconcileLeavesSessionsStartingOnARunningVmToThePoller) {
  VmRecord vm = MustCreate("t1");  // running: the guest knows whether the command started
  GuestSession s;
  s.id = NewId();
  s.vm_id = vm.id;
  s.name = "starting";
  s.command = "sleep";
  s.status = GuestSessionStatus::kStarting;
  s.created_at = s.updated_at = Now();
  ASSERT_TRUE(store_->UpsertSession(s).ok());
  svc_ = MakeService();
  ASSERT_TRUE(Reconcile().ok());
  EXPECT_EQ(store_->GetSession("starting", vm.id)->status, GuestSessionStatus::kStarting)
      << "SessionService::Refresh settles it from the guest";
}

TEST_F(VmServiceTest, ReconcileKillsStraysAndRemovesOrphans) {
  VmRecord vm = MustCreate("t1", true);
  // An interrupted start: the VMM runs (its identity recorded at spawn) but
  // the store still says created.
  pid_t stray = procs_.Add({"qemu", "-qmp", "unix:" + vm.runtime.api_sock_path + ",server=on"});
  VmHandles h;
  SetVmmIdentity(h, procs_.IdentityOf(stray));
  ASSERT_TRUE(WriteHandlesFile(vm.runtime.vm_dir, h).ok());
  // An interrupted create: a directory without a row, its VMM recorded.
  std::string orphan = root_ + "/vms/" + NewId().substr(0, 16);
  fs::create_directories(orphan);
  pid_t orphan_vmm = procs_.Add({"qemu", "-qmp", "unix:" + orphan + "/api.sock,server=on"});
  SetVmmIdentity(h, procs_.IdentityOf(orphan_vmm));
  ASSERT_TRUE(WriteHandlesFile(orphan, h).ok());
  // A process that merely names a VM's socket is nobody's stray.
  pid_t named = procs_.AddAs({"qemu", "-qmp", "unix:" + vm.runtime.api_sock_path + ",server=on"}, 65534,
                             testing::FakeProcs::kVmmExe);
  svc_ = MakeService();
  ASSERT_TRUE(Reconcile().ok());
  EXPECT_FALSE(procs_.Alive(stray));
  EXPECT_FALSE(procs_.Alive(orphan_vmm));
  EXPECT_TRUE(procs_.Alive(named));
  EXPECT_FALSE(PathExists(orphan));
  EXPECT_TRUE(PathExists(vm.runtime.vm_dir));
}

TEST_F(VmServiceTest, SweepDemotesVmWhoseVmmExited) {
  MustCreate("t1");
  procs_.Kill(svc_->Get("t1")->handles->pid);
  svc_->SweepDead();
  EXPECT_EQ(store_->GetVm("t1")->state, VmState::kStopped);
  auto types = EventTypes();
  EXPECT_EQ(types.back(), "state:stopped");
}

}  // namespace
}  // namespace banger
