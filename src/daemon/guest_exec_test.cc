// GuestExec, SessionService and `--rm` (spec.auto_remove) against the real
// static banger-agent run on the host over a Unix socket (--listen-unix),
// with a fake VMM backend: no VM needed.
#include "daemon/guest_exec.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "base/fs.h"
#include "base/process.h"
#include "daemon/fakes.h"
#include "daemon/image_service.h"
#include "daemon/session_service.h"
#include "daemon/testing/guest_exec_fixture.h"
#include "daemon/testing/vm_service_fixture.h"
#include "daemon/workspace_service.h"

namespace banger {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::FakeBackend;
using testing::FakeDisks;
using testing::FakeProcs;
namespace fs = std::filesystem;

TEST_F(GuestExecTest, RunReturnsTheExitCodeAndBothStreams) {
  MustCreate("a");
  GuestRunOptions o;
  auto r = exec_->Run("a", Sh("echo out; echo err >&2; exit 7"), o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->code(), 7);
  EXPECT_FALSE(r->exit.signaled);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_FALSE(r->truncated);
  auto vm = store_->GetVm("a");
  ASSERT_TRUE(vm.ok());
  EXPECT_GT(vm->last_touched_at, Timestamp{}) << "waiting for the agent touches the VM";
}

TEST_F(GuestExecTest, RunBoundsTheCapturedOutput) {
  MustCreate("a");
  GuestRunOptions o;
  o.max_output = 1000;
  // 1 MiB on stdout: kept to 1000 bytes, and the command still completes.
  auto r = exec_->Run("a", Sh("head -c 1048576 /dev/zero; echo done >&2"), o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->code(), 0);
  EXPECT_EQ(r->out.size(), 1000u);
  EXPECT_EQ(r->err, "done\n");
  EXPECT_TRUE(r->truncated);
}

TEST_F(GuestExecTest, RunPastItsDeadlineIsKilledAndReportedAsTimeout) {
  MustCreate("a");
  GuestRunOptions o;
  o.run_timeout = 300ms;
  // Ignores SIGTERM and SIGHUP: only the SIGKILL of the deadline ends it.
  std::string marker = root_ + "/alive";
  auto r = exec_->Run("a", Sh("trap '' TERM HUP; echo $$ > " + marker + "; exec sleep 1000"), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTimeout);
  EXPECT_NE(r.error().message().find("did not finish"), std::string::npos) << r.error().message();
  auto pid = ReadFile(marker);
  ASSERT_TRUE(pid.ok());
  pid_t p = std::stoi(*pid);
  // The command is gone (killed at the deadline, or when its channel closed).
  auto deadline = Clock::now() + 10s;
  while (::kill(p, 0) == 0 && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  EXPECT_NE(::kill(p, 0), 0) << "the command outlived its deadline";
}

TEST_F(GuestExecTest, NextGivesUpOnAGuestThatNeverReportsTheExit) {
  MustCreate("a");
  auto cmd = exec_->Open("a", Sh("exec sleep 1000"), 10s);
  ASSERT_TRUE(cmd.ok()) << cmd.error().message();
  // A wedged guest: the agent answers nothing any more, not even to SIGKILL.
  ASSERT_EQ(::kill(agent_pid_, SIGSTOP), 0);
  (*cmd)->KillAt(Clock::now() + 100ms, 300ms);
  auto ev = (*cmd)->Next();
  ::kill(agent_pid_, SIGCONT);
  ASSERT_FALSE(ev.ok());
  EXPECT_EQ(ev.error().kind(), ErrorKind::kTimeout);
  EXPECT_TRUE((*cmd)->killed_at_deadline());
  // A later deadline never extends an earlier one: still given up, at once.
  (*cmd)->KillAt(Clock::now() + 1h, 1h);
  auto t0 = Clock::now();
  auto again = (*cmd)->Next();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind(), ErrorKind::kTimeout);
  EXPECT_LT(Clock::now() - t0, 30s);
}

TEST_F(GuestExecTest, HangupSendsSighupThenSigkillAfterTheGrace) {
  MustCreate("a");
  auto cmd = exec_->Open("a", Sh("trap 'echo hup' HUP; echo ready; while :; do sleep 0.05; done"), 10s);
  ASSERT_TRUE(cmd.ok()) << cmd.error().message();
  ASSERT_TRUE((*cmd)->channel().CloseStdin().ok());
  std::string out;
  while (out.find("ready") == std::string::npos) {  // the trap is in place
    auto ev = (*cmd)->Next();
    ASSERT_TRUE(ev.ok()) << ev.error().message();
    ASSERT_NE(ev->kind, ExecEvent::kExit) << out;
    out += ev->data;
  }
  (*cmd)->Hangup(300ms);
  for (;;) {
    auto ev = (*cmd)->Next();
    ASSERT_TRUE(ev.ok()) << ev.error().message();
    if (ev->kind == ExecEvent::kExit) {
      EXPECT_TRUE(ev->exit.signaled);
      EXPECT_EQ(ev->exit.signo, SIGKILL);
      break;
    }
    out += ev->data;
  }
  EXPECT_NE(out.find("hup"), std::string::npos) << "SIGHUP came first: " << out;
}

TEST_F(GuestExecTest, WaitForAgentRefusesAStoppedVmAndQuotesTheConsoleOnTimeout) {
  MustCreate("a");
  ASSERT_TRUE(svc_->Stop("a", 0ms).ok());
  auto stopped = exec_->WaitForAgent("a", 1s);
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.error().kind(), ErrorKind::kConflict);
  EXPECT_NE(stopped.error().message().find("banger vm start a"), std::string::npos)
      << stopped.error().message();

  VmRecord mute = MustCreate("mute1");
  ASSERT_TRUE(WriteFileAtomic(mute.runtime.log_path, "booting\n\nkernel panic: no init\r\n").ok());
  auto t0 = Clock::now();
  auto r = exec_->WaitForAgent("mute1", 600ms);
  ASSERT_FALSE(r.ok());
  EXPECT_LT(Clock::now() - t0, 30s) << "the wait has a deadline";
  EXPECT_EQ(r.error().kind(), ErrorKind::kTimeout);
  EXPECT_NE(r.error().message().find("connection refused"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("console: booting | kernel panic: no init"), std::string::npos)
      << r.error().message();
}

TEST_F(GuestExecTest, ExecOnAPausedVmResumesItFirstAndTheAgentAnswers) {
  MustCreate("a");
  ASSERT_TRUE(exec_->Run("a", Sh("echo warm"), {}).ok());  // a cached agent connection
  ASSERT_TRUE(svc_->Pause("a").ok());
  auto r = exec_->Run("a", Sh("echo after"), {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "after\n");
  EXPECT_EQ(store_->GetVm("a")->state, VmState::kRunning);
  EXPECT_EQ(qemu_.resume_calls, 1);
}

TEST_F(GuestExecTest, ConsoleTailIsTheLastFourLinesOnOneLine) {
  std::string p = root_ + "/console.log";
  EXPECT_EQ(ConsoleTail(p), "(console is empty)");
  ASSERT_TRUE(WriteFileAtomic(p, "1\n2\n3  \n\n4\r\n5\n").ok());
  EXPECT_EQ(ConsoleTail(p), "2 | 3 | 4 | 5");
}

TEST_F(GuestExecTest, TheFirstExecOfAnAutoRemoveVmIsItsRunCommandAndDeletesItWhenDone) {
  MustCreate("rm1", /*auto_remove=*/true);
  MustCreate("keep");
  {
    // Sessions, workspaces and plain calls never claim the run command.
    auto side = exec_->Open("rm1", Sh("true"), 10s);
    ASSERT_TRUE(side.ok()) << side.error().message();
    EXPECT_FALSE((*side)->run_command());
  }
  EXPECT_TRUE(Exists("rm1"));
  auto run = exec_->Open("rm1", Sh("echo hi"), 10s, /*may_be_run_command=*/true);
  ASSERT_TRUE(run.ok()) << run.error().message();
  EXPECT_TRUE((*run)->run_command());
  EXPECT_TRUE(svc_->RunCommandClaimed((*run)->vm_id()));
  {
    auto second = exec_->Open("rm1", Sh("true"), 10s, /*may_be_run_command=*/true);
    ASSERT_TRUE(second.ok()) << second.error().message();
    EXPECT_FALSE((*second)->run_command()) << "only the first exec is the run command";
  }
  EXPECT_TRUE(Exists("rm1")) << "a second exec ending leaves the VM";
  ASSERT_TRUE((*run)->channel().CloseStdin().ok());
  for (;;) {
    auto ev = (*run)->Next();
    ASSERT_TRUE(ev.ok()) << ev.error().message();
    if (ev->kind == ExecEvent::kExit) break;
  }
  (*run)->EndRun();
  EXPECT_FALSE(Exists("rm1")) << "deleted when its run command ended";
  run->reset();  // and the destructor does not try again (nor fail)

  auto plain = exec_->Open("keep", Sh("true"), 10s, /*may_be_run_command=*/true);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE((*plain)->run_command());
  plain->reset();
  EXPECT_TRUE(Exists("keep")) << "only auto-remove VMs are deleted";
}

TEST_F(GuestExecTest, AnAbandonedRunCommandStillDeletesItsVm) {
  MustCreate("rm2", /*auto_remove=*/true);
  auto run = exec_->Open("rm2", Sh("sleep 1000"), 10s, /*may_be_run_command=*/true);
  ASSERT_TRUE(run.ok()) << run.error().message();
  run->reset();  // e.g. the relay ended on an error: the agent kills the command
  EXPECT_FALSE(Exists("rm2"));
}

TEST_F(GuestExecTest, ARunCommandThatCannotStartDeletesItsVm) {
  MustCreate("mute-rm", /*auto_remove=*/true);
  auto run = exec_->Open("mute-rm", Sh("true"), 300ms, /*may_be_run_command=*/true);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.error().kind(), ErrorKind::kTimeout);
  EXPECT_FALSE(Exists("mute-rm"));
}

TEST_F(GuestExecTest, SweeperDeletesStoppedAndUnclaimedAutoRemoveVms) {
  VmRecord stopped = MustCreate("rm-stopped", true);
  VmRecord dead = MustCreate("rm-dead", true);
  MustCreate("rm-claimed", true);
  MustCreate("rm-unclaimed", true);
  MustCreate("plain-stopped");
  ASSERT_TRUE(svc_->Stop("rm-stopped", 0ms).ok());
  ASSERT_TRUE(svc_->Stop("plain-stopped", 0ms).ok());
  // The VMM of rm-dead dies behind the daemon's back.
  auto h = svc_->Get("rm-dead");
  ASSERT_TRUE(h.ok() && h->handles);
  procs_.Kill(h->handles->pid);
  auto claimed = exec_->Open("rm-claimed", Sh("sleep 1000"), 10s, true);
  ASSERT_TRUE(claimed.ok());

  AutoRemoveSweeper sweeper(*svc_, 1h);
  sweeper.Sweep();
  EXPECT_FALSE(Exists("rm-stopped"));
  EXPECT_FALSE(Exists("rm-dead"));
  EXPECT_TRUE(Exists("rm-claimed"));
  EXPECT_TRUE(Exists("rm-unclaimed")) << "within the grace for its run command";
  EXPECT_TRUE(Exists("plain-stopped"));

  AutoRemoveSweeper impatient(*svc_, 0ms);
  impatient.Sweep();
  EXPECT_FALSE(Exists("rm-unclaimed")) << "no run command within the grace (e.g. the daemon restarted)";
  EXPECT_TRUE(Exists("rm-claimed"));
  EXPECT_TRUE(Exists("plain-stopped"));
}

// ---- SessionService, the real agent's session-* subcommands ----

class SessionServiceTest : public GuestExecTest {
 protected:
  void SetUp() override {
    GuestExecTest::SetUp();
    if (HasFatalFailure()) return;
    SessionGuestPaths paths;
    paths.agent = BANGER_AGENT_BIN;
    paths.sessions_dir = root_ + "/sessions";
    sessions_ = std::make_unique<SessionService>(*svc_, *store_, *events_, paths);
    MustCreate("s");
  }
  void TearDown() override {
    // Session supervisors are detached: end whatever is still running.
    if (sessions_) {
      if (auto all = store_->ListSessions(""); all.ok()) {
        for (const auto& s : *all) {
          // Only those still running: an ended one's pid may be reused.
          if (s.guest_pid > 0 && s.status == GuestSessionStatus::kRunning) ::kill(-s.guest_pid, SIGKILL);
        }
      }
    }
    sessions_.reset();
    GuestExecTest::TearDown();
  }
  // A request for a session `name` on VM "s".
  static StartSessionRequest Request(const std::string& name, std::vector<std::string> argv) {
    StartSessionRequest r;
    r.vm = "s";
    r.name = name;
    r.argv = std::move(argv);
    return r;
  }
  // Polls Get until the session is no longer running.
  GuestSession WaitEnded(const std::string& name) {
    GuestSession s;
    auto deadline = Clock::now() + 20s;
    while (Clock::now() < deadline) {
      auto g = sessions_->Get(name, "s");
      EXPECT_TRUE(g.ok()) << g.error().message();
      if (!g.ok()) break;
      s = *g;
      if (s.status != GuestSessionStatus::kRunning) break;
      std::this_thread::sleep_for(50ms);
    }
    return s;
  }
  std::unique_ptr<SessionService> sessions_;
};

TEST_F(SessionServiceTest, StartRecordsTheEndAndExitCode) {
  StartSessionRequest r = Request("job", {"sh", "-c", "echo $FOO; echo warn >&2; exit 3"});
  r.env = {{"FOO", "bar"}};
  r.tags = {{"kind", "test"}};
  auto s = sessions_->Start(r);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->status, GuestSessionStatus::kRunning);
  EXPECT_GT(s->guest_pid, 0);
  EXPECT_EQ(s->guest_state_dir.rfind(root_ + "/sessions/", 0), 0u) << s->guest_state_dir;
  GuestSession done = WaitEnded("job");
  EXPECT_EQ(done.status, GuestSessionStatus::kExited);
  ASSERT_TRUE(done.exit_code.has_value());
  EXPECT_EQ(*done.exit_code, 3);
  EXPECT_FALSE(done.reattachable);
  auto out = ReadFile(done.stdout_log_path);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "bar\n");
  auto err = ReadFile(done.stderr_log_path);
  ASSERT_TRUE(err.ok());
  EXPECT_EQ(*err, "warn\n");
  // The end is recorded in the store, not only computed.
  auto row = store_->GetSession("job", "");
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->status, GuestSessionStatus::kExited);
}

TEST_F(SessionServiceTest, ThePollerLeavesAPausedVmPausedAndStopResumesIt) {
  StartSessionRequest r{.vm = "s", .name = "nap", .argv = {"sleep", "1000"}};
  ASSERT_TRUE(sessions_->Start(r).ok());
  ASSERT_TRUE(svc_->Pause("s").ok());
  sessions_->PollRunning({});
  EXPECT_EQ(store_->GetVm("s")->state, VmState::kPaused) << "polling must not wake it";
  EXPECT_EQ(store_->GetSession("nap", "")->status, GuestSessionStatus::kRunning);
  auto stopped = sessions_->Stop("nap", "");  // use: resumes it
  ASSERT_TRUE(stopped.ok()) << stopped.error().message();
  EXPECT_EQ(stopped->status, GuestSessionStatus::kExited);
  EXPECT_EQ(store_->GetVm("s")->state, VmState::kRunning);
}

TEST_F(SessionServiceTest, StopEndsARunningSessionAsExitedWithItsSignalCode) {
  StartSessionRequest r = Request("long", {"sleep", "1000"});
  auto s = sessions_->Start(r);
  ASSERT_TRUE(s.ok()) << s.error().message();
  auto stopped = sessions_->Stop("long", "");
  ASSERT_TRUE(stopped.ok()) << stopped.error().message();
  EXPECT_EQ(stopped->status, GuestSessionStatus::kExited) << GuestSessionStatusName(stopped->status);
  ASSERT_TRUE(stopped->exit_code.has_value());
  EXPECT_EQ(*stopped->exit_code, 128 + SIGTERM);
  EXPECT_NE(::kill(s->guest_pid, 0), 0) << "the process is gone";
  // Attaching to an ended session is refused with the way to its output.
  auto at = sessions_->Attach("long", "");
  ASSERT_FALSE(at.ok());
  EXPECT_EQ(at.error().kind(), ErrorKind::kConflict);
  EXPECT_NE(at.error().message().find("banger session logs long"), std::string::npos);
}

TEST_F(SessionServiceTest, ACommandThatCannotStartIsRecordedFailed) {
  StartSessionRequest r = Request("bad", {"/no/such/binary"});
  auto s = sessions_->Start(r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("could not start"), std::string::npos) << s.error().message();
  auto row = store_->GetSession("bad", "");
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->status, GuestSessionStatus::kFailed);
  EXPECT_FALSE(row->last_error.empty());
}

// The daemon died between launching a session and recording it (the row says
// starting): the next look settles it from what the guest says.
TEST_F(SessionServiceTest, ARowLeftStartingIsSettledFromTheGuest) {
  StartSessionRequest r = Request("orphaned", {"sleep", "1000"});
  auto s = sessions_->Start(r);
  ASSERT_TRUE(s.ok()) << s.error().message();
  GuestSession crashed = *s;
  crashed.status = GuestSessionStatus::kStarting;
  crashed.guest_pid = 0;
  crashed.attachable = crashed.reattachable = false;
  ASSERT_TRUE(store_->UpsertSession(crashed).ok());
  // Launched in the guest: running, with its pid.
  auto got = sessions_->Get("orphaned", "s");
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->status, GuestSessionStatus::kRunning) << GuestSessionStatusName(got->status);
  EXPECT_EQ(got->guest_pid, s->guest_pid);
  EXPECT_TRUE(got->attachable);
  EXPECT_EQ(store_->GetSession("orphaned", "")->status, GuestSessionStatus::kRunning)
      << "recorded, not computed";

  // Never launched (the row was written, then the daemon died): failed, by the poller too.
  GuestSession never = crashed;
  never.id = NewId();
  never.name = "never";
  never.guest_state_dir = root_ + "/sessions/" + never.id.substr(0, 16);
  ASSERT_TRUE(store_->UpsertSession(never).ok());
  sessions_->PollRunning();
  auto row = store_->GetSession("never", "");
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->status, GuestSessionStatus::kFailed) << GuestSessionStatusName(row->status);
}

TEST_F(SessionServiceTest, StdinSessionTakesInputThroughAttach) {
  StartSessionRequest r = Request("cat", {"sh", "-c", "read line; echo got:$line"});
  r.stdin_pipe = true;
  auto s = sessions_->Start(r);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->stdin_mode, "pipe");
  auto st = sessions_->Attach("cat", "s");
  ASSERT_TRUE(st.ok()) << st.error().message();
  auto cmd = exec_->Open(st->vm_id, st->exec, 10s);
  ASSERT_TRUE(cmd.ok()) << cmd.error().message();
  ASSERT_TRUE((*cmd)->channel().WriteStdin("hello\n").ok());
  (*cmd)->KillAt(Clock::now() + 20s, 5s);
  std::string out;
  for (;;) {
    auto ev = (*cmd)->Next();
    ASSERT_TRUE(ev.ok()) << ev.error().message();
    if (ev->kind == ExecEvent::kExit) {
      EXPECT_EQ(ev->exit.ShellCode(), 0);
      break;
    }
    if (ev->kind == ExecEvent::kStdout) out += ev->data;
  }
  EXPECT_EQ(out, "got:hello\n");
  GuestSession done = WaitEnded("cat");
  EXPECT_EQ(done.status, GuestSessionStatus::kExited);
  ASSERT_TRUE(done.exit_code.has_value());
  EXPECT_EQ(*done.exit_code, 0);
}

// ---- WorkspaceService: the real unpack command, run by the agent on the
// host into a directory under the test's root (read-only mode bind-mounts,
// so it is left to the guest e2e test) ----

class WorkspaceServiceTest : public GuestExecTest {
 protected:
  void SetUp() override {
    GuestExecTest::SetUp();
    if (HasFatalFailure()) return;
    workspaces_ = std::make_unique<WorkspaceService>(*svc_, *store_, *events_, root_ + "/tmp");
    fs::create_directories(root_ + "/tmp");
    fs::create_directories(root_ + "/guest");
    repo_ = root_ + "/proj";
    fs::create_directories(repo_ + "/src");
    ASSERT_TRUE(Git({"init", "-q", "-b", "main"}));
    ASSERT_TRUE(WriteFileAtomic(repo_ + "/README", "one\n").ok());
    ASSERT_TRUE(WriteFileAtomic(repo_ + "/src/run.sh", "#!/bin/sh\necho run\n", 0755).ok());
    ASSERT_TRUE(Git({"add", "-A"}) && Git({"commit", "-q", "-m", "one"}));
    MustCreate("w");
  }
  bool Git(std::vector<std::string> args) {
    args.insert(args.begin(), {"git", "-C", repo_, "-c", "user.name=t", "-c", "user.email=t@example.com"});
    return RunChecked(args).ok();
  }
  Result<WorkspacePrepareResult> Prepare(const std::string& guest_path,
                                         std::vector<std::string>* lines = nullptr) {
    PrepareWorkspaceRequest r;
    r.source_path = repo_;
    r.guest_path = guest_path;
    r.agent_timeout = 10s;
    std::atomic<bool> cancel{false};
    return workspaces_->Prepare(
        "w", r,
        [&](const std::string& l) {
          if (lines) lines->push_back(l);
        },
        cancel);
  }
  std::string repo_;
  std::unique_ptr<WorkspaceService> workspaces_;
};

TEST_F(WorkspaceServiceTest, PrepareCopiesTheWorkTreeAndPreparingAgainReplacesIt) {
  std::string dst = root_ + "/guest/proj";
  std::vector<std::string> lines;
  auto r = Prepare(dst, &lines);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->guest_path, dst);
  EXPECT_EQ(r->current_branch, "main");
  EXPECT_EQ(r->head_commit.size(), 40u);
  EXPECT_EQ(ReadFile(dst + "/README").value(), "one\n");
  EXPECT_EQ(fs::status(dst + "/src/run.sh").permissions() & fs::perms::owner_exec, fs::perms::owner_exec);
  EXPECT_TRUE(fs::is_directory(dst + "/.git"));
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines.back().find("copied"), std::string::npos) << lines.back();

  // Uncommitted changes and a deleted file: the copy is replaced whole.
  ASSERT_TRUE(WriteFileAtomic(repo_ + "/README", "two\n").ok());
  ASSERT_TRUE(WriteFileAtomic(dst + "/stale", "left in the guest\n").ok());
  fs::remove(repo_ + "/src/run.sh");
  auto again = Prepare(dst);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(ReadFile(dst + "/README").value(), "two\n");
  EXPECT_FALSE(fs::exists(dst + "/src/run.sh"));
  EXPECT_FALSE(fs::exists(dst + "/stale")) << "replaced, not merged";
  EXPECT_FALSE(fs::exists(dst + ".banger-partial"));
  auto list = workspaces_->List("w");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u) << "one row per VM and guest path";
  EXPECT_EQ((*list)[0].guest_path, dst);
}

TEST_F(WorkspaceServiceTest, AFailedUnpackIsAnErrorWithTheGuestsReasonAndRecordsNothing) {
  // The guest cannot create the directory: its parent is a file.
  ASSERT_TRUE(WriteFileAtomic(root_ + "/guest/file", "x").ok());
  auto r = Prepare(root_ + "/guest/file/proj");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("unpacking in the guest failed (exit"), std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("Not a directory"), std::string::npos) << r.error().message();
  auto list = workspaces_->List("w");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

TEST_F(WorkspaceServiceTest, RefusesAStoppedVmAndBadInputBeforeCopying) {
  auto bad_mode = [&] {
    PrepareWorkspaceRequest r;
    r.source_path = repo_;
    r.mode = "everything";
    std::atomic<bool> cancel{false};
    return workspaces_->Prepare(
        "w", r, [](const std::string&) {}, cancel);
  }();
  ASSERT_FALSE(bad_mode.ok());
  EXPECT_EQ(bad_mode.error().kind(), ErrorKind::kInvalidArgument);
  ASSERT_TRUE(svc_->Stop("w", 0ms).ok());
  auto stopped = Prepare(root_ + "/guest/proj");
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.error().kind(), ErrorKind::kConflict);
  EXPECT_NE(stopped.error().message().find("banger vm start w"), std::string::npos)
      << stopped.error().message();
  EXPECT_FALSE(fs::exists(root_ + "/guest/proj"));
}

}  // namespace
}  // namespace banger
