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

TEST_F(VmServiceTest, ReconcilePrefersProcessTableOverScratch) {
  VmRecord vm = MustCreate("t1");
  pid_t real = svc_->Get("t1")->handles->pid;
  VmHandles stale;
  stale.pid = 99999;
  ASSERT_TRUE(WriteHandlesFile(vm.runtime.vm_dir, stale).ok());
  svc_ = MakeService();
  ASSERT_TRUE(Reconcile().ok());
  EXPECT_EQ(svc_->Get("t1")->handles->pid, real);
  EXPECT_EQ((*ReadHandlesFile(vm.runtime.vm_dir))->pid, real);
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
  // An interrupted start: the VMM runs but the store still says created.
  procs_.Add({"qemu", "-qmp", "unix:" + vm.runtime.api_sock_path + ",server=on"});
  // An interrupted create: a directory without a row.
  std::string orphan = root_ + "/vms/" + NewId().substr(0, 16);
  fs::create_directories(orphan);
  procs_.Add({"qemu", "-qmp", "unix:" + orphan + "/api.sock,server=on"});
  svc_ = MakeService();
  ASSERT_TRUE(Reconcile().ok());
  EXPECT_EQ(procs_.Count(), 0u);
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
