// Pause/resume, idle suspend and ttl (daemon/vm_pause.cc, vm_lifetime.cc)
// against the fake backend, fake processes and a real SQLite store.
#include "daemon/testing/vm_service_fixture.h"
#include "daemon/vm_lifetime.h"

namespace banger {
namespace {

using namespace std::chrono_literals;

class VmPauseTest : public VmServiceTest {
 protected:
  VmRecord MustGet(const std::string& ref) {
    auto v = svc_->Get(ref);
    EXPECT_TRUE(v.ok()) << (v.ok() ? "" : v.error().message());
    return v.ok() ? v->vm : VmRecord{};
  }
  VmRecord CreateWith(const std::string& name, std::optional<std::chrono::milliseconds> idle,
                      std::optional<std::chrono::milliseconds> ttl, std::optional<std::string> action = {}) {
    CreateVmRequest r = Named(name);
    r.idle_suspend = idle;
    r.ttl = ttl;
    r.ttl_action = std::move(action);
    return MustCreateVm(*svc_, r);
  }
  int Pid(const std::string& ref) { return svc_->HandlesOf(MustGet(ref).id).value_or(VmHandles{}).pid; }
  bool Has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  }
};

TEST_F(VmPauseTest, PauseAndResumeKeepTheVmmAndRecordTheState) {
  VmRecord vm = MustCreate("t1");
  int pid = Pid("t1");
  auto p = svc_->Pause("t1");
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(p->vm.state, VmState::kPaused);
  EXPECT_NE(p->vm.runtime.paused_at, Timestamp{});
  ASSERT_TRUE(p->handles.has_value()) << "a paused VM keeps its handles";
  EXPECT_EQ(p->handles->pid, pid);
  EXPECT_TRUE(qemu_.paused_pids.count(pid));
  EXPECT_EQ(store_->GetVm("t1")->state, VmState::kPaused);
  EXPECT_EQ(MustGet("t1").state, VmState::kPaused) << "Get does not demote a paused VM whose VMM lives";

  auto r = svc_->Resume("t1");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->vm.state, VmState::kRunning);
  EXPECT_EQ(r->vm.runtime.paused_at, Timestamp{});
  EXPECT_EQ(r->vm.runtime.boot_id, vm.runtime.boot_id) << "a resume is not a boot";
  EXPECT_FALSE(qemu_.paused_pids.count(pid));
  EXPECT_EQ(qemu_.launches.size(), 1u);
  EXPECT_EQ(EventTypes(),
            (std::vector<std::string>{"image.created", "vm.created", "state:running", "state:paused",
                                      "vm.paused", "state:running", "vm.resumed"}));
}

TEST_F(VmPauseTest, RefusalsAreOneClearLine) {
  MustCreate("c1", /*no_start=*/true);
  auto created = svc_->Pause("c1");
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().kind(), ErrorKind::kConflict);
  EXPECT_EQ(created.error().message(), "vm c1 is created: only a running vm can be paused");

  MustCreate("t1");
  auto not_paused = svc_->Resume("t1");
  ASSERT_FALSE(not_paused.ok());
  EXPECT_EQ(not_paused.error().message(), "vm t1 is not paused (it is running)");
  ASSERT_TRUE(svc_->Pause("t1").ok());
  auto again = svc_->Pause("t1");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind(), ErrorKind::kConflict);
  EXPECT_EQ(again.error().message(), "vm t1 is already paused");

  ASSERT_TRUE(svc_->Stop("t1", 0ms).ok());
  auto stopped = svc_->Pause("t1");
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.error().message(), "vm t1 is stopped: only a running vm can be paused");
  EXPECT_EQ(svc_->Pause("nope").error().kind(), ErrorKind::kNotFound);
}

TEST_F(VmPauseTest, AFailedPauseLeavesTheVmRunning) {
  MustCreate("t1");
  qemu_.pause_error = Error::Unavailable("qmp: connection refused");
  auto p = svc_->Pause("t1");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message().find("pausing vm t1: qmp: connection refused"), std::string::npos)
      << p.error().message();
  EXPECT_EQ(MustGet("t1").state, VmState::kRunning);
}

TEST_F(VmPauseTest, StopDeleteAndStartOfAPausedVm) {
  MustCreate("t1");
  ASSERT_TRUE(svc_->Pause("t1").ok());
  // A graceful stop continues the guest first, so it can shut down.
  auto stopped = svc_->Stop("t1", 1500ms);
  ASSERT_TRUE(stopped.ok()) << stopped.error().message();
  EXPECT_EQ(stopped->vm.state, VmState::kStopped);
  EXPECT_EQ(stopped->vm.runtime.paused_at, Timestamp{});
  EXPECT_EQ(qemu_.resume_calls, 1);
  EXPECT_EQ(procs_.Count(), 0u);

  // Start of a paused VM resumes it: same boot, no new VMM.
  ASSERT_TRUE(svc_->Start("t1").ok());
  std::string boot = MustGet("t1").runtime.boot_id;
  ASSERT_TRUE(svc_->Pause("t1").ok());
  auto started = svc_->Start("t1");
  ASSERT_TRUE(started.ok()) << started.error().message();
  EXPECT_EQ(started->vm.state, VmState::kRunning);
  EXPECT_EQ(started->vm.runtime.boot_id, boot);
  EXPECT_EQ(qemu_.launches.size(), 2u);

  ASSERT_TRUE(svc_->Pause("t1").ok());
  VmRecord vm = MustGet("t1");
  auto del = svc_->Delete("t1", false);
  ASSERT_TRUE(del.ok()) << del.error().message();
  EXPECT_EQ(procs_.Count(), 0u);
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir));
}

TEST_F(VmPauseTest, APausedVmWhoseVmmDiedIsStopped) {
  MustCreate("t1");
  ASSERT_TRUE(svc_->Pause("t1").ok());
  procs_.Kill(Pid("t1"));
  EXPECT_EQ(MustGet("t1").state, VmState::kStopped);
}

TEST_F(VmPauseTest, SetTreatsAPausedVmLikeARunningOne) {
  MustCreate("t1");
  ASSERT_TRUE(svc_->Pause("t1").ok());
  SetVmRequest mem;
  mem.memory_mib = 4096;
  auto refused = svc_->Set("t1", mem);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("needs it stopped first"), std::string::npos);
  SetVmRequest bw;
  bw.disk_bw_bytes_per_sec = 10 * kMiB;
  ASSERT_TRUE(svc_->Set("t1", bw).ok());
  EXPECT_EQ(qemu_.rate_limit_calls.size(), 1u) << "limits apply live to a paused VMM";
  EXPECT_EQ(MustGet("t1").state, VmState::kPaused);
}

TEST_F(VmPauseTest, ResumeIfPausedResumesOnlyAPausedVm) {
  MustCreate("t1");
  auto running = svc_->ResumeIfPaused("t1", "exec");
  ASSERT_TRUE(running.ok());
  EXPECT_FALSE(*running);
  ASSERT_TRUE(svc_->Pause("t1").ok());
  VmRecord before = MustGet("t1");
  auto r = svc_->ResumeIfPaused("t1", "exec");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(*r);
  VmRecord after = MustGet("t1");
  EXPECT_EQ(after.state, VmState::kRunning);
  EXPECT_GE(after.last_touched_at, before.last_touched_at) << "a resume counts as activity";
  MustCreate("c1", /*no_start=*/true);
  EXPECT_FALSE(*svc_->ResumeIfPaused("c1", "exec"));
  EXPECT_EQ(MustGet("c1").state, VmState::kCreated);
}

TEST_F(VmPauseTest, ReconcileReadoptsAPausedVmAndBelievesItsVmm) {
  MustCreate("p1");
  MustCreate("p2");
  MustCreate("r1");
  ASSERT_TRUE(svc_->Pause("p1").ok());
  ASSERT_TRUE(svc_->Pause("p2").ok());
  int p2 = Pid("p2"), r1 = Pid("r1");
  // The daemon died after a resume (p2) and after a pause (r1), before recording either.
  qemu_.paused_pids.erase(p2);
  qemu_.paused_pids.insert(r1);
  svc_ = MakeService();
  ASSERT_TRUE(Reconcile().ok());
  EXPECT_EQ(MustGet("p1").state, VmState::kPaused);
  EXPECT_TRUE(svc_->HandlesOf(MustGet("p1").id).has_value());
  EXPECT_EQ(MustGet("p2").state, VmState::kRunning);
  EXPECT_EQ(MustGet("r1").state, VmState::kPaused);
  EXPECT_EQ(procs_.Count(), 3u) << "no VMM was killed";
  // A paused VM whose VMM went while the daemon was down is stopped.
  procs_.Kill(Pid("p1"));
  svc_ = MakeService();
  ASSERT_TRUE(Reconcile().ok());
  EXPECT_EQ(MustGet("p1").state, VmState::kStopped);
}

TEST_F(VmPauseTest, IdleSuspendPausesOnlyIdleRunningVmsWithoutSessions) {
  CreateWith("idle", 5s, std::nullopt);
  CreateWith("busy", 5s, std::nullopt);
  MustCreate("never");
  VmRecord busy = MustGet("busy");
  GuestSession s;
  s.id = NewId();
  s.vm_id = busy.id;
  s.name = "srv";
  s.backend = "agent";
  s.command = "srv";
  s.status = GuestSessionStatus::kRunning;
  s.created_at = s.updated_at = Now();
  ASSERT_TRUE(store_->UpsertSession(s).ok());

  LifetimeSweeper sweeper(*svc_, *store_);
  EXPECT_TRUE(sweeper.Sweep(Now()).suspended.empty()) << "not idle yet";
  auto pass = sweeper.Sweep(Now() + 1h);
  EXPECT_EQ(pass.suspended, std::vector<std::string>{"idle"});
  EXPECT_EQ(MustGet("idle").state, VmState::kPaused);
  EXPECT_EQ(MustGet("busy").state, VmState::kRunning);
  EXPECT_EQ(MustGet("never").state, VmState::kRunning);
  EXPECT_TRUE(sweeper.Sweep(Now() + 2h).suspended.empty()) << "a paused VM is not paused again";
  // Use resumes it; the idle clock starts again.
  ASSERT_TRUE(*svc_->ResumeIfPaused("idle", "exec"));
  EXPECT_TRUE(sweeper.Sweep(Now()).suspended.empty());
}

TEST_F(VmPauseTest, AVmRunningACommandIsNotIdle) {
  VmRecord vm = CreateWith("cmd", 5s, std::nullopt);
  LifetimeSweeper sweeper(*svc_, *store_);
  svc_->BeginUse(vm.id);
  EXPECT_TRUE(sweeper.Sweep(Now() + 1h).suspended.empty()) << "an exec in progress is use";
  svc_->EndUse(vm.id);
  EXPECT_GE(MustGet("cmd").last_touched_at, Now() - 1s) << "its end counts as activity";
  EXPECT_EQ(sweeper.Sweep(Now() + 1h).suspended, std::vector<std::string>{"cmd"});
}

TEST_F(VmPauseTest, TtlDeleteRemovesTheVmCompletelyAtExpiry) {
  VmRecord vm = CreateWith("d1", std::nullopt, 60s, "delete");
  EXPECT_EQ(vm.spec.ttl, 60s);
  EXPECT_EQ(vm.spec.ttl_action, TtlAction::kDelete);
  EXPECT_EQ(vm.runtime.expires_at, vm.created_at + 60s);
  LifetimeSweeper sweeper(*svc_, *store_);
  EXPECT_TRUE(sweeper.Sweep(vm.created_at + 59s).expired.empty());
  ASSERT_TRUE(svc_->Pause("d1").ok());  // the ttl counts in any state
  auto pass = sweeper.Sweep(vm.created_at + 60s);
  EXPECT_EQ(pass.expired, std::vector<std::string>{"d1"});
  EXPECT_EQ(store_->GetVm("d1").error().kind(), ErrorKind::kNotFound);
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir));
  EXPECT_EQ(procs_.Count(), 0u);
  auto types = EventTypes();
  EXPECT_TRUE(Has(types, "vm.deleted"));
}

TEST_F(VmPauseTest, TtlStopSpendsTheDeadlineAndTheNextStartSetsANewOne) {
  VmRecord vm = CreateWith("s1", std::nullopt, 30s);
  EXPECT_EQ(vm.spec.ttl_action, TtlAction::kStop) << "the default action";
  LifetimeSweeper sweeper(*svc_, *store_);
  auto pass = sweeper.Sweep(vm.created_at + 31s);
  EXPECT_EQ(pass.expired, std::vector<std::string>{"s1"});
  VmRecord stopped = MustGet("s1");
  EXPECT_EQ(stopped.state, VmState::kStopped);
  EXPECT_EQ(stopped.runtime.expires_at, Timestamp{});
  EXPECT_TRUE(sweeper.Sweep(vm.created_at + 1h).expired.empty());
  auto started = svc_->Start("s1");
  ASSERT_TRUE(started.ok());
  EXPECT_GE(started->vm.runtime.expires_at, Now() + 29s);
  EXPECT_LE(started->vm.runtime.expires_at, Now() + 31s);
}

TEST_F(VmPauseTest, SetChangesIdleSuspendAndTtlAndANewTtlCountsFromNow) {
  MustCreate("t1");
  EXPECT_EQ(MustGet("t1").runtime.expires_at, Timestamp{}) << "no ttl by default";
  SetVmRequest req;
  req.idle_suspend = 10min;
  req.ttl = 2h;
  req.ttl_action = "delete";
  auto set = svc_->Set("t1", req);
  ASSERT_TRUE(set.ok()) << set.error().message();
  EXPECT_EQ(set->vm.spec.idle_suspend, 10min);
  EXPECT_EQ(set->vm.spec.ttl_action, TtlAction::kDelete);
  EXPECT_GE(set->vm.runtime.expires_at, Now() + 2h - 1s);
  SetVmRequest off;
  off.ttl = 0ms;
  off.idle_suspend = 0ms;
  set = svc_->Set("t1", off);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->vm.runtime.expires_at, Timestamp{});
  EXPECT_EQ(set->vm.spec.idle_suspend, 0ms);
  SetVmRequest bad;
  bad.ttl = 500ms;
  auto r = svc_->Set("t1", bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "ttl must be 0 (off) or between 1s and 8760h, got 500ms");
}

TEST_F(VmPauseTest, ConfigDefaultsApplyToVmsCreatedWithoutTheirOwn) {
  VmServiceDeps d = FakeVmServiceDeps(root_, *store_, *events_, procs_, disks_);
  d.backends = {{BackendKind::kQemu, &qemu_}};
  d.config.vm_defaults.idle_suspend = 15min;
  d.config.vm_defaults.ttl = 24h;
  d.config.vm_defaults.ttl_action = TtlAction::kDelete;
  svc_ = std::make_unique<VmService>(d);
  VmRecord def = MustCreate("def");
  EXPECT_EQ(def.spec.idle_suspend, 15min);
  EXPECT_EQ(def.spec.ttl, 24h);
  EXPECT_EQ(def.spec.ttl_action, TtlAction::kDelete);
  EXPECT_EQ(def.runtime.expires_at, def.created_at + 24h);
  VmRecord own = CreateWith("own", 0ms, 0ms, "stop");
  EXPECT_EQ(own.spec.idle_suspend, 0ms);
  EXPECT_EQ(own.spec.ttl, 0ms);
  EXPECT_EQ(own.spec.ttl_action, TtlAction::kStop);
  EXPECT_EQ(own.runtime.expires_at, Timestamp{});
}

}  // namespace
}  // namespace banger
