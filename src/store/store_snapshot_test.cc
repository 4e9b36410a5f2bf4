// The snapshots table: name unique per VM, completion flag, cascade with the VM.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "model/json.h"
#include "store/store.h"
#include "store/store_test_util.h"

namespace banger {
namespace {

using ::testing::HasSubstr;

VmSnapshot MakeSnapshot(const std::string& vm_id, const std::string& name, int64_t at) {
  VmSnapshot s;
  s.id = NewId();
  s.vm_id = vm_id;
  s.name = name;
  s.backend = BackendKind::kFirecracker;
  s.image_id = "img";
  s.kernel_identity = "/k/vmlinux:123:456";
  s.vcpu_count = 2;
  s.memory_mib = 512;
  s.files = Json{{"state", 17000}, {"memory", 536870912}};
  s.created_at = At(at);
  return s;
}

class StoreSnapshotTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    img_ = MakeImage("base");
    ASSERT_TRUE(store_->InsertImage(img_).ok());
    vm_ = MakeVm("web", img_.id);
    ASSERT_TRUE(store_->InsertVm(vm_).ok());
  }
  Image img_;
  VmRecord vm_;
};

TEST_F(StoreSnapshotTest, InsertCompleteGetListDelete) {
  VmSnapshot s = MakeSnapshot(vm_.id, "first", 1700000000);
  ASSERT_TRUE(store_->InsertSnapshot(s).ok());
  auto got = store_->GetSnapshot(vm_.id, "first");
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_FALSE(got->complete);
  EXPECT_EQ(got->backend, BackendKind::kFirecracker);
  EXPECT_EQ(got->files["memory"], 536870912);
  EXPECT_EQ(got->kernel_identity, s.kernel_identity);
  EXPECT_EQ(got->created_at, s.created_at);

  s.complete = true;
  s.bytes_on_disk = 4096;
  ASSERT_TRUE(store_->UpdateSnapshot(s).ok());
  got = store_->GetSnapshot(vm_.id, s.id);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->complete);
  EXPECT_EQ(got->bytes_on_disk, 4096);

  ASSERT_TRUE(store_->InsertSnapshot(MakeSnapshot(vm_.id, "second", 1700000100)).ok());
  auto all = store_->ListSnapshots(vm_.id);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "first");
  EXPECT_EQ((*all)[1].name, "second");

  ASSERT_TRUE(store_->DeleteSnapshot(s.id).ok());
  EXPECT_EQ(store_->GetSnapshot(vm_.id, "first").error().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(store_->DeleteSnapshot(s.id).error().kind(), ErrorKind::kNotFound);
}

TEST_F(StoreSnapshotTest, NameIsUniquePerVmOnly) {
  ASSERT_TRUE(store_->InsertSnapshot(MakeSnapshot(vm_.id, "s", 1)).ok());
  auto dup = store_->InsertSnapshot(MakeSnapshot(vm_.id, "s", 2));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().kind(), ErrorKind::kConflict);
  EXPECT_THAT(dup.error().message(), HasSubstr("already has a snapshot named"));

  VmRecord other = MakeVm("db", img_.id);
  ASSERT_TRUE(store_->InsertVm(other).ok());
  EXPECT_TRUE(store_->InsertSnapshot(MakeSnapshot(other.id, "s", 3)).ok());
  // Lookups are scoped to their VM.
  EXPECT_EQ(store_->GetSnapshot(other.id, "s")->vm_id, other.id);
  EXPECT_EQ(store_->ListSnapshots("")->size(), 2u);
}

TEST_F(StoreSnapshotTest, UnknownVmIsNotFoundAndDeletingTheVmCascades) {
  auto orphan = store_->InsertSnapshot(MakeSnapshot("no-such-vm", "s", 1));
  ASSERT_FALSE(orphan.ok());
  EXPECT_EQ(orphan.error().kind(), ErrorKind::kNotFound);

  ASSERT_TRUE(store_->InsertSnapshot(MakeSnapshot(vm_.id, "s", 1)).ok());
  ASSERT_TRUE(store_->DeleteVm(vm_.id).ok());
  EXPECT_TRUE(store_->ListSnapshots("")->empty());
}

// The templates table: a JSON body per row, replaced by id, removed with its image.
TEST_F(StoreSnapshotTest, TemplatesRoundTripAndGoWithTheirImage) {
  VmTemplate t;
  t.id = NewId();
  t.image_id = img_.id;
  t.image_name = "base";
  t.vcpu_count = 2;
  t.memory_mib = 512;
  t.work_disk_size_bytes = 1 << 30;
  t.nic = true;
  t.inputs_identity = "k|i|r|";
  t.files = Json{{"vmstate", 4096}};
  t.created_at = At(10);
  ASSERT_TRUE(store_->PutTemplate(t).ok());
  t.complete = true;
  t.uses = 3;
  ASSERT_TRUE(store_->PutTemplate(t).ok());
  auto all = store_->ListTemplates();
  ASSERT_TRUE(all.ok()) << all.error().message();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_TRUE((*all)[0].complete);
  EXPECT_EQ((*all)[0].uses, 3);
  EXPECT_TRUE((*all)[0].nic);
  EXPECT_EQ((*all)[0].files, t.files);

  VmTemplate orphan = t;
  orphan.id = NewId();
  orphan.image_id = "no-such-image";
  EXPECT_EQ(store_->PutTemplate(orphan).error().kind(), ErrorKind::kNotFound);

  ASSERT_TRUE(store_->DeleteVm(vm_.id).ok());
  ASSERT_TRUE(store_->DeleteImage(img_.id).ok());
  EXPECT_TRUE(store_->ListTemplates()->empty()) << "removed with the image";
  EXPECT_EQ(store_->DeleteTemplate(t.id).error().kind(), ErrorKind::kNotFound);
}

}  // namespace
}  // namespace banger

namespace banger {
namespace {

// The ports table: one row per host address, named clashes, cascade with the VM.
class StorePortTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    img_ = MakeImage("base");
    ASSERT_TRUE(store_->InsertImage(img_).ok());
    a_ = MakeVm("web", img_.id);
    b_ = MakeVm("db", img_.id);
    ASSERT_TRUE(store_->InsertVm(a_).ok());
    ASSERT_TRUE(store_->InsertVm(b_).ok());
  }
  static PortMapping Port(const std::string& vm, int host, int guest) {
    PortMapping p;
    p.vm_id = vm;
    p.host_port = host;
    p.guest_port = guest;
    return p;
  }
  Image img_;
  VmRecord a_, b_;
};

TEST_F(StorePortTest, InsertListDeleteAndCascade) {
  ASSERT_TRUE(store_->InsertPort(Port(a_.id, 18080, 8080)).ok());
  ASSERT_TRUE(store_->InsertPort(Port(a_.id, 18081, 8081)).ok());
  ASSERT_TRUE(store_->InsertPort(Port(b_.id, 15432, 5432)).ok());
  auto clash = store_->InsertPort(Port(b_.id, 18080, 80));
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().kind(), ErrorKind::kConflict);
  EXPECT_THAT(clash.error().message(), ::testing::HasSubstr("already published by vm web"));
  auto missing = store_->InsertPort(Port("nope", 1, 1));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kNotFound);

  auto of_a = store_->ListPorts(a_.id);
  ASSERT_TRUE(of_a.ok());
  ASSERT_EQ(of_a->size(), 2U);
  EXPECT_EQ((*of_a)[0].host_port, 18080);
  EXPECT_EQ((*of_a)[0].guest_port, 8080);
  EXPECT_EQ((*of_a)[0].vm_id, a_.id);
  auto all = store_->ListPorts("");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3U);

  EXPECT_EQ(store_->DeletePort(Port(b_.id, 18081, 0)).error().kind(), ErrorKind::kNotFound);
  ASSERT_TRUE(store_->DeletePort(Port(a_.id, 18081, 0)).ok());
  ASSERT_TRUE(store_->DeleteVm(a_.id).ok());
  all = store_->ListPorts("");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1U);
  EXPECT_EQ((*all)[0].vm_id, b_.id);
}

}  // namespace
}  // namespace banger
