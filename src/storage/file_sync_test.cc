// Real debugfs on a real (small, sparse) ext4 image: no mounting, no root.
#include "storage/file_sync.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/fs.h"
#include "base/process.h"
#include "base/testing/temp_dir.h"

namespace banger {
namespace {

namespace fs = std::filesystem;

class FileSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/home/.gitconfig", "[user]\n\tname = t\n").ok());
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/home/.config/tool/a.conf", "a=1\n").ok());
    image_ = dir_ + "/work.ext4";
    ASSERT_TRUE(RunChecked({"truncate", "-s", "64M", image_}).ok());
    ASSERT_TRUE(RunChecked({"mkfs.ext4", "-q", "-F", image_}).ok());
  }
  std::string Debugfs(const std::string& cmd) {
    auto r = RunCommand({"debugfs", "-R", cmd, image_});
    return r.ok() ? r->out : "";
  }
  testing::TempDir tmp_{"bgfs", {"home/.config/tool"}};
  std::string dir_ = tmp_.path(), image_;
};

TEST_F(FileSyncTest, CopiesFilesAndDirsWithModes) {
  std::vector<SyncEntry> entries = {{"~/.gitconfig", ".gitconfig", "0644"},
                                    {"~/.config/tool", "~/.config/tool", ""},
                                    {"~/missing", "missing", ""}};
  auto w = SyncIntoExt4(image_, entries, dir_ + "/home");
  ASSERT_TRUE(w.ok()) << w.error().message();
  ASSERT_EQ(w->size(), 1u);
  EXPECT_NE((*w)[0].find("missing"), std::string::npos);
  EXPECT_EQ(Debugfs("cat /.gitconfig"), "[user]\n\tname = t\n");
  EXPECT_NE(Debugfs("stat /.gitconfig").find("Mode:  0644"), std::string::npos)
      << Debugfs("stat /.gitconfig");
  EXPECT_EQ(Debugfs("cat /.config/tool/a.conf"), "a=1\n");
  EXPECT_NE(Debugfs("stat /.config/tool/a.conf").find("Mode:  0600"), std::string::npos);
  EXPECT_NE(Debugfs("stat /.config/tool").find("Mode:  0755"), std::string::npos);
  // Applying again replaces, not fails.
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/home/.gitconfig", "v2\n").ok());
  ASSERT_TRUE(SyncIntoExt4(image_, entries, dir_ + "/home").ok());
  EXPECT_EQ(Debugfs("cat /.gitconfig"), "v2\n");
}

TEST_F(FileSyncTest, SymlinkTargetsCannotInjectDebugfsCommands) {
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/secret", "host-only\n").ok());
  fs::create_directories(dir_ + "/home/dots");
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/home/dots/ok.conf", "ok\n").ok());
  fs::create_symlink("ok.conf", dir_ + "/home/dots/good-link");
  // A target that ends the symlink command and starts one of its own: copy a
  // host file the user cannot choose into the guest, and remove a file.
  fs::create_symlink("x\nwrite " + dir_ + "/secret /pwned\nrm /dots/ok.conf", dir_ + "/home/dots/newline");
  fs::create_symlink("x\" \"y", dir_ + "/home/dots/quote");
  fs::create_symlink("tab\there", dir_ + "/home/dots/tab");
  auto w = SyncIntoExt4(image_, {{"~/dots", "dots", ""}}, dir_ + "/home");
  ASSERT_TRUE(w.ok()) << w.error().message();
  ASSERT_EQ(w->size(), 3u);
  for (const auto& line : *w) {
    EXPECT_NE(line.find("symlink"), std::string::npos) << line;
    EXPECT_NE(line.find("debugfs cannot take; skipped"), std::string::npos) << line;
    EXPECT_EQ(line.find('\n'), std::string::npos) << "one line each";
  }
  EXPECT_EQ(Debugfs("cat /pwned"), "") << "no command came from a symlink target";
  EXPECT_EQ(Debugfs("cat /dots/ok.conf"), "ok\n")
      << "a symlink keeps its own name: " << Debugfs("ls -l /dots");
  EXPECT_NE(Debugfs("stat /dots/good-link").find("Fast link dest: \"ok.conf\""), std::string::npos)
      << Debugfs("stat /dots/good-link");
  EXPECT_EQ(Debugfs("stat /dots/newline").find("Fast link"), std::string::npos);
  // A symlink to an absolute path outside the directory lands in it all the same.
  fs::create_symlink(dir_ + "/secret", dir_ + "/home/dots/abs");
  ASSERT_TRUE(SyncIntoExt4(image_, {{"~/dots", "dots", ""}}, dir_ + "/home").ok());
  EXPECT_NE(Debugfs("stat /dots/abs").find("Fast link dest: \"" + dir_ + "/secret\""), std::string::npos)
      << Debugfs("ls -l /dots");
}

TEST(WorkDiskPathTest, MapsGuestPathsUnderRoot) {
  EXPECT_EQ(*WorkDiskPath(".gitconfig"), "/.gitconfig");
  EXPECT_EQ(*WorkDiskPath("~/.ssh/config"), "/.ssh/config");
  EXPECT_EQ(*WorkDiskPath("/root/a/b"), "/a/b");
  EXPECT_FALSE(WorkDiskPath("/etc/passwd").ok());
  EXPECT_FALSE(WorkDiskPath("a/../../etc").ok());
  EXPECT_FALSE(WorkDiskPath("a\"b").ok());
  EXPECT_FALSE(WorkDiskPath("a\nrm /x").ok());
  EXPECT_FALSE(WorkDiskPath("/root").ok());
}

}  // namespace
}  // namespace banger
