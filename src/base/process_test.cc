#include "base/process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "base/fs.h"

namespace banger {
namespace {

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
  for (int i = 0; i < 100 && ops.Alive(*pid2); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
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
