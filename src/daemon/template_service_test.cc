// TemplateService (warm start) over the fake backend, fake processes and
// disks and a real SQLite store; the agent wait and the guest fixup are
// replaced by recorders: making a template, warm and cold creates, the key
// (image and spec), staleness, failures that fall back to a boot, and the
// reconcile of what a killed daemon left.
#include "daemon/template_service.h"

#include <gtest/gtest.h>
#include <utime.h>

#include <fstream>

#include "daemon/testing/vm_service_fixture.h"

namespace banger {
namespace {

class TemplateTest : public VmServiceTest {
 protected:
  void SetUp() override {
    VmServiceTest::SetUp();
    SnapshotServiceDeps sd{store_.get(), events_.get(), svc_.get()};
    sd.fixup = [this](const VmRecord& vm) -> Status {
      fixed_.push_back(vm.name);
      if (vm.name == fail_fixup_of_) return Error::Timeout("the guest agent did not answer");
      return OkStatus();
    };
    snaps_ = std::make_unique<SnapshotService>(sd);
    MakeTemplates();
  }
  void MakeTemplates(std::vector<FileSyncEntry> sync = {}) {
    TemplateServiceDeps td;
    td.home = HomeLayout{root_};
    td.file_sync = std::move(sync);
    td.store = store_.get();
    td.events = events_.get();
    td.vms = svc_.get();
    td.snapshots = snaps_.get();
    td.wait_agent = [this](const VmRecord& vm, std::chrono::milliseconds) -> Status {
      waited_.push_back(vm.name);
      return agent_error_;
    };
    tmpl_ = std::make_unique<TemplateService>(std::move(td));
  }
  VmTemplate MustMakeTemplate(CreateTemplateRequest req = {}) {
    auto t = tmpl_->Create(req);
    EXPECT_TRUE(t.ok()) << t.error().message();
    return t.ok() ? *t : VmTemplate{};
  }
  // Cold boots so far (the fake's LaunchFromSnapshot launches too).
  size_t Boots() { return qemu_.launches.size() - qemu_.restores.size(); }
  std::vector<VmTemplate> AllRows() { return *store_->ListTemplates(); }
  size_t TemplateDirCount() {
    std::error_code ec;
    return static_cast<size_t>(std::distance(fs::directory_iterator(root_ + "/templates", ec), {}));
  }

  std::unique_ptr<SnapshotService> snaps_;
  std::unique_ptr<TemplateService> tmpl_;
  std::vector<std::string> fixed_;
  std::vector<std::string> waited_;
  std::string fail_fixup_of_;
  Status agent_error_ = OkStatus();
};

TEST_F(TemplateTest, MakingATemplateSavesABootedVmAndDeletesIt) {
  VmTemplate t = MustMakeTemplate();
  EXPECT_TRUE(t.complete);
  EXPECT_EQ(t.image_name, "base");
  EXPECT_EQ(t.vcpu_count, kDefaultVCPUCount);
  EXPECT_EQ(waited_.size(), 1u);
  EXPECT_EQ(qemu_.saves, 1);
  EXPECT_TRUE(store_->ListVms()->empty()) << "the template's vm is deleted";
  const std::string dir = tmpl_->DirOf(t);
  for (const char* f : {"vmstate", "work.ext4", "system-overlay.ext4"}) {
    EXPECT_TRUE(IsRegularFile(dir + "/" + f)) << f;
  }
  EXPECT_EQ(t.files.size(), 3u);
  auto listed = tmpl_->List("base");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, t.id);
  // A second template of the same image and spec replaces the first.
  VmTemplate t2 = MustMakeTemplate();
  ASSERT_EQ(tmpl_->List("")->size(), 1u);
  EXPECT_EQ((*tmpl_->List(""))[0].id, t2.id);
  EXPECT_FALSE(PathExists(dir));
  // Another spec is another template.
  CreateTemplateRequest big;
  big.memory_mib = 512;
  MustMakeTemplate(big);
  EXPECT_EQ(tmpl_->List("")->size(), 2u);
}

TEST_F(TemplateTest, ACreateOfTheSameImageAndSpecContinuesTheTemplate) {
  VmTemplate t = MustMakeTemplate();
  ASSERT_TRUE(WriteFileAtomic(tmpl_->DirOf(t) + "/work.ext4", "from-template").ok());
  t.files["work.ext4"] = 13;
  ASSERT_TRUE(store_->PutTemplate(t).ok());
  const size_t boots = Boots();

  VmRecord warm = MustCreate("w1");
  EXPECT_EQ(warm.state, VmState::kRunning);
  ASSERT_EQ(qemu_.restores.size(), 1u);
  EXPECT_EQ(Boots(), boots) << "no boot";
  EXPECT_EQ(fixed_, std::vector<std::string>{"w1"});
  EXPECT_EQ(*ReadFile(warm.runtime.work_disk_path), "from-template");
  EXPECT_FALSE(PathExists(warm.runtime.vm_dir + "/" + kForkPendingName));
  EXPECT_EQ((*tmpl_->List(""))[0].uses, 1);

  // --cold boots; another spec (no template) boots.
  CreateVmRequest cold = Named("c1");
  cold.cold = true;
  MustCreateVm(*svc_, cold);
  CreateVmRequest other = Named("m1");
  other.memory_mib = 384;
  MustCreateVm(*svc_, other);
  EXPECT_EQ(qemu_.restores.size(), 1u);
  EXPECT_EQ(Boots(), boots + 2);
  // (the fake's fresh disk is a large sparse file: compare its head only)
  std::ifstream head(store_->GetVm("c1")->runtime.work_disk_path, std::ios::binary);
  std::string first(13, '\0');
  head.read(first.data(), 13);
  EXPECT_NE(first, "from-template");
  // --no-start makes the VM only (its later start boots).
  CreateVmRequest later = Named("n1");
  later.no_start = true;
  MustCreateVm(*svc_, later);
  EXPECT_EQ(qemu_.restores.size(), 1u);
}

TEST_F(TemplateTest, AStaleTemplateIsRemovedAndTheVmBoots) {
  VmTemplate t = MustMakeTemplate();
  // The image's kernel changed (another mtime).
  struct utimbuf times {
    1000000000, 1000000000
  };
  ASSERT_EQ(::utime((root_ + "/vmlinux").c_str(), &times), 0);
  VmRecord vm = MustCreate("w1");
  EXPECT_EQ(vm.state, VmState::kRunning);
  EXPECT_TRUE(qemu_.restores.empty());
  EXPECT_TRUE(AllRows().empty());
  EXPECT_EQ(TemplateDirCount(), 0u);

  // A template whose memory file was truncated by hand is stale too.
  VmTemplate t2 = MustMakeTemplate();
  ASSERT_TRUE(WriteFileAtomic(tmpl_->DirOf(t2) + "/vmstate", "short").ok());
  MustCreate("w2");
  EXPECT_TRUE(qemu_.restores.empty());
  EXPECT_TRUE(AllRows().empty());
}

TEST_F(TemplateTest, FileSyncSourcesArePartOfTheTemplatesInputs) {
  const std::string src = root_ + "/synced";
  ASSERT_TRUE(WriteFileAtomic(src, "v1").ok());
  MakeTemplates({{src, "/root/synced", ""}});
  MustMakeTemplate();
  MustCreate("w1");
  EXPECT_EQ(qemu_.restores.size(), 1u);
  ASSERT_TRUE(WriteFileAtomic(src, "v2 is longer").ok());
  MustCreate("w2");
  EXPECT_EQ(qemu_.restores.size(), 1u) << "the synced file changed: the template is stale";
  EXPECT_TRUE(AllRows().empty());
}

TEST_F(TemplateTest, AFailedWarmStartLeavesNothingAndTheVmBoots) {
  MustMakeTemplate();
  const size_t boots = Boots();
  fail_fixup_of_ = "w1";
  VmRecord vm = MustCreate("w1");
  EXPECT_EQ(vm.state, VmState::kRunning);
  EXPECT_EQ(Boots(), boots + 1) << "booted after the warm start failed";
  EXPECT_EQ(store_->ListVms()->size(), 1u);
  EXPECT_FALSE(PathExists(vm.runtime.vm_dir + "/" + kForkPendingName));
  EXPECT_EQ(tmpl_->List("")->size(), 1u) << "the template stays";
}

TEST_F(TemplateTest, RefusalsAndAFailedMakingLeaveNothing) {
  CreateTemplateRequest bad;
  bad.image = "nosuch";
  auto r = tmpl_->Create(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("image \"nosuch\" not found"), std::string::npos);
  CreateTemplateRequest zero;
  zero.vcpu_count = 0;
  EXPECT_FALSE(tmpl_->Create(zero).ok());
  EXPECT_EQ(tmpl_->Delete("abcdef").error().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(tmpl_->Delete("ab").error().kind(), ErrorKind::kInvalidArgument);

  agent_error_ = Error::Timeout("the agent did not answer in 120 s");
  auto failed = tmpl_->Create({});
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message().find("did not answer"), std::string::npos);
  EXPECT_TRUE(AllRows().empty());
  EXPECT_TRUE(store_->ListVms()->empty());
  EXPECT_EQ(TemplateDirCount(), 0u);
}

TEST_F(TemplateTest, ReconcileRemovesWhatAKilledMakingLeft) {
  VmTemplate good = MustMakeTemplate();
  // A making killed midway: an incomplete row, its directory, its labelled VM.
  VmTemplate half = good;
  half.id = NewId();
  half.complete = false;
  ASSERT_TRUE(store_->PutTemplate(half).ok());
  ASSERT_TRUE(MakeDirs(tmpl_->DirOf(half), 0700).ok());
  CreateVmRequest r = Named("tmpl-x");
  r.labels = {{kTemplateLabel, half.id}};
  r.cold = true;
  MustCreateVm(*svc_, r);
  // And a directory no row names.
  ASSERT_TRUE(MakeDirs(root_ + "/templates/0123456789abcdef", 0700).ok());

  tmpl_->Reconcile();
  ASSERT_EQ(AllRows().size(), 1u);
  EXPECT_EQ(AllRows()[0].id, good.id);
  EXPECT_TRUE(store_->ListVms()->empty());
  EXPECT_EQ(TemplateDirCount(), 1u);
  EXPECT_TRUE(PathExists(tmpl_->DirOf(good)));
}

TEST_F(TemplateTest, DeletingTheImageRemovesItsTemplates) {
  images_->SetOnDeleted([this](const std::string&) { tmpl_->RemoveOrphanDirs(); });
  MustMakeTemplate();
  ASSERT_EQ(TemplateDirCount(), 1u);
  ASSERT_TRUE(images_->DeleteImage("base").ok());
  EXPECT_TRUE(AllRows().empty());
  EXPECT_EQ(TemplateDirCount(), 0u);
}

TEST_F(TemplateTest, DeletingRemovesRowAndFiles) {
  VmTemplate t = MustMakeTemplate();
  ASSERT_TRUE(tmpl_->Delete(t.id.substr(0, 8)).ok());
  EXPECT_TRUE(AllRows().empty());
  EXPECT_FALSE(PathExists(tmpl_->DirOf(t)));
  MustCreate("w1");
  EXPECT_TRUE(qemu_.restores.empty());
}

}  // namespace
}  // namespace banger
