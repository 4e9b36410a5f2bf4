// cp-out -> cp-in through the real static agent on the host: what goes in
// comes out with its types, modes, ns mtimes, symlinks and hard links.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "base/testing/temp_dir.h"
#include "cp_test_util.h"

namespace banger::agent::cp::testing {
using banger::testing::TempDir;
namespace {

void WriteFile(const std::string& path, const std::string& data, mode_t mode) {
  std::ofstream(path, std::ios::binary) << data;
  chmod(path.c_str(), mode);
}

void SetMtime(const std::string& path, int64_t sec, long nsec) {
  timespec t[2] = {{0, UTIME_OMIT}, {sec, nsec}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), t, AT_SYMLINK_NOFOLLOW), 0) << path;
}

// src/tree: dirs (one 0700), files with odd modes and names, an empty file,
// a symlink, a hard link pair; every mtime with nanoseconds, dirs last.
std::string MakeTree(const TempDir& dir) {
  std::string t = dir / "src/tree";
  std::filesystem::create_directories(t + "/sub dir/deep");
  mkdir((t + "/private").c_str(), 0700);
  WriteFile(t + "/plain", "hello", 0644);
  WriteFile(t + "/exec", "#!/bin/sh\n", 0755);
  WriteFile(t + "/sticky-ish", "x", 01640);
  WriteFile(t + "/empty", "", 0600);
  WriteFile(t + "/sub dir/with space", std::string(200000, 'z'), 0444);
  WriteFile(t + "/sub dir/deep/new\nline", "n", 0644);
  WriteFile(t + "/sub dir/deep/bad\xff"
                "byte",
            "b", 0644);
  WriteFile(t + "/private/utf8-\xc3\xa9", "e", 0640);
  symlink("plain", (t + "/link").c_str());
  symlink("/nonexistent/target", (t + "/dangling").c_str());
  link((t + "/plain").c_str(), (t + "/sub dir/hard").c_str());
  long ns = 123456789;
  for (const char* p :
       {"/plain", "/exec", "/sticky-ish", "/empty", "/sub dir/with space", "/sub dir/deep/new\nline",
        "/sub dir/deep/bad\xff"
        "byte",
        "/private/utf8-\xc3\xa9", "/link", "/dangling"}) {
    SetMtime(t + p, 1500000000 + ns % 1000, ns);
    ns += 1111;
  }
  for (const char* p : {"/sub dir/deep", "/sub dir", "/private", ""}) {
    SetMtime(t + p, 1400000000, ns);
    ns += 7;
  }
  chmod((t + "/sub dir").c_str(), 0750);
  SetMtime(t + "/sub dir", 1400000000, 42);
  return t;
}

std::string OkLine(const std::string& s) {
  size_t p = s.rfind("banger-cp ok ");
  if (p == std::string::npos) return "";
  return s.substr(p, s.find('\n', p) - p);
}

TEST(AgentCpTest, TreeRoundTripsThroughCpOutAndCpIn) {
  TempDir dir("cp-roundtrip", {"src", "dst"});
  std::string tree = MakeTree(dir);
  RunResult out = RunAgent({"cp-out", tree});
  ASSERT_EQ(out.exit_code(), 0) << out.err;
  // The digest line covers exactly stdout's bytes.
  EXPECT_EQ(OkLine(out.err),
            "banger-cp ok sha256=" + HexOf(Sha256Of(out.out)) + " bytes=" + std::to_string(out.out.size()));
  std::vector<std::string> names = TarNames(out.out);
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names[0], "tree/");  // libarchive's writer marks directories with a '/'

  EXPECT_THAT(names, ::testing::Contains("tree/sub dir/deep/bad\xff"
                                         "byte"));

  RunResult in = RunAgent({"cp-in", dir / "dst"}, Frame(out.out, 7000));
  ASSERT_EQ(in.exit_code(), 0) << in.err;
  EXPECT_EQ(in.out, "banger-cp ok sha256=" + HexOf(Sha256Of(out.out)) + " bytes=" +
                        std::to_string(out.out.size()) + " entries=" + std::to_string(names.size()) + "\n");
  auto want = Snapshot(tree);
  auto got = Snapshot(dir / "dst/tree");
  // Without --chown setuid/setgid are dropped (none here), sticky stays.
  EXPECT_EQ(got, want);
  struct stat a = {};
  struct stat b = {};
  ASSERT_EQ(lstat((dir / "dst/tree/plain").c_str(), &a), 0);
  ASSERT_EQ(lstat((dir / "dst/tree/sub dir/hard").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino) << "the hard link pair stays one inode";
  EXPECT_EQ(a.st_nlink, 2u);
  EXPECT_FALSE(HasStaging(dir / "dst"));
}

TEST(AgentCpTest, SetuidKeptOnlyWithChownAndOwnerApplied) {
  TempDir dir("cp-chown", {"src/d", "dst1", "dst2"});
  WriteFile(dir / "src/d/suid", "s", 04755);
  symlink("suid", (dir / "src/d/l").c_str());
  RunResult out = RunAgent({"cp-out", dir / "src/d"});
  ASSERT_EQ(out.exit_code(), 0) << out.err;
  RunResult plain = RunAgent({"cp-in", dir / "dst1"}, Frame(out.out));
  ASSERT_EQ(plain.exit_code(), 0) << plain.err;
  struct stat st = {};
  ASSERT_EQ(lstat((dir / "dst1/d/suid").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(st.st_uid, getuid());
  if (getuid() != 0) GTEST_SKIP() << "--chown needs root";
  RunResult owned = RunAgent({"cp-in", "--chown", "1234:5678", dir / "dst2"}, Frame(out.out));
  ASSERT_EQ(owned.exit_code(), 0) << owned.err;
  for (const char* p : {"/dst2/d", "/dst2/d/suid", "/dst2/d/l"}) {
    ASSERT_EQ(lstat((dir.path() + p).c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 1234u) << p;
    EXPECT_EQ(st.st_gid, 5678u) << p;
  }
  ASSERT_EQ(lstat((dir / "dst2/d/suid").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755u);
  // Parents the tar does not list are made, and owned the same way.
  RunResult implicit =
      RunAgent({"cp-in", "--chown", "77:88", dir / "dst2"}, Frame(MakeTar({{.name = "p/q/f", .data = "f"}})));
  ASSERT_EQ(implicit.exit_code(), 0) << implicit.err;
  for (const char* p : {"/dst2/p", "/dst2/p/q", "/dst2/p/q/f"}) {
    ASSERT_EQ(lstat((dir.path() + p).c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 77u) << p;
    EXPECT_EQ(st.st_gid, 88u) << p;
  }
  EXPECT_EQ(RunAgent({"cp-in", "--chown", "12:x", dir / "dst2"}).exit_code(), 2);
  EXPECT_EQ(RunAgent({"cp-in", "--chown", "4294967295:0", dir / "dst2"}).exit_code(), 2);
}

TEST(AgentCpTest, FollowLinksDescribesTheTargetUnderTheLinkName) {
  TempDir dir("cp-follow", {"src/real"});
  WriteFile(dir / "src/real/f", "f", 0644);
  symlink("real", (dir / "src/alias").c_str());
  RunResult no = RunAgent({"cp-out", dir / "src/alias"});
  ASSERT_EQ(no.exit_code(), 0) << no.err;
  std::vector<mode_t> types;
  EXPECT_EQ(TarNames(no.out, &types), std::vector<std::string>{"alias"});
  EXPECT_EQ(types[0], static_cast<mode_t>(AE_IFLNK));
  RunResult yes = RunAgent({"cp-out", "--follow-links", dir / "src/alias"});
  ASSERT_EQ(yes.exit_code(), 0) << yes.err;
  types.clear();
  EXPECT_EQ(TarNames(yes.out, &types), (std::vector<std::string>{"alias/", "alias/f"}));
  EXPECT_EQ(types[0], static_cast<mode_t>(AE_IFDIR));
  symlink("real/f", (dir / "src/file-alias").c_str());
  RunResult file = RunAgent({"cp-out", "-L", dir / "src/file-alias"});
  ASSERT_EQ(file.exit_code(), 0) << file.err;
  types.clear();
  EXPECT_EQ(TarNames(file.out, &types), std::vector<std::string>{"file-alias"});
  EXPECT_EQ(types[0], static_cast<mode_t>(AE_IFREG));
}

TEST(AgentCpTest, MergesIntoAnExistingDirectory) {
  TempDir dir("cp-merge", {"dst/d/old"});
  WriteFile(dir / "dst/d/keep", "keep", 0644);
  WriteFile(dir / "dst/d/replace", "old", 0644);
  chmod((dir / "dst/d").c_str(), 0711);
  std::string tar = MakeTar({{.name = "d/", .type = AE_IFDIR, .perm = 0700},
                             {.name = "d/replace", .data = "new", .perm = 0600},
                             {.name = "d/old/inner", .data = "i"},
                             {.name = "d/added", .data = "a"},
                             {.name = "top", .data = "t"}});
  RunResult in = RunAgent({"cp-in", dir / "dst"}, Frame(tar));
  ASSERT_EQ(in.exit_code(), 0) << in.err;
  auto snap = Snapshot(dir / "dst");
  EXPECT_THAT(snap["/d/keep"], ::testing::EndsWith(" keep"));
  EXPECT_THAT(snap["/d/replace"], ::testing::EndsWith(" new"));
  EXPECT_THAT(snap["/d/old/inner"], ::testing::EndsWith(" i"));
  EXPECT_THAT(snap["/d/added"], ::testing::EndsWith(" a"));
  EXPECT_THAT(snap["/top"], ::testing::EndsWith(" t"));
  struct stat st = {};
  ASSERT_EQ(stat((dir / "dst/d").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u) << "an existing directory keeps its own mode";
  EXPECT_FALSE(HasStaging(dir / "dst"));
}

TEST(AgentCpTest, FileThatGrowsWhileReadEndsWithIoError) {
  // /proc files report size 0 but have content: the entry is cut at 0 bytes.
  RunResult out = RunAgent({"cp-out", "/proc/version"});
  EXPECT_EQ(out.exit_code(), 1);
  EXPECT_EQ(out.error_code(), "io") << out.err;
  EXPECT_THAT(out.err, ::testing::HasSubstr("/proc/version changed while being read"));
}

TEST(AgentCpTest, SpecialFilesAreSkippedAndCounted) {
  TempDir dir("cp-special", {"d"});
  ASSERT_EQ(mkfifo((dir / "d/fifo").c_str(), 0644), 0);
  WriteFile(dir / "d/f", "f", 0644);
  RunResult out = RunAgent({"cp-out", dir / "d"});
  ASSERT_EQ(out.exit_code(), 0) << out.err;
  EXPECT_EQ(TarNames(out.out), (std::vector<std::string>{"d/", "d/f"}));
  EXPECT_THAT(out.err, ::testing::HasSubstr("skipped 1 special files"));
  EXPECT_EQ(out.err.substr(out.err.rfind('\n', out.err.size() - 2) + 1), OkLine(out.err) + "\n")
      << "the ok line is the last one";
}

TEST(AgentCpTest, UsageAndMissingPaths) {
  EXPECT_EQ(RunAgent({"cp-out", "relative"}).exit_code(), 2);
  EXPECT_EQ(RunAgent({"cp-in", "relative"}).exit_code(), 2);
  EXPECT_EQ(RunAgent({"cp-out"}).exit_code(), 2);
  RunResult missing = RunAgent({"cp-out", "/nonexistent-banger-cp"});
  EXPECT_EQ(missing.exit_code(), 1);
  EXPECT_EQ(missing.error_code(), "not_found");
  EXPECT_THAT(missing.err, ::testing::HasSubstr("/nonexistent-banger-cp: No such file or directory"));
}

}  // namespace
}  // namespace banger::agent::cp::testing
