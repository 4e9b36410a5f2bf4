// SnapshotService over the fake backend (it writes small state files), fake
// processes and disks, and a real SQLite store: the use cases, their
// refusals, and the startup reconcile of what a killed daemon left.
#include "daemon/snapshot_service.h"

#include <unistd.h>

#include "daemon/testing/vm_service_fixture.h"
#include "daemon/vm_lifetime.h"

namespace banger {
namespace {

class SnapshotServiceTest : public VmServiceTest {
 protected:
  void SetUp() override {
    VmServiceTest::SetUp();
    snaps_ = std::make_unique<SnapshotService>(SnapshotServiceDeps{store_.get(), events_.get(), svc_.get()});
  }
  // Fails the test when `r` is ok or does not name `want`.
  template <typename R>
  static void ExpectRefused(const R& r, ErrorKind kind, const std::string& want) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind(), kind) << r.error().message();
    EXPECT_NE(r.error().message().find(want), std::string::npos) << r.error().message();
    EXPECT_EQ(r.error().message().find('\n'), std::string::npos) << "one line";
  }
  std::unique_ptr<SnapshotService> snaps_;
};

TEST_F(SnapshotServiceTest, CreateCopiesDisksRecordsSizesAndTheVmRunsOn) {
  VmRecord vm = MustCreate("t1");
  ASSERT_TRUE(WriteFileAtomic(vm.runtime.work_disk_path, "work-before").ok());
  auto s = snaps_->Create("t1", "one");
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_TRUE(s->complete);
  EXPECT_EQ(qemu_.saves, 1);
  const std::string dir = SnapshotService::DirOf(vm, *s);
  EXPECT_EQ(*ReadFile(dir + "/work.ext4"), "work-before");
  EXPECT_TRUE(IsRegularFile(dir + "/vmstate"));
  EXPECT_TRUE(IsRegularFile(dir + "/system-overlay.ext4"));
  EXPECT_EQ(s->files["vmstate"], 4096);
  EXPECT_EQ(s->files.size(), 3u);
  EXPECT_EQ(svc_->Get("t1")->vm.state, VmState::kRunning);
  // No temp directory is left, and the listing shows it.
  EXPECT_EQ(std::distance(fs::directory_iterator(vm.runtime.vm_dir + "/snapshots"), {}), 1);
  auto list = snaps_->List("t1");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "one");
}

// A paused VM (vm pause) can be snapshotted and saved; it stays paused after
// a snapshot, and a restore onto it is refused like onto a running one.
TEST_F(SnapshotServiceTest, APausedVmIsSnapshottedStaysPausedAndRefusesRestore) {
  MustCreate("t1");
  ASSERT_TRUE(svc_->Pause("t1").ok());
  const int resumes = qemu_.resume_calls;
  auto s = snaps_->Create("t1", "one");
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(qemu_.resume_calls, resumes);
  EXPECT_EQ(svc_->Get("t1")->vm.state, VmState::kPaused);
  ExpectRefused(snaps_->Restore("t1", "one"), ErrorKind::kConflict, "is paused: stop it first");
  auto saved = snaps_->StopAndSave("t1");
  ASSERT_TRUE(saved.ok()) << saved.error().message();
  EXPECT_EQ(saved->vm.state, VmState::kStopped);
  EXPECT_FALSE(saved->vm.runtime.saved_snapshot.empty());
}

// --idle-suspend-to disk: the sweeper saves an idle VM to disk and stops its
// VMM; guest use (ResumeIfPaused, as exec calls it) starts it from that state;
// a `vm stop` in between keeps it stopped instead.
TEST_F(SnapshotServiceTest, IdleSuspendToDiskSavesStopsAndGuestUseStartsItAgain) {
  CreateVmRequest r = Named("idle");
  r.idle_suspend = std::chrono::seconds(5);
  r.idle_suspend_to = "disk";
  MustCreateVm(*svc_, r);
  LifetimeSweeper sweeper(*svc_, *store_);
  EXPECT_EQ(sweeper.Sweep(Now() + std::chrono::hours(1)).suspended, std::vector<std::string>{"idle"});
  VmRecord saved = *store_->GetVm("idle");
  EXPECT_EQ(saved.state, VmState::kStopped);
  EXPECT_TRUE(saved.runtime.idle_saved);
  EXPECT_FALSE(saved.runtime.saved_snapshot.empty());
  EXPECT_EQ(qemu_.saves, 1);

  auto started = svc_->ResumeIfPaused("idle", "exec");
  ASSERT_TRUE(started.ok()) << started.error().message();
  EXPECT_TRUE(*started);
  VmRecord now = *store_->GetVm("idle");
  EXPECT_EQ(now.state, VmState::kRunning);
  EXPECT_FALSE(now.runtime.idle_saved);
  EXPECT_TRUE(now.runtime.saved_snapshot.empty()) << "the suspend snapshot is consumed";
  EXPECT_EQ(qemu_.restores.size(), 1u);
  EXPECT_FALSE(*svc_->ResumeIfPaused("idle", "exec")) << "running: nothing to do";

  // Suspended again, then `vm stop`: it stays stopped on the next use, and
  // `vm start` still continues the saved state.
  ASSERT_EQ(sweeper.Sweep(Now() + std::chrono::hours(2)).suspended.size(), 1u);
  ASSERT_TRUE(svc_->Stop("idle", std::nullopt).ok());
  EXPECT_FALSE(store_->GetVm("idle")->runtime.idle_saved);
  EXPECT_FALSE(*svc_->ResumeIfPaused("idle", "exec"));
  EXPECT_EQ(store_->GetVm("idle")->state, VmState::kStopped);
  ASSERT_TRUE(svc_->Start("idle").ok());
  EXPECT_EQ(qemu_.restores.size(), 2u);
}

// A save that fails (a full disk, a backend that cannot save) still suspends
// the idle VM, in RAM, instead of retrying every pass.
TEST_F(SnapshotServiceTest, IdleSuspendToDiskFallsBackToRamWhenTheSaveFails) {
  CreateVmRequest r = Named("idle");
  r.idle_suspend = std::chrono::seconds(5);
  r.idle_suspend_to = "disk";
  MustCreateVm(*svc_, r);
  qemu_.save_error = Error::Internal("No space left on device");
  LifetimeSweeper sweeper(*svc_, *store_);
  EXPECT_EQ(sweeper.Sweep(Now() + std::chrono::hours(1)).suspended, std::vector<std::string>{"idle"});
  VmRecord vm = *store_->GetVm("idle");
  EXPECT_EQ(vm.state, VmState::kPaused);
  EXPECT_FALSE(vm.runtime.idle_saved);
  EXPECT_TRUE(vm.runtime.saved_snapshot.empty());
}

TEST_F(SnapshotServiceTest, BadInputIsRefusedInOneLineAndChangesNothing) {
  VmRecord vm = MustCreate("t1");
  ASSERT_TRUE(snaps_->Create("t1", "one").ok());
  ExpectRefused(snaps_->Create("t1", "one"), ErrorKind::kConflict, "already has a snapshot named \"one\"");
  ExpectRefused(snaps_->Create("t1", "__x"), ErrorKind::kInvalidArgument, "reserved");
  ExpectRefused(snaps_->Create("t1", "a/b"), ErrorKind::kInvalidArgument, "may hold only");
  ExpectRefused(snaps_->Restore("t1", "one"), ErrorKind::kConflict, "is running: stop it first");
  ExpectRefused(snaps_->Create("nope", "x"), ErrorKind::kNotFound, "nope");
  ASSERT_TRUE(svc_->Stop("t1", std::chrono::milliseconds(0)).ok());
  ExpectRefused(snaps_->Create("t1", "two"), ErrorKind::kConflict, "a snapshot needs it running");
  ExpectRefused(snaps_->Restore("t1", "nope"), ErrorKind::kNotFound, "has no snapshot \"nope\"");
  ExpectRefused(snaps_->Delete("t1", "nope"), ErrorKind::kNotFound, "nope");
  EXPECT_EQ(snaps_->List("t1")->size(), 1u);
  EXPECT_EQ(svc_->Get("t1")->vm.state, VmState::kStopped);
}

TEST_F(SnapshotServiceTest, SaveFailureSuchAsDiskFullLeavesNoSnapshotAndTheVmRunning) {
  VmRecord vm = MustCreate("t1");
  const int resumes = qemu_.resume_calls;
  // QEMU's words for a full disk; the user gets where space is missing.
  qemu_.save_error =
      Error::Internal("qemu could not write the snapshot: Unable to write to file: No space left on device");
  ExpectRefused(snaps_->Create("t1", "one"), ErrorKind::kUnavailable,
                "saving vm t1: no space left on device in " + vm.runtime.vm_dir + "/snapshots");
  EXPECT_TRUE(snaps_->List("t1")->empty());
  EXPECT_TRUE(store_->ListSnapshots("")->empty()) << "no incomplete row either";
  EXPECT_EQ(std::distance(fs::directory_iterator(vm.runtime.vm_dir + "/snapshots"), {}), 0);
  EXPECT_EQ(svc_->Get("t1")->vm.state, VmState::kRunning);
  EXPECT_EQ(qemu_.resume_calls, resumes + 1) << "the save paused it: resumed once";
  // Another failure keeps its own words.
  qemu_.save_error = Error::Internal("qemu could not write the snapshot: failed");
  ExpectRefused(snaps_->Create("t1", "one"), ErrorKind::kInternal, "saving vm t1: qemu could not write");
  // The name is free again.
  qemu_.save_error = Error(ErrorKind::kInternal, "");
  EXPECT_TRUE(snaps_->Create("t1", "one").ok());
}

// `vm stop --save` that fails: the VM runs on, not stopped, no saved state;
// a paused VM (vm pause) stays paused, through a snapshot's failure too.
TEST_F(SnapshotServiceTest, FailedStopSaveLeavesTheVmAsItWas) {
  MustCreate("t1");
  qemu_.save_error = Error::Internal("No space left on device (os error 28)");
  int resumes = qemu_.resume_calls;
  ExpectRefused(snaps_->StopAndSave("t1"), ErrorKind::kUnavailable, "no space left on device in ");
  VmRecord vm = *store_->GetVm("t1");
  EXPECT_EQ(vm.state, VmState::kRunning);
  EXPECT_TRUE(vm.runtime.saved_snapshot.empty());
  EXPECT_EQ(qemu_.resume_calls, resumes + 1);
  EXPECT_TRUE(store_->ListSnapshots("")->empty());

  ASSERT_TRUE(svc_->Pause("t1").ok());
  resumes = qemu_.resume_calls;
  ExpectRefused(snaps_->StopAndSave("t1"), ErrorKind::kUnavailable, "no space left on device in ");
  ExpectRefused(snaps_->Create("t1", "one"), ErrorKind::kUnavailable, "no space left on device in ");
  EXPECT_EQ(qemu_.resume_calls, resumes) << "a paused vm is not resumed";
  EXPECT_EQ(store_->GetVm("t1")->state, VmState::kPaused);
  EXPECT_TRUE(store_->ListSnapshots("")->empty());
}

TEST_F(SnapshotServiceTest, RestorePutsTheDisksBackAndLaunchesFromTheSnapshot) {
  VmRecord vm = MustCreate("t1");
  ASSERT_TRUE(WriteFileAtomic(vm.runtime.work_disk_path, "at-snapshot").ok());
  auto s = snaps_->Create("t1", "one");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(svc_->Stop("t1", std::chrono::milliseconds(0)).ok());
  ASSERT_TRUE(WriteFileAtomic(vm.runtime.work_disk_path, "later").ok());
  auto r = snaps_->Restore("t1", "");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->vm.state, VmState::kRunning);
  EXPECT_EQ(*ReadFile(vm.runtime.work_disk_path), "at-snapshot");
  ASSERT_EQ(qemu_.restores.size(), 1u);
  EXPECT_EQ(qemu_.restores[0].state_path, SnapshotService::DirOf(vm, *s) + "/vmstate");
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir + "/restore.pending"));
  // The snapshot stays for later restores.
  EXPECT_EQ(snaps_->List("t1")->size(), 1u);
}

// The VMM launch fails after the disk swap: the VM is in error with the
// snapshot's disks, the message says so (and how to go on), a saved state
// that belonged to the old disks is gone, and `vm start` boots cold.
TEST_F(SnapshotServiceTest, RestoreWhoseLaunchFailsLeavesTheSnapshotsDisksAndStartBootsThemCold) {
  VmRecord vm = MustCreate("t1");
  ASSERT_TRUE(WriteFileAtomic(vm.runtime.work_disk_path, "at-snapshot").ok());
  ASSERT_TRUE(snaps_->Create("t1", "one").ok());
  ASSERT_TRUE(WriteFileAtomic(vm.runtime.work_disk_path, "later").ok());
  ASSERT_TRUE(snaps_->StopAndSave("t1").ok());
  qemu_.launch_error = Error::Unavailable("qemu exited during launch");
  auto r = snaps_->Restore("t1", "one");
  ExpectRefused(r, ErrorKind::kUnavailable, "qemu exited during launch");
  EXPECT_NE(r.error().message().find("its disks are the snapshot's now: banger vm start t1 boots them cold"),
            std::string::npos)
      << r.error().message();
  VmRecord after = svc_->Get("t1")->vm;
  EXPECT_EQ(after.state, VmState::kError);
  EXPECT_EQ(after.runtime.last_error, r.error().message());
  EXPECT_EQ(*ReadFile(vm.runtime.work_disk_path), "at-snapshot");
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir + "/restore.pending"));
  EXPECT_TRUE(after.runtime.saved_snapshot.empty()) << "the saved state was of the disks replaced";
  EXPECT_FALSE(store_->GetSnapshot(vm.id, kSuspendSnapshotName).ok());
  EXPECT_EQ(procs_.Count(), 0u);

  qemu_.launch_error = Error(ErrorKind::kInternal, "");
  const size_t restores = qemu_.restores.size();
  auto started = svc_->Start("t1");
  ASSERT_TRUE(started.ok()) << started.error().message();
  EXPECT_EQ(started->vm.state, VmState::kRunning);
  EXPECT_TRUE(started->vm.runtime.last_error.empty());
  EXPECT_EQ(qemu_.restores.size(), restores) << "a cold boot, not another restore";
  EXPECT_EQ(*ReadFile(vm.runtime.work_disk_path), "at-snapshot");
  EXPECT_EQ(snaps_->List("t1")->size(), 1u) << "the snapshot stays";
}

TEST_F(SnapshotServiceTest, DamagedOrMismatchedSnapshotIsRefusedAndTheVmUntouched) {
  VmRecord vm = MustCreate("t1");
  ASSERT_TRUE(WriteFileAtomic(vm.runtime.work_disk_path, "at-snapshot").ok());
  auto s = snaps_->Create("t1", "one");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(svc_->Stop("t1", std::chrono::milliseconds(0)).ok());
  ASSERT_TRUE(WriteFileAtomic(vm.runtime.work_disk_path, "now").ok());
  const std::string dir = SnapshotService::DirOf(vm, *s);
  ASSERT_EQ(::truncate((dir + "/vmstate").c_str(), 100), 0);
  ExpectRefused(snaps_->Restore("t1", "one"), ErrorKind::kUnavailable, "is damaged");
  ASSERT_TRUE(RemoveFile(dir + "/vmstate").ok());
  ExpectRefused(snaps_->Restore("t1", "one"), ErrorKind::kUnavailable, "is missing");
  // A VM resized since: the snapshot no longer fits it.
  SetVmRequest more;
  more.memory_mib = 4096;
  ASSERT_TRUE(svc_->Set("t1", more).ok());
  ExpectRefused(snaps_->Restore("t1", "one"), ErrorKind::kConflict, "was taken with 2 vcpus and 2048 MiB");
  EXPECT_EQ(*ReadFile(vm.runtime.work_disk_path), "now");
  EXPECT_EQ(svc_->Get("t1")->vm.state, VmState::kStopped);
  EXPECT_TRUE(qemu_.restores.empty());
}

TEST_F(SnapshotServiceTest, StopSaveThenStartResumesAndConsumesTheSavedState) {
  VmRecord vm = MustCreate("t1");
  auto saved = snaps_->StopAndSave("t1");
  ASSERT_TRUE(saved.ok()) << saved.error().message();
  EXPECT_EQ(saved->vm.state, VmState::kStopped);
  EXPECT_FALSE(saved->vm.runtime.saved_snapshot.empty());
  EXPECT_EQ(procs_.Count(), 0u) << "the VMM exits";
  auto suspend = store_->GetSnapshot(vm.id, kSuspendSnapshotName);
  ASSERT_TRUE(suspend.ok());
  EXPECT_EQ(suspend->files.size(), 1u) << "only the VMM's files: the disks stay where they are";
  ExpectRefused(snaps_->Restore("t1", kSuspendSnapshotName), ErrorKind::kInvalidArgument, "banger vm start");

  auto started = svc_->Start("t1");
  ASSERT_TRUE(started.ok()) << started.error().message();
  EXPECT_EQ(started->vm.state, VmState::kRunning);
  EXPECT_TRUE(started->vm.runtime.saved_snapshot.empty());
  ASSERT_EQ(qemu_.restores.size(), 1u);
  EXPECT_FALSE(store_->GetSnapshot(vm.id, kSuspendSnapshotName).ok()) << "consumed";
  EXPECT_FALSE(PathExists(SnapshotService::DirOf(vm, *suspend)));
}

TEST_F(SnapshotServiceTest, DeletingTheSavedStateMakesTheNextStartCold) {
  MustCreate("t1");
  ASSERT_TRUE(snaps_->StopAndSave("t1").ok());
  // Resizing under a saved guest is refused until it is resumed or discarded.
  SetVmRequest grow;
  grow.work_disk_size_bytes = 16 * kGiB;
  ExpectRefused(svc_->Set("t1", grow), ErrorKind::kConflict, "has a saved state");
  ASSERT_TRUE(snaps_->Delete("t1", kSuspendSnapshotName).ok());
  EXPECT_TRUE(svc_->Get("t1")->vm.runtime.saved_snapshot.empty());
  ASSERT_TRUE(svc_->Start("t1").ok());
  EXPECT_TRUE(qemu_.restores.empty());
}

TEST_F(SnapshotServiceTest, ReconcileRemovesWhatAKilledSaveLeft) {
  VmRecord vm = MustCreate("t1");
  ASSERT_TRUE(snaps_->Create("t1", "keep").ok());
  // An incomplete row with its temp dir, an unreferenced suspend snapshot,
  // a stray directory, and a disk swap that stopped after staging.
  VmSnapshot half;
  half.id = NewId();
  half.vm_id = vm.id;
  half.name = "half";
  half.created_at = Now();
  ASSERT_TRUE(store_->InsertSnapshot(half).ok());
  const std::string sdir = vm.runtime.vm_dir + "/snapshots";
  ASSERT_TRUE(MakeDirs(sdir + "/.tmp-" + half.id.substr(0, 16)).ok());
  VmSnapshot orphan = half;
  orphan.id = NewId();
  orphan.name = kSuspendSnapshotName;
  orphan.suspend = orphan.complete = true;
  ASSERT_TRUE(store_->InsertSnapshot(orphan).ok());
  ASSERT_TRUE(MakeDirs(sdir + "/" + orphan.id.substr(0, 16)).ok());
  ASSERT_TRUE(MakeDirs(sdir + "/0123456789abcdef").ok());
  ASSERT_TRUE(WriteFileAtomic(vm.runtime.vm_dir + "/.restore-work.ext4", "staged").ok());
  ASSERT_TRUE(WriteFileAtomic(vm.runtime.vm_dir + "/restore.pending", "x").ok());

  snaps_->Reconcile();
  auto rows = store_->ListSnapshots(vm.id);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].name, "keep");
  EXPECT_EQ(std::distance(fs::directory_iterator(sdir), {}), 1);
  EXPECT_EQ(*ReadFile(vm.runtime.work_disk_path), "staged") << "the swap rolled forward";
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir + "/restore.pending"));
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir + "/.restore-work.ext4"));
}

TEST_F(SnapshotServiceTest, DeletingTheVmRemovesItsSnapshots) {
  VmRecord vm = MustCreate("t1");
  ASSERT_TRUE(snaps_->Create("t1", "one").ok());
  ASSERT_TRUE(svc_->Delete("t1", false).ok());
  EXPECT_TRUE(store_->ListSnapshots("")->empty());
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir));
}

}  // namespace
}  // namespace banger
