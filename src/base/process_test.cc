#include "base/process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "base/fs.h"

namespace banger {
namespace {

TEST(ParseProcStatTest, FieldsAfterATrickyCommandName) {
  // comm "a) b (c" holds spaces and parentheses; utime 150, stime 50 ticks,
  // vsize 4096000, rss 300 pages.
  std::string text =
      "1234 (a) b (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 3 0 555 4096000 300 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  auto u = ParseProcStat(text, 10000000, 4096);
  ASSERT_TRUE(u.ok()) << u.error().message();
  EXPECT_EQ(u->cpu_ns, 200 * 10000000LL);
  EXPECT_EQ(u->vsz_bytes, 4096000);
  EXPECT_EQ(u->rss_bytes, 300 * 4096);
  EXPECT_FALSE(ParseProcStat("1234 (x) S 1 2", 1, 1).ok());
  EXPECT_FALSE(ParseProcStat("garbage", 1, 1).ok());
}

// Found by the parsers fuzzer (fuzz/parsers_fuzzer.cc): fields shifted by a
// byte put 18446744073709551615 (strtoll: INT64_MAX) into rss, and rss *
// page size overflowed (undefined behaviour). Out-of-range counts are refused.
TEST(ParseProcStatTest, OutOfRangeCountsAreRefused) {
  auto stat = [](const std::string& utime, const std::string& vsize, const std::string& rss) {
    return "1 (x) S 1 1 1 0 -1 0 0 0 0 0 " + utime + " 50 0 0 20 0 3 0 555 " + vsize + " " + rss + " 0\n";
  };
  EXPECT_TRUE(ParseProcStat(stat("150", "4096", "300"), 10, 4096).ok());
  EXPECT_FALSE(ParseProcStat(stat("150", "4096", "18446744073709551615"), 10, 4096).ok());
  EXPECT_FALSE(ParseProcStat(stat("9223372036854775807", "4096", "300"), 10, 4096).ok());
  EXPECT_FALSE(ParseProcStat(stat("4611686018427387904", "4096", "300"), 10, 4096).ok());
  EXPECT_FALSE(ParseProcStat(stat("-5", "4096", "300"), 10, 4096).ok());
  EXPECT_FALSE(ParseProcStat(stat("150", "-1", "300"), 10, 4096).ok());
}

TEST(ProcessOpsTest, UsageOfOurselvesAndOfAMissingProcess) {
  auto u = RealProcessOps().Usage(::getpid());
  ASSERT_TRUE(u.ok()) << u.error().message();
  EXPECT_GT(u->rss_bytes, 0);
  EXPECT_GT(u->vsz_bytes, u->rss_bytes);
  EXPECT_EQ(RealProcessOps().Usage(0x3ffffff0).error().kind(), ErrorKind::kNotFound);
}

TEST(RunCommandTest, CapturesOutputAndExitCode) {
  auto r = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
}

TEST(RunCommandTest, MissingProgramIsAnError) {
  auto r = RunCommand({"definitely-not-a-program-xyz"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kUnavailable);
}

TEST(RunCommandTest, CheckedReportsStderr) {
  auto r = RunChecked({"sh", "-c", "echo boom >&2; exit 1"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("boom"), std::string::npos);
}

TEST(RunCommandTest, TimeoutKills) {
  auto r = RunCommand({"sleep", "10"}, std::chrono::milliseconds(200));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTimeout);
}

TEST(SpawnDetachedTest, ProcessRunsInOwnSessionAndIsFoundByArg) {
  auto dir = std::filesystem::temp_directory_path() / ("banger-spawn-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string marker = (dir / "marker.sock").string();
  // "; :" keeps sh alive (a lone command would be exec'd, dropping the marker argv).
  auto pid2 = SpawnDetached({.argv = {"sh", "-c", "sleep 30; :", "sh", "--api-sock=" + marker},
                             .stdout_path = (dir / "out.log").string()});
  ASSERT_TRUE(pid2.ok()) << pid2.error().message();
  auto& ops = RealProcessOps();
  // Kill it however the test ends, so a failed run leaves nothing behind.
  struct Killer {
    pid_t pid;
    ~Killer() { RealProcessOps().Signal(pid, SIGKILL).ok(); }
  } killer{*pid2};
  EXPECT_TRUE(ops.Alive(*pid2));
  EXPECT_NE(::getsid(*pid2), ::getsid(0));  // its own session, not ours
  // sh forks a child for `sleep`; until that child execs, it too carries the
  // marker in its argv. Wait for it to become `sleep`.
  auto found = ops.FindByArg(marker);
  for (int i = 0; i < 100 && found.size() != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    found = ops.FindByArg(marker);
  }
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0], *pid2);
  ASSERT_TRUE(ops.Signal(*pid2, SIGKILL).ok());
  for (int i = 0; i < 100 && ops.Alive(*pid2); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(ops.Alive(*pid2));
  std::filesystem::remove_all(dir);
}

TEST(SpawnDetachedTest, ExecFailureIsReported) {
  auto pid = SpawnDetached({.argv = {"/nonexistent/vmm"}});
  ASSERT_FALSE(pid.ok());
}

TEST(CmdlineMentionsTest, MatchesPlainEqualsAndQemuForms) {
  EXPECT_TRUE(CmdlineMentions({"fc", "--api-sock", "/a/b.sock"}, "/a/b.sock"));
  EXPECT_TRUE(CmdlineMentions({"fc", "--api-sock=/a/b.sock"}, "/a/b.sock"));
  EXPECT_TRUE(CmdlineMentions({"qemu", "-qmp", "unix:/a/b.sock,server=on,wait=off"}, "/a/b.sock"));
  EXPECT_TRUE(CmdlineMentions({"qemu", "socket,id=x,path=/a/b.sock"}, "/a/b.sock"));
  EXPECT_FALSE(CmdlineMentions({"qemu", "-qmp", "unix:/a/b.sock2,server=on"}, "/a/b.sock"));
  EXPECT_FALSE(CmdlineMentions({"fc", "/a/b.sockx"}, "/a/b.sock"));
  EXPECT_FALSE(CmdlineMentions({"fc"}, ""));
}

}  // namespace
}  // namespace banger
