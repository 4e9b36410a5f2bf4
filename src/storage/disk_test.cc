// RealDiskOps against the real e2fsprogs on small sparse images.
#include "storage/disk.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/testing/temp_dir.h"
#include "model/types.h"

namespace banger {
namespace {

// A field of `dumpe2fs -h` output as a number, -1 if absent.
int64_t Field(const std::string& out, const std::string& key) {
  auto pos = out.find(key + ":");
  if (pos == std::string::npos) return -1;
  return std::stoll(out.substr(pos + key.size() + 1));
}

TEST(DiskOpsTest, GrowsAsTheDaemonsUser) {
  testing::TempDir dir("banger-disk");
  std::string disk = dir / "work.ext4";
  auto ops = MakeRealDiskOps(std::nullopt);
  ASSERT_TRUE(ops->CreateExt4(disk, 16 * kMiB, "work").ok());
  ASSERT_TRUE(ops->GrowExt4(disk, 32 * kMiB).ok());
  EXPECT_EQ(ops->SizeOf(disk), 32 * kMiB);
  EXPECT_EQ(ops->GrowExt4(disk, 16 * kMiB).error().kind(), ErrorKind::kInvalidArgument);
}

// A guest-written disk is checked and resized by an unprivileged user, who
// cannot even reach the directory it lives in (the tools get a descriptor).
TEST(DiskOpsTest, GuestWrittenDiskIsCheckedAndResizedAsTheToolsUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  testing::TempDir dir("banger-disk");
  ASSERT_EQ(::chmod(dir.path().c_str(), 0700), 0);
  std::string disk = dir / "work.ext4";
  ASSERT_TRUE(RealDiskOps().CreateExt4(disk, 16 * kMiB, "work").ok());
  auto ops = MakeRealDiskOps(Credentials{65534, 65534, {}});
  auto st = ops->GrowExt4(disk, 48 * kMiB);
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(ops->SizeOf(disk), 48 * kMiB);
  struct stat s {};
  ASSERT_EQ(::stat(disk.c_str(), &s), 0);
  EXPECT_EQ(s.st_uid, 65534u) << "the disk is given to the tools user";
  // The filesystem really grew: a forced check as root agrees with the new size.
  auto fsck = RunCommand({"e2fsck", "-f", "-n", disk});
  ASSERT_TRUE(fsck.ok());
  EXPECT_EQ(fsck->exit_code, 0) << fsck->out << fsck->err;
  auto dump = RunChecked({"dumpe2fs", "-h", disk});
  ASSERT_TRUE(dump.ok()) << dump.error().message();
  EXPECT_EQ(Field(dump->out, "Block count") * Field(dump->out, "Block size"), 48 * kMiB) << dump->out;
}

}  // namespace
}  // namespace banger
