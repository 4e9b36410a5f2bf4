// The daemon's log file: rotated by size, private, never inherited.
#include "base/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "base/fs.h"

namespace banger {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() / ("banger-log-" + std::to_string(::getpid()))).string();
    ASSERT_TRUE(MakeDirs(dir_, 0700).ok());
  }
  void TearDown() override {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));  // closes the file
    std::filesystem::remove_all(dir_);
  }
  std::string dir_;
};

int64_t SizeOf(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? st.st_size : -1;
}

// The flags of this process's fds open on `path` (from /proc/self/fdinfo).
std::vector<long> FlagsOfFdsOn(const std::string& path) {
  std::vector<long> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    if (std::filesystem::read_symlink(e.path(), ec).string() != path) continue;
    auto info = ReadFile("/proc/self/fdinfo/" + e.path().filename().string());
    if (!info.ok()) continue;
    auto pos = info->find("flags:");
    if (pos != std::string::npos) out.push_back(std::stol(info->substr(pos + 6), nullptr, 8));
  }
  return out;
}

TEST_F(LogTest, TheLogFileRotatesBySizeKeepsMaxFilesAndIsPrivate) {
  mode_t old = ::umask(022);
  const std::string log = dir_ + "/bangerd.log";
  auto st = InitLogging("info", log, false, LogFileLimits{4096, 2});
  ::umask(old);
  ASSERT_TRUE(st.ok()) << st.error().message();
  auto flags = FlagsOfFdsOn(log);
  ASSERT_EQ(flags.size(), 1u);
  EXPECT_NE(flags[0] & O_CLOEXEC, 0) << "the log fd must not leak into VMMs and tools";
  EXPECT_NE(flags[0] & O_APPEND, 0);
  for (int i = 0; i < 1000; ++i) spdlog::info("line {} of a log that must not grow without bound", i);
  EXPECT_LE(SizeOf(log), 4096);
  EXPECT_GT(SizeOf(log), 0);
  EXPECT_LE(SizeOf(log + ".1"), 4096);
  EXPECT_LE(SizeOf(log + ".2"), 4096);
  EXPECT_GT(SizeOf(log + ".2"), 0);
  EXPECT_FALSE(PathExists(log + ".3")) << "only max_files old files are kept";
  for (const auto& f : {log, log + ".1", log + ".2"}) {
    struct stat s {};
    ASSERT_EQ(::stat(f.c_str(), &s), 0);
    EXPECT_EQ(s.st_mode & 0777, 0600u) << f << " under umask 022";
  }
  EXPECT_NE(ReadFile(log)->find("line 999 "), std::string::npos) << "the newest line is in the live file";
  auto again = FlagsOfFdsOn(log);
  ASSERT_EQ(again.size(), 1u) << "rotation reopens, it does not leak the old fd";
  EXPECT_NE(again[0] & O_CLOEXEC, 0);
}

TEST_F(LogTest, NoOldFilesMeansTheLogIsEmptiedInPlace) {
  const std::string log = dir_ + "/bangerd.log";
  ASSERT_TRUE(InitLogging("info", log, false, LogFileLimits{2048, 0}).ok());
  for (int i = 0; i < 500; ++i) spdlog::info("line {}", i);
  EXPECT_LE(SizeOf(log), 2048);
  EXPECT_FALSE(PathExists(log + ".1"));
}

TEST_F(LogTest, AnUnknownLevelOrAnUnwritableFileIsAnError) {
  EXPECT_FALSE(InitLogging("loud", dir_ + "/x.log", false).ok());
  EXPECT_FALSE(InitLogging("info", dir_ + "/missing-dir/x.log", false).ok());
}

}  // namespace
}  // namespace banger
