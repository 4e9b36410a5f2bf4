// `vm fork` (SnapshotService::Fork) over the fake backend, fake processes and
// disks and a real SQLite store; the guest fixup is replaced (deps.fixup) by
// a recorder that can fail: names and counts, refusals that change nothing,
// the all-or-nothing rollback, and the reconcile of an unfinished fork.
#include <gtest/gtest.h>

#include "daemon/snapshot_service.h"
#include "daemon/testing/vm_service_fixture.h"

namespace banger {
namespace {

class ForkTest : public VmServiceTest {
 protected:
  void SetUp() override {
    VmServiceTest::SetUp();
    SnapshotServiceDeps d{store_.get(), events_.get(), svc_.get()};
    d.fixup = [this](const VmRecord& vm) -> Status {
      fixed_.push_back(vm.name);
      if (vm.name == fail_fixup_of_) return Error::Timeout("the guest agent did not answer");
      return OkStatus();
    };
    snaps_ = std::make_unique<SnapshotService>(d);
  }
  template <typename R>
  static void ExpectRefused(const R& r, ErrorKind kind, const std::string& want) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind(), kind) << r.error().message();
    EXPECT_NE(r.error().message().find(want), std::string::npos) << r.error().message();
    EXPECT_EQ(r.error().message().find('\n'), std::string::npos) << "one line";
  }
  size_t VmCount() { return store_->ListVms()->size(); }
  size_t VmDirCount() {
    return static_cast<size_t>(std::distance(fs::directory_iterator(root_ + "/vms"), {}));
  }

  std::unique_ptr<SnapshotService> snaps_;
  std::vector<std::string> fixed_;
  std::string fail_fixup_of_;
};

TEST(ForkNamesTest, OneKeepsTheNameManyAreNumberedAndBadInputIsRefused) {
  EXPECT_EQ(*ForkNames("web", 1), std::vector<std::string>{"web"});
  EXPECT_EQ(*ForkNames("web", 3), (std::vector<std::string>{"web-1", "web-2", "web-3"}));
  EXPECT_EQ(ForkNames("web", kMaxForkCount)->size(), static_cast<size_t>(kMaxForkCount));
  EXPECT_EQ(ForkNames("web", 0).error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_NE(ForkNames("web", 65).error().message().find("fork count must be 1 to 64, not 65"),
            std::string::npos);
  EXPECT_EQ(ForkNames("web", -1).error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_NE(ForkNames("", 1).error().message().find("needs a name"), std::string::npos);
  EXPECT_FALSE(ForkNames("a/b", 2).ok());
}

TEST_F(ForkTest, ForksRunFromOneSnapshotWithTheirOwnDisksAndTheSourceRunsOn) {
  VmRecord src = MustCreate("t1");
  ASSERT_TRUE(WriteFileAtomic(src.runtime.work_disk_path, "at-fork").ok());
  auto forks = snaps_->Fork("t1", "f", 3);
  ASSERT_TRUE(forks.ok()) << forks.error().message();
  ASSERT_EQ(forks->size(), 3u);
  EXPECT_EQ(qemu_.saves, 1) << "one snapshot for all forks";
  ASSERT_EQ(qemu_.restores.size(), 3u);
  EXPECT_EQ(fixed_, (std::vector<std::string>{"f-1", "f-2", "f-3"}));
  std::set<std::string> ids{src.id};
  for (size_t i = 0; i < forks->size(); ++i) {
    const VmRecord& f = (*forks)[i].vm;
    EXPECT_EQ(f.name, "f-" + std::to_string(i + 1));
    EXPECT_EQ(f.state, VmState::kRunning);
    EXPECT_EQ(f.image_id, src.image_id);
    EXPECT_EQ(f.spec.vcpu_count, src.spec.vcpu_count);
    EXPECT_EQ(f.spec.memory_mib, src.spec.memory_mib);
    EXPECT_EQ(f.runtime.dns_name, f.name + ".vm");
    EXPECT_TRUE(ids.insert(f.id).second) << "a new id";
    EXPECT_EQ(*ReadFile(f.runtime.work_disk_path), "at-fork");
    EXPECT_TRUE(IsRegularFile(f.runtime.system_overlay_path));
    EXPECT_FALSE(PathExists(f.runtime.vm_dir + "/" + kForkPendingName));
    EXPECT_TRUE(store_->ListSessions(f.id)->empty()) << "no sessions are copied";
  }
  // Each fork's disk is its own copy.
  ASSERT_TRUE(WriteFileAtomic((*forks)[0].vm.runtime.work_disk_path, "changed").ok());
  EXPECT_EQ(*ReadFile((*forks)[1].vm.runtime.work_disk_path), "at-fork");
  EXPECT_EQ(*ReadFile(src.runtime.work_disk_path), "at-fork");
  EXPECT_EQ(svc_->Get("t1")->vm.state, VmState::kRunning);
  EXPECT_TRUE(store_->ListSnapshots("")->empty()) << "the fork's snapshot is removed";
  auto types = EventTypes();
  EXPECT_EQ(std::count(types.begin(), types.end(), "vm.forked"), 3);
  // One fork keeps the name as it is.
  auto one = snaps_->Fork("t1", "solo", 1);
  ASSERT_TRUE(one.ok()) << one.error().message();
  EXPECT_EQ((*one)[0].vm.name, "solo");
}

TEST_F(ForkTest, AFirecrackerVmForksThroughTheFirecrackerBackend) {
  CreateVmRequest req = Named("fc1");
  req.backend = "firecracker";
  VmRecord src = MustCreateVm(*svc_, req);
  ASSERT_TRUE(WriteFileAtomic(src.runtime.work_disk_path, "at-fork").ok());
  auto forks = snaps_->Fork("fc1", "g", 2);
  ASSERT_TRUE(forks.ok()) << forks.error().message();
  EXPECT_EQ(fc_.saves, 1);
  EXPECT_EQ(qemu_.saves, 0);
  ASSERT_EQ(fc_.restores.size(), 2u);
  for (const auto& f : *forks) {
    EXPECT_EQ(f.vm.spec.backend, BackendKind::kFirecracker);
    EXPECT_EQ(f.vm.state, VmState::kRunning);
    EXPECT_EQ(*ReadFile(f.vm.runtime.work_disk_path), "at-fork");
    EXPECT_NE(f.vm.runtime.vm_dir, src.runtime.vm_dir);
  }
  EXPECT_TRUE(store_->ListSnapshots("")->empty()) << "the fork's snapshot is removed";
}

TEST_F(ForkTest, APausedSourceStaysPaused) {
  MustCreate("t1");
  ASSERT_TRUE(svc_->Pause("t1").ok());
  const int resumes = qemu_.resume_calls;
  auto forks = snaps_->Fork("t1", "f", 1);
  ASSERT_TRUE(forks.ok()) << forks.error().message();
  EXPECT_EQ((*forks)[0].vm.state, VmState::kRunning);
  EXPECT_EQ(svc_->Get("t1")->vm.state, VmState::kPaused);
  EXPECT_EQ(qemu_.resume_calls, resumes);
}

TEST_F(ForkTest, RefusalsAreOneLineAndMakeNothing) {
  MustCreate("t1");
  MustCreate("f-2");
  const size_t vms = VmCount();
  const size_t dirs = VmDirCount();
  ExpectRefused(snaps_->Fork("t1", "f", 3), ErrorKind::kConflict, "a vm named \"f-2\" already exists");
  ExpectRefused(snaps_->Fork("t1", "t1", 1), ErrorKind::kConflict, "a vm named \"t1\" already exists");
  ExpectRefused(snaps_->Fork("t1", "f", 0), ErrorKind::kInvalidArgument, "fork count must be 1 to 64");
  ExpectRefused(snaps_->Fork("t1", "f", 65), ErrorKind::kInvalidArgument, "fork count must be 1 to 64");
  ExpectRefused(snaps_->Fork("t1", "", 1), ErrorKind::kInvalidArgument, "needs a name");
  ExpectRefused(snaps_->Fork("nope", "f", 1), ErrorKind::kNotFound, "nope");
  ASSERT_TRUE(svc_->Stop("t1", std::chrono::milliseconds(0)).ok());
  ExpectRefused(snaps_->Fork("t1", "g", 1), ErrorKind::kConflict, "a fork needs it running or paused");
  EXPECT_EQ(VmCount(), vms);
  EXPECT_EQ(VmDirCount(), dirs);
  EXPECT_EQ(qemu_.saves, 0);
  EXPECT_EQ(fc_.saves, 0);
  EXPECT_TRUE(store_->ListSnapshots("")->empty());
}

TEST_F(ForkTest, AFailingForkRemovesEveryForkOfTheCall) {
  MustCreate("t1");
  const size_t dirs = VmDirCount();
  fail_fixup_of_ = "f-2";
  auto r = snaps_->Fork("t1", "f", 3);
  ExpectRefused(r, ErrorKind::kTimeout, "fork f-2 (2 of 3) of vm t1 failed: guest fixup: the guest agent");
  EXPECT_NE(r.error().message().find("the forks made were removed"), std::string::npos);
  EXPECT_EQ(VmCount(), 1u);
  EXPECT_EQ(VmDirCount(), dirs) << "no fork directory is left";
  EXPECT_TRUE(store_->ListSnapshots("")->empty());
  EXPECT_EQ(svc_->Get("t1")->vm.state, VmState::kRunning);
  EXPECT_EQ(fixed_, (std::vector<std::string>{"f-1", "f-2"})) << "f-3 was not attempted";
  // A launch failure of the VMM is rolled back the same way.
  fail_fixup_of_.clear();
  qemu_.launch_error = Error::Internal("qemu: could not load the migration stream");
  ExpectRefused(snaps_->Fork("t1", "g", 1), ErrorKind::kInternal, "fork g (1 of 1) of vm t1 failed");
  EXPECT_EQ(VmCount(), 1u);
  EXPECT_EQ(VmDirCount(), dirs);
  // The names are free again.
  qemu_.launch_error = Error(ErrorKind::kInternal, "");
  EXPECT_TRUE(snaps_->Fork("t1", "f", 3).ok());
}

TEST_F(ForkTest, ReconcileRemovesAnUnfinishedForkAndTheForkSnapshot) {
  VmRecord src = MustCreate("t1");
  auto forks = snaps_->Fork("t1", "f", 2);
  ASSERT_TRUE(forks.ok()) << forks.error().message();
  // What a daemon killed between a fork's launch and its fixup leaves: the
  // marker in the fork's directory and the source's temporary snapshot.
  const VmRecord& half = (*forks)[1].vm;
  ASSERT_TRUE(WriteFileAtomic(half.runtime.vm_dir + "/" + kForkPendingName, src.id + "\n").ok());
  VmSnapshot tmp;
  tmp.id = NewId();
  tmp.vm_id = src.id;
  tmp.name = std::string(kForkSnapshotPrefix) + "deadbeef";
  tmp.complete = true;
  tmp.created_at = Now();
  ASSERT_TRUE(store_->InsertSnapshot(tmp).ok());
  ASSERT_TRUE(MakeDirs(SnapshotService::DirOf(src, tmp)).ok());

  snaps_->Reconcile();
  EXPECT_TRUE(svc_->Get("f-1").ok());
  EXPECT_FALSE(svc_->Get("f-2").ok());
  EXPECT_FALSE(PathExists(half.runtime.vm_dir));
  EXPECT_TRUE(store_->ListSnapshots("")->empty());
  EXPECT_FALSE(PathExists(SnapshotService::DirOf(src, tmp)));
}

}  // namespace
}  // namespace banger
