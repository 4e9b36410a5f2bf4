// Image use cases: import validation and deletion rules.
#include "daemon/testing/vm_service_fixture.h"

namespace banger {
namespace {

TEST_F(VmServiceTest, ImageInUseCannotBeDeleted) {
  MustCreate("t1", true);
  auto r = images_->DeleteImage("base");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kConflict);
  ASSERT_TRUE(svc_->Delete("t1", false).ok());
  EXPECT_TRUE(images_->DeleteImage("base").ok());
}

TEST_F(VmServiceTest, ImportValidatesPaths) {
  auto r = images_->ImportImage({"other", root_ + "/missing", root_ + "/rootfs.ext4", "", "", ""});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("does not exist"), std::string::npos);
  EXPECT_FALSE(images_->ImportImage({"other", "relative/vmlinux", root_ + "/rootfs.ext4", "", "", ""}).ok());
  EXPECT_FALSE(
      images_->ImportImage({"Bad Name", root_ + "/vmlinux", root_ + "/rootfs.ext4", "", "", ""}).ok());
  auto dup = images_->ImportImage({"base", root_ + "/vmlinux", root_ + "/rootfs.ext4", "", "", ""});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().kind(), ErrorKind::kConflict);
}

}  // namespace
}  // namespace banger
