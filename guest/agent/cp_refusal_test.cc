// cp-in refuses hostile or broken input, and each refusal leaves DEST as it
// was: no new entry, no changed entry, no .banger-cp-* staging directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "base/testing/temp_dir.h"
#include "cp_test_util.h"

namespace banger::agent::cp::testing {
using banger::testing::TempDir;
namespace {

class CpInRefusalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_ / "dst/existing");
    std::filesystem::create_directories(dir_ / "outside");
    std::ofstream(dir_ / "dst/existing/file") << "original";
    symlink((dir_ / "outside").c_str(), (dir_ / "dst/guestlink").c_str());
  }

  // Runs cp-in with `input`, expects exit 1 with `code`, and DEST and the
  // directory outside it unchanged.
  void ExpectRefused(const std::string& input, const std::string& code, const std::string& message = "") {
    auto before = Snapshot(dir_ / "dst");
    auto outside = Snapshot(dir_ / "outside");
    RunResult r = RunAgent({"cp-in", dir_ / "dst"}, input);
    EXPECT_EQ(r.exit_code(), 1) << r.err;
    EXPECT_EQ(r.error_code(), code) << r.err;
    EXPECT_THAT(r.err, ::testing::HasSubstr(message));
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one error line: " << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(Snapshot(dir_ / "dst"), before);
    EXPECT_EQ(Snapshot(dir_ / "outside"), outside);
    EXPECT_FALSE(HasStaging(dir_ / "dst"));
  }

  TempDir dir_{"cp-refuse"};
};

TEST_F(CpInRefusalTest, DotDotName) {
  ExpectRefused(Frame(MakeTar({{.name = "ok", .data = "1"}, {.name = "../x", .data = "x"}})), "invalid",
                "'..'");
  ExpectRefused(Frame(MakeTar({{.name = "a/../../x", .data = "x"}})), "invalid", "'..'");
}

TEST_F(CpInRefusalTest, AbsoluteName) {
  ExpectRefused(Frame(MakeTar({{.name = "ok", .data = "1"}, {.name = dir_ / "outside/abs", .data = "x"}})),
                "invalid", "absolute");
}

TEST_F(CpInRefusalTest, FileThroughASymlinkOfTheSameTar) {
  ExpectRefused(Frame(MakeTar({{.name = "l", .type = AE_IFLNK, .link = dir_ / "outside"},
                               {.name = "l/x", .data = "x"}})),
                "invalid", "symlink");
  ExpectRefused(
      Frame(MakeTar({{.name = "l", .type = AE_IFLNK, .link = "."}, {.name = "l/l/x", .data = "x"}})),
      "invalid", "symlink");
}

TEST_F(CpInRefusalTest, FileThroughASymlinkInTheGuest) {
  ExpectRefused(Frame(MakeTar({{.name = "guestlink/x", .data = "x"}})), "invalid", "symlink");
  ExpectRefused(
      Frame(MakeTar({{.name = "guestlink", .type = AE_IFDIR}, {.name = "guestlink/x", .data = "x"}})),
      "invalid", "symlink");
}

TEST_F(CpInRefusalTest, HardLinkOutsideTheTar) {
  ExpectRefused(Frame(MakeTar({{.name = "h", .hardlink = "existing/file"}})), "invalid", "");
  ExpectRefused(Frame(MakeTar({{.name = "h", .hardlink = "/etc/passwd"}})), "invalid", "absolute");
  ExpectRefused(Frame(MakeTar({{.name = "h", .hardlink = "../outside"}})), "invalid", "'..'");
  ExpectRefused(Frame(MakeTar({{.name = "h", .hardlink = "h"}})), "invalid", "itself");
  ExpectRefused(Frame(MakeTar({{.name = "d/", .type = AE_IFDIR}, {.name = "h", .hardlink = "d"}})), "invalid",
                "");
}

TEST_F(CpInRefusalTest, DeviceEntry) {
  ExpectRefused(Frame(MakeTar({{.name = "null", .type = AE_IFCHR}})), "invalid", "device");
  ExpectRefused(Frame(MakeTar({{.name = "fifo", .type = AE_IFIFO}})), "invalid", "fifo");
}

TEST_F(CpInRefusalTest, DirectoryAgainstFileConflicts) {
  ExpectRefused(Frame(MakeTar({{.name = "new", .data = "n"}, {.name = "existing", .data = "x"}})), "exists",
                "directory");
  ExpectRefused(Frame(MakeTar({{.name = "existing/file/", .type = AE_IFDIR}})), "exists", "directory");
}

TEST_F(CpInRefusalTest, BadDigest) {
  std::string framed = Frame(MakeTar({{.name = "new", .data = "n"}}));
  framed.back() = static_cast<char>(framed.back() ^ 1);
  ExpectRefused(framed, "invalid", "sha256");
}

TEST_F(CpInRefusalTest, TruncatedStreams) {
  std::string tar = MakeTar({{.name = "new", .data = std::string(3000, 'n')}});
  std::string framed = Frame(tar, 1000);
  ExpectRefused(framed.substr(0, framed.size() - 36), "invalid", "terminator");  // no terminator
  ExpectRefused(framed.substr(0, framed.size() - 10), "invalid", "terminator");  // cut digest
  ExpectRefused(framed.substr(0, 500), "invalid", "inside a frame");             // cut frame
  ExpectRefused(framed.substr(0, 2), "invalid", "terminator");                   // cut length
  // Complete frames, but the tar itself ends early.
  ExpectRefused(Frame(tar.substr(0, 1024)), "invalid", "");
}

TEST_F(CpInRefusalTest, FrameOverOneMiB) {
  std::string s;
  AppendU32(&s, (1u << 20) + 1);
  s += std::string(2048, '\0');
  ExpectRefused(s, "invalid", "1 MiB");
}

TEST_F(CpInRefusalTest, NameOver4096Bytes) {
  ExpectRefused(Frame(MakeTar({{.name = std::string(5000, 'n'), .data = "x"}})), "too_large", "4096");
}

TEST_F(CpInRefusalTest, NotATar) { ExpectRefused(Frame(std::string(4096, 'j')), "invalid", "tar"); }

TEST_F(CpInRefusalTest, MissingOrNonDirectoryDest) {
  std::string tar = Frame(MakeTar({{.name = "x", .data = "x"}}));
  RunResult r = RunAgent({"cp-in", dir_ / "nope"}, tar);
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.error_code(), "not_found") << r.err;
  r = RunAgent({"cp-in", dir_ / "dst/existing/file"}, tar);
  EXPECT_EQ(r.error_code(), "not_dir") << r.err;
}

TEST_F(CpInRefusalTest, DuplicateNamesLastOneWins) {
  RunResult r =
      RunAgent({"cp-in", dir_ / "dst"},
               Frame(MakeTar({{.name = "dup", .data = "first"}, {.name = "dup", .data = "second"}})));
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_THAT(Snapshot(dir_ / "dst")["/dup"], ::testing::EndsWith(" second"));
}

// A 1 MiB tmpfs in a child's own mount namespace (nothing is mounted in the
// host's): a 3 MiB file fails with no_space and leaves the tmpfs empty.
TEST(AgentCpNoSpaceTest, NoSpaceFailsAndLeavesNothing) {
  TempDir dir("cp-nospace", {"small"});
  std::string small = dir / "small";
  std::string result = dir / "result";
  std::string framed = Frame(
      MakeTar({{.name = "d/", .type = AE_IFDIR}, {.name = "d/big", .data = std::string(3 << 20, 'b')}}));
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("tmpfs", small.c_str(), "tmpfs", 0, "size=1m") != 0) {
      _exit(77);
    }
    RunResult r = RunAgent({"cp-in", small}, framed);
    bool empty = std::filesystem::is_empty(small);
    std::ofstream(result) << r.exit_code() << " " << r.error_code() << " " << (empty ? "empty" : "left")
                          << " " << r.err;
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77)
    GTEST_SKIP() << "cannot mount a small tmpfs in a new mount namespace (needs root)";
  std::ifstream in(result);
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(got, ::testing::StartsWith("1 no_space empty banger-cp error=no_space "));
  EXPECT_THAT(got, ::testing::HasSubstr("No space left on device"));
}

}  // namespace
}  // namespace banger::agent::cp::testing
