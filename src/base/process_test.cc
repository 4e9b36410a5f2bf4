#include "base/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "base/fs.h"
#include "base/testing/temp_dir.h"

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

TEST(ProcIdentityTest, ParsesStartTimeAndEffectiveUid) {
  std::string stat =
      "1234 (a) b (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 3 0 555 4096000 300 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  EXPECT_EQ(*ParseStartTime(stat), 555u);
  EXPECT_FALSE(ParseStartTime("1234 (x) S 1 2").ok());
  EXPECT_EQ(*ParseStatusUid("Name:\tqemu\nUid:\t0\t65534\t65534\t65534\nGid:\t0\n"), 65534u);
  EXPECT_FALSE(ParseStatusUid("Name: x\n").ok());
}

TEST(ProcIdentityTest, IdentifiesALiveProcessAndMatchesOnlyItself) {
  auto& ops = RealProcessOps();
  auto me = ops.Identify(::getpid());
  ASSERT_TRUE(me.ok()) << me.error().message();
  EXPECT_EQ(me->pid, ::getpid());
  EXPECT_EQ(me->uid, ::geteuid());
  EXPECT_GT(me->start_time, 0u);
  struct stat st {};
  ASSERT_EQ(::stat("/proc/self/exe", &st), 0);
  EXPECT_EQ(me->exe_ino, static_cast<uint64_t>(st.st_ino));
  EXPECT_TRUE(IsSameProcess(ops, *me));
  ProcIdentity recycled = *me;
  recycled.start_time += 1;  // same pid, another process
  EXPECT_FALSE(IsSameProcess(ops, recycled));
  ProcIdentity other_exe = *me;
  other_exe.exe_ino += 1;
  EXPECT_FALSE(IsSameProcess(ops, other_exe));
  EXPECT_FALSE(IsSameProcess(ops, ProcIdentity{}));
  EXPECT_EQ(ops.Identify(0x3ffffff0).error().kind(), ErrorKind::kNotFound);
}

TEST(ProcIdentityTest, ForeignUidNeverMatches) {
  ProcIdentity recorded{100, 4242, 555, 1, 2};
  ProcIdentity seen = recorded;
  EXPECT_TRUE(IdentityMatches(recorded, seen));
  seen.uid = ::geteuid();  // our own uid: started by us (QEMU before -runas drops)
  EXPECT_TRUE(IdentityMatches(recorded, seen));
  seen.uid = ::geteuid() + 1000;  // another local user
  EXPECT_FALSE(IdentityMatches(recorded, seen));
}

TEST(ProcIdentityTest, SignalIfLeavesARecycledPidAlone) {
  auto pid = SpawnDetached({.argv = {"sleep", "30"}});
  ASSERT_TRUE(pid.ok()) << pid.error().message();
  auto& ops = RealProcessOps();
  struct Killer {
    pid_t pid;
    ~Killer() { RealProcessOps().Signal(pid, SIGKILL).ok(); }
  } killer{*pid};
  auto who = ops.Identify(*pid);
  ASSERT_TRUE(who.ok()) << who.error().message();
  ProcIdentity stale = *who;
  stale.start_time -= 1;  // what a record of an earlier process with this pid would say
  auto refused = ops.SignalIf(stale, SIGKILL);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind(), ErrorKind::kConflict);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(IsSameProcess(ops, *who));
  ASSERT_TRUE(ops.SignalIf(*who, SIGKILL).ok());
  for (int i = 0; i < 100 && IsSameProcess(ops, *who); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(IsSameProcess(ops, *who));
  EXPECT_TRUE(ops.SignalIf(*who, SIGKILL).ok());  // gone: nothing to do
}

// Waits for `path` to hold a line, for a detached child's output.
std::string WaitForOutput(const std::string& path) {
  for (int i = 0; i < 250; ++i) {
    auto text = ReadFile(path);
    if (text.ok() && !text->empty() && text->back() == '\n') return *text;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return "";
}

TEST(SpawnDetachedTest, ChildKeepsOnlyTheDescriptorsItIsGiven) {
  testing::TempDir dir("banger-fds");
  // Two descriptors without close-on-exec, as a careless library might leave.
  int leaked = ::open("/dev/null", O_RDONLY);
  int kept = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leaked, 0);
  ASSERT_GE(kept, 0);
  ASSERT_GE(::dup2(leaked, 57), 0);
  ASSERT_GE(::dup2(kept, 58), 0);
  ::close(leaked);
  ::close(kept);
  std::string out = dir / "fds.txt";
  // The shell lists its own descriptors (the glob is expanded before any
  // descriptor of its own is opened).
  auto pid =
      SpawnDetached({.argv = {"sh", "-c", "cd /proc/$$/fd && echo *"}, .stdout_path = out, .keep_fds = {58}});
  ::close(57);
  ::close(58);
  ASSERT_TRUE(pid.ok()) << pid.error().message();
  std::string fds = WaitForOutput(out);
  ASSERT_FALSE(fds.empty());
  EXPECT_EQ(fds.find("57"), std::string::npos) << fds;
  EXPECT_NE(fds.find("58"), std::string::npos) << fds;
}

TEST(SpawnDetachedTest, RunsAsAnotherUserWithNoNewPrivs) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  testing::TempDir dir("banger-runas");
  std::string out = dir / "id.txt";
  auto pid =
      SpawnDetached({.argv = {"sh", "-c", "echo $(id -u) $(id -g) $(grep NoNewPrivs /proc/self/status)"},
                     .stdout_path = out,
                     .run_as = Credentials{65534, 65534, {}}});
  ASSERT_TRUE(pid.ok()) << pid.error().message();
  std::string text = WaitForOutput(out);
  EXPECT_EQ(text, "65534 65534 NoNewPrivs: 1\n");
}

TEST(RunCommandTest, RunsAsAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  RunOptions o;
  o.run_as = Credentials{65534, 65534, {}};
  auto r = RunChecked({"sh", "-c", "echo $(id -u) $(id -G)"}, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "65534 65534\n");
}

}  // namespace
}  // namespace banger

namespace banger {
namespace {

TEST(RunCommandKeepGoingTest, StopsTheToolWhenTold) {
  int ticks = 0;
  RunOptions o;
  o.timeout = std::chrono::seconds(30);
  o.keep_going = [&ticks](const CommandResult& so_far) {
    ++ticks;
    return so_far.out.find("started") == std::string::npos;
  };
  auto t0 = std::chrono::steady_clock::now();
  auto r = RunCommand({"sh", "-c", "echo started; exec sleep 20"}, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "sh stopped");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_GE(ticks, 1);
  // A tool that finishes is not disturbed.
  o.keep_going = [](const CommandResult&) { return true; };
  auto ok = RunCommand({"sh", "-c", "sleep 0.6; echo done"}, o);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->out, "done\n");
}

}  // namespace
}  // namespace banger
