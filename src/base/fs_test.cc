#include "base/fs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "base/fs_cloexec.h"

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

mode_t ModeOf(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

int64_t SizeOf(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? st.st_size : -1;
}

// Sets the umask for a scope.
class UmaskFor {
 public:
  explicit UmaskFor(mode_t m) : old_(::umask(m)) {}
  ~UmaskFor() { ::umask(old_); }
  UmaskFor(const UmaskFor&) = delete;
  UmaskFor& operator=(const UmaskFor&) = delete;

 private:
  mode_t old_;
};

TEST_F(FsTest, AtomicWriteIsPrivateByDefaultAndExactlyTheModeAsked) {
  UmaskFor u(077);
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/default", "x").ok());
  EXPECT_EQ(ModeOf(dir_ + "/default"), 0600);
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/shared", "x", 0644).ok());
  EXPECT_EQ(ModeOf(dir_ + "/shared"), 0644) << "the mode asked, not the umask's";
  EXPECT_FALSE(WriteFileAtomic(dir_ + "/no-such-dir/f", "x").ok());
}

TEST_F(FsTest, RenameDurablePublishesAndSyncsTheDirectory) {
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/a", "payload").ok());
  ASSERT_TRUE(RenameDurable(dir_ + "/a", dir_ + "/b").ok());
  EXPECT_FALSE(PathExists(dir_ + "/a"));
  EXPECT_EQ(*ReadFile(dir_ + "/b"), "payload");
  EXPECT_FALSE(RenameDurable(dir_ + "/a", dir_ + "/c").ok());
  EXPECT_TRUE(SyncDir(dir_).ok());
  EXPECT_FALSE(SyncDir(dir_ + "/missing").ok());
}

TEST_F(FsTest, CreateFileWithModeKeepsContentAndSetsTheMode) {
  UmaskFor u(0);
  std::string p = dir_ + "/console.log";
  ASSERT_TRUE(WriteFileAtomic(p, "old", 0666).ok());
  ASSERT_TRUE(CreateFileWithMode(p, 0600).ok());
  EXPECT_EQ(ModeOf(p), 0600);
  EXPECT_EQ(*ReadFile(p), "old");
  ASSERT_TRUE(CreateFileWithMode(dir_ + "/new", 0600).ok());
  EXPECT_EQ(ModeOf(dir_ + "/new"), 0600);
  std::filesystem::create_symlink(p, dir_ + "/link");
  EXPECT_FALSE(CreateFileWithMode(dir_ + "/link", 0600).ok()) << "a symlink is not followed";
}

TEST_F(FsTest, RestrictTreeTakesGroupAndOtherBitsAwayWithoutFollowingSymlinks) {
  UmaskFor u(0);
  std::string home = dir_ + "/home";
  ASSERT_TRUE(MakeDirs(home + "/vms/abc", 0755).ok());
  ::chmod(home.c_str(), 0755);
  ::chmod((home + "/vms").c_str(), 0755);
  ASSERT_TRUE(WriteFileAtomic(home + "/banger.db", "db", 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(home + "/vms/abc/console.log", "c", 0666).ok());
  ASSERT_TRUE(WriteFileAtomic(home + "/tool", "#!", 0755).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/outside", "o", 0644).ok());
  std::filesystem::create_symlink(dir_ + "/outside", home + "/link");
  ASSERT_TRUE(RestrictTree(home + "/banger.db", 0700).ok()) << "a file alone";
  EXPECT_EQ(ModeOf(home + "/banger.db"), 0600);
  EXPECT_TRUE(RestrictTree(home + "/missing", 0700).ok());
  ASSERT_TRUE(RestrictTree(home, 0700).ok());
  EXPECT_EQ(ModeOf(home), 0700);
  EXPECT_EQ(ModeOf(home + "/vms"), 0700);
  EXPECT_EQ(ModeOf(home + "/vms/abc"), 0700);
  EXPECT_EQ(ModeOf(home + "/banger.db"), 0600);
  EXPECT_EQ(ModeOf(home + "/vms/abc/console.log"), 0600);
  EXPECT_EQ(ModeOf(home + "/tool"), 0700) << "the owner's bits stay";
  EXPECT_EQ(ModeOf(dir_ + "/outside"), 0644) << "a symlink's target is not ours to change";
  // One place decides the traverse bit a group may get (docs/security.md).
  ASSERT_TRUE(RestrictTree(home, 0710).ok());
  EXPECT_EQ(ModeOf(home), 0710);
  EXPECT_EQ(ModeOf(home + "/banger.db"), 0600);
}

// What a VMM does to console.log: write through its own O_APPEND fd.
class AppendWriter {
 public:
  explicit AppendWriter(const std::string& p)
      : fd_(::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) {}
  void Write(const std::string& s) {
    ASSERT_EQ(::write(fd_.get(), s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }

 private:
  UniqueFd fd_;
};

TEST_F(FsTest, RotateAppendedFileKeepsAnAppendedLogAndOneOlderFileBounded) {
  const std::string p = dir_ + "/console.log";
  const int64_t cap = 64 << 10;
  AppendWriter vmm(p);
  EXPECT_FALSE(*RotateAppendedFile(dir_ + "/missing", cap));
  std::string all;
  int rotations = 0;
  // 2 MiB in 8 KiB steps (what the guest writes between two upkeep ticks),
  // 32 times the cap.
  for (int i = 0; i < 256; ++i) {
    std::string chunk(8 << 10, static_cast<char>('a' + i % 26));
    chunk.back() = '\n';
    vmm.Write(chunk);
    all += chunk;
    auto r = RotateAppendedFile(p, cap);
    ASSERT_TRUE(r.ok()) << r.error().message();
    rotations += *r ? 1 : 0;
    ASSERT_LE(SizeOf(p), cap);
    ASSERT_LE(SizeOf(p + ".1"), cap + (8 << 10));
    EXPECT_LE(AllocatedBytes(p), cap + (64 << 10)) << "the writer's next append lands at 0, not past a hole";
  }
  EXPECT_GE(rotations, 20);
  EXPECT_EQ(ModeOf(p + ".1"), 0600);
  // Nothing lost when the writer is not racing the copy: the rotated file then
  // the live one are the newest bytes written, in order.
  std::string kept = *ReadFile(p + ".1") + *ReadFile(p);
  ASSERT_LE(kept.size(), all.size());
  EXPECT_EQ(kept, all.substr(all.size() - kept.size()));
  EXPECT_EQ(TailRotatedFile(p, kept.size()), kept) << "a tail spans the rotation";
  EXPECT_EQ(TailRotatedFile(p, 10), all.substr(all.size() - 10));
}

TEST_F(FsTest, RotateAppendedFileStaysBoundedUnderAConcurrentWriter) {
  const std::string p = dir_ + "/console.log";
  const int64_t cap = 64 << 10;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> written{0};
  std::thread writer([&] {
    AppendWriter vmm(p);
    std::string line(1023, 'x');
    line += '\n';
    while (!stop) {
      vmm.Write(line);
      written += static_cast<int64_t>(line.size());
      if (written % (16 << 10) == 0) std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  });
  int64_t worst = 0;
  while (written < (8 << 20)) {
    ASSERT_TRUE(RotateAppendedFile(p, cap).ok());
    worst = std::max(worst, SizeOf(p) + std::max<int64_t>(SizeOf(p + ".1"), 0));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  writer.join();
  ASSERT_TRUE(RotateAppendedFile(p, cap).ok());
  EXPECT_LE(SizeOf(p), cap);
  // 8 MiB went through a 64 KiB cap: what stays is the cap plus what one
  // interval adds, not the whole stream.
  EXPECT_LT(SizeOf(p) + SizeOf(p + ".1"), 2 << 20) << "worst seen " << worst;
  EXPECT_LT(AllocatedBytes(p) + AllocatedBytes(p + ".1"), 2 << 20);
}

TEST_F(FsTest, MarkCloseOnExecFromCoversInheritedFds) {
  int inherited = ::open("/dev/null", O_RDONLY);  // as a parent without O_CLOEXEC leaves it
  ASSERT_GE(inherited, 3);
  UniqueFd keep(inherited);
  ASSERT_EQ(::fcntl(inherited, F_GETFD) & FD_CLOEXEC, 0);
  ASSERT_TRUE(MarkCloseOnExecFrom(3).ok());
  EXPECT_NE(::fcntl(inherited, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(::fcntl(0, F_GETFD) & FD_CLOEXEC, 0) << "stdio stays inheritable";
}

// A shared directory (/tmp) handed to MakeDirs keeps its mode; a new one gets the given mode.
TEST_F(FsTest, MakeDirsModesOnlyWhatItMakes) {
  const std::string shared = dir_ + "/shared";
  ASSERT_EQ(::mkdir(shared.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(shared.c_str(), 01777), 0);
  ASSERT_TRUE(MakeDirs(shared, 0700).ok());
  struct stat st {};
  ASSERT_EQ(::stat(shared.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);
  ASSERT_TRUE(MakeDirs(shared + "/mine", 0700).ok());
  ASSERT_EQ(::stat((shared + "/mine").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

}  // namespace
}  // namespace banger
