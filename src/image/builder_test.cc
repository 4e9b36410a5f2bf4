#include "image/builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "image/image_test_util.h"
#include "image/kernel_package.h"

namespace banger {
namespace {

using ::testing::HasSubstr;

TEST(ParseKernelPackageTest, FindsTheVersionedImagePackage) {
  auto pkg = ParseKernelPackage(
      "linux-image-cloud-amd64\n"
      "  Depends: linux-image-6.1.0-56-cloud-amd64\n");
  ASSERT_TRUE(pkg.ok()) << pkg.error().message();
  EXPECT_EQ(*pkg, "linux-image-6.1.0-56-cloud-amd64");
}

TEST(ParseKernelPackageTest, SkipsOtherRelationsAndAlternatives) {
  auto pkg = ParseKernelPackage(
      "linux-image-cloud-amd64\n"
      " |Depends: linux-image-6.1.0-1-cloud-amd64\n"
      "  Recommends: firmware-linux\n"
      "  Depends: linux-image-6.1.0-56-cloud-amd64\n");
  ASSERT_TRUE(pkg.ok());
  EXPECT_EQ(*pkg, "linux-image-6.1.0-56-cloud-amd64");
}

TEST(ParseKernelPackageTest, NothingFoundIsAnError) {
  EXPECT_FALSE(ParseKernelPackage("").ok());
  EXPECT_FALSE(ParseKernelPackage("linux-image-cloud-amd64\n  Depends: linux-image-\n").ok());
}

class ValidateBuildRequestTest : public ScratchDirTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(ScratchDirTest::SetUp());
    env_.artifact_dir = dir_;
    env_.agent_binary = "/bin/busybox";
    env_.ssh_public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample user@host\n";
  }

  std::string Invalid(const ImageBuildRequest& req) {
    auto st = ValidateBuildRequest(req, env_);
    return st.ok() ? "" : st.error().message();
  }

  ImageBuildEnv env_;
};

TEST_F(ValidateBuildRequestTest, AcceptsTheDefaults) { EXPECT_EQ(Invalid({}), ""); }

ImageBuildRequest Request(const std::string& profile, bool docker = false, int64_t size = 0) {
  ImageBuildRequest req;
  req.name = "test";
  req.profile = profile;
  req.docker = docker;
  req.rootfs_size_bytes = size;
  return req;
}

TEST_F(ValidateBuildRequestTest, RejectsUnknownProfileAndDockerOnMinimal) {
  EXPECT_THAT(Invalid(Request("alpine")), HasSubstr("unknown image profile"));
  EXPECT_THAT(Invalid(Request("minimal", true)), HasSubstr("debian"));
  EXPECT_EQ(Invalid(Request("debian", true)), "");
}

TEST_F(ValidateBuildRequestTest, RejectsTinyRootfs) {
  EXPECT_THAT(Invalid(Request("minimal", false, 1 << 20)), HasSubstr("at least 64M"));
  EXPECT_THAT(Invalid(Request("minimal", false, -1)), HasSubstr("at least"));
}

TEST_F(ValidateBuildRequestTest, RejectsBadKeysAndMissingFiles) {
  env_.ssh_public_key = "not a key";
  EXPECT_THAT(Invalid({}), HasSubstr("ssh public key"));
  env_.ssh_public_key = "ssh-ed25519 AAAA a\nssh-rsa BBBB b";
  EXPECT_THAT(Invalid({}), HasSubstr("one OpenSSH public key line"));
  env_.ssh_public_key = "ssh-ed25519 AAAA a";
  env_.agent_binary = env_.artifact_dir + "/none";
  EXPECT_THAT(Invalid({}), HasSubstr("guest agent"));
  env_.agent_binary = "/bin/busybox";
  env_.artifact_dir += "/missing";
  EXPECT_THAT(Invalid({}), HasSubstr("artifact directory"));
}

}  // namespace
}  // namespace banger
