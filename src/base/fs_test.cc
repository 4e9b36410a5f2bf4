#include "base/fs.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

namespace banger {
namespace {

class FsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() / ("banger-fs-" + std::to_string(::getpid()))).string();
    ASSERT_TRUE(MakeDirs(dir_).ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(FsTest, AtomicWriteThenReadRoundTrips) {
  std::string p = dir_ + "/f.json";
  ASSERT_TRUE(WriteFileAtomic(p, "one", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(p, "two").ok());
  auto r = ReadFile(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "two");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 1);  // no temp files left
}

TEST_F(FsTest, ReadMissingIsNotFound) {
  auto r = ReadFile(dir_ + "/missing");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kNotFound);
}

TEST_F(FsTest, RemoveAllToleratesMissing) {
  EXPECT_TRUE(RemoveAll(dir_ + "/nothing").ok());
  EXPECT_TRUE(RemoveFile(dir_ + "/nothing").ok());
}

TEST_F(FsTest, TailFileReturnsLastBytes) {
  std::string p = dir_ + "/log";
  ASSERT_TRUE(WriteFileAtomic(p, "0123456789").ok());
  EXPECT_EQ(TailFile(p, 4), "6789");
  EXPECT_EQ(TailFile(p, 100), "0123456789");
  EXPECT_EQ(TailFile(dir_ + "/none", 4), "");
}

TEST_F(FsTest, FileLockIsExclusive) {
  auto a = FileLock::TryAcquire(dir_ + "/lock");
  ASSERT_TRUE(a.ok());
  auto b = FileLock::TryAcquire(dir_ + "/lock");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().kind(), ErrorKind::kConflict);
}

}  // namespace
}  // namespace banger
