#include "storage/file_clone.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
  void TearDown() override { std::filesystem::remove_all(dir_); }
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

// The small tmpfs is mounted in a child in its own mount namespace, so
// nothing is ever mounted in the host's (a crash leaves no mount behind).
TEST_F(FileCloneTest, DiskFullFailsWithENOSPCAndLeavesNothing) {
  std::string small = dir_ + "/small";
  ASSERT_TRUE(MakeDirs(small).ok());
  std::string src = dir_ + "/big";
  std::ofstream(src) << std::string(3 << 20, 'd');
  std::string msg_file = dir_ + "/message";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0 || ::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=1m") != 0) {
      ::_exit(77);
    }
    auto r = CloneOrSparseCopy(src, small + "/copy");
    std::ofstream(msg_file) << (r.ok() ? std::string("copied") : r.error().message());
    ::_exit(PathExists(small + "/copy") ? 2 : 0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77)
    GTEST_SKIP() << "cannot mount a small tmpfs in a new mount namespace (needs root)";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the partial copy was left behind";
  EXPECT_THAT(*ReadFile(msg_file), ::testing::HasSubstr("No space left on device"));
}

}  // namespace
}  // namespace banger
