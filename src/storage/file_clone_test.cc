#include "storage/file_clone.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/fs.h"

namespace banger {
namespace {

class FileCloneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/banger-clone-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (mounted_) ::umount2((dir_ + "/small").c_str(), MNT_DETACH);
    std::filesystem::remove_all(dir_);
  }
  // A sparse file: 64 MiB apparent, data at 0 and at 40 MiB.
  std::string MakeSparse(const std::string& name) {
    std::string p = dir_ + "/" + name;
    {
      std::ofstream f(p);
      f << "head-data";
      f.seekp(40 << 20);
      f << std::string(8192, 'x');
    }
    std::filesystem::resize_file(p, 64 << 20);
    return p;
  }
  std::string dir_;
  bool mounted_ = false;
};

TEST_F(FileCloneTest, CopyKeepsContentSizeAndHoles) {
  std::string src = MakeSparse("src");
  auto r = CloneOrSparseCopy(src, dir_ + "/dst");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->size_bytes, 64 << 20);
  EXPECT_EQ(*ReadFile(src), *ReadFile(dir_ + "/dst"));
  // Holes stay holes (a reflink shares blocks: either way, far below 64 MiB).
  EXPECT_LT(AllocatedBytes(dir_ + "/dst"), 8 << 20);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/dst").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(FileCloneTest, ExistingTargetIsRefusedAndKept) {
  std::string src = MakeSparse("src");
  std::ofstream(dir_ + "/dst") << "keep me";
  EXPECT_FALSE(CloneOrSparseCopy(src, dir_ + "/dst").ok());
  EXPECT_EQ(*ReadFile(dir_ + "/dst"), "keep me");
}

TEST_F(FileCloneTest, DiskFullFailsWithENOSPCAndLeavesNothing) {
  std::string small = dir_ + "/small";
  ASSERT_TRUE(MakeDirs(small).ok());
  if (::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "cannot mount a small tmpfs here (needs root)";
  }
  mounted_ = true;
  std::string src = dir_ + "/big";
  std::ofstream(src) << std::string(3 << 20, 'd');
  auto r = CloneOrSparseCopy(src, small + "/copy");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), ::testing::HasSubstr("No space left on device"));
  EXPECT_FALSE(PathExists(small + "/copy"));
}

}  // namespace
}  // namespace banger
