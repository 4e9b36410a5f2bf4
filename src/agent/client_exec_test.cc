// AgentConn::Exec semantics against the real agent: exit codes and signals,
// separate streams, environment and cwd, stdin EOF, ttys, and when EXIT is
// reported.
#include "agent/client_test_util.h"
#include "base/process.h"

namespace banger::agent_test {
namespace {

// Each test on a connection of its own, handshake done.
class AgentExecTest : public AgentClientTest {
 protected:
  void SetUp() override {
    AgentClientTest::SetUp();
    conn_ = Connect();
    ASSERT_TRUE(conn_);
  }
  std::unique_ptr<AgentConn> conn_;
};

TEST_F(AgentExecTest, HandshakeReportsAgentInfo) {
  EXPECT_EQ(conn_->info().major, 1);
  EXPECT_EQ(conn_->info().minor, agent::kProtocolMinor);
  EXPECT_NE(conn_->info().build.find("banger-agent"), std::string::npos);
  std::string boot_id = ReadFile("/proc/sys/kernel/random/boot_id").value();
  boot_id.pop_back();  // newline
  EXPECT_EQ(conn_->info().boot_id, boot_id);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  EXPECT_EQ(conn_->info().hostname, host);
  EXPECT_TRUE(conn_->Ping(2s).ok());
}

// An exit code, or the signal that killed the command, and the shell's code
// for either.
TEST_F(AgentExecTest, ExitCodeOrKilledBySignal) {
  struct Case {
    const char* script;
    bool signaled;
    int code_or_signo;
    int shell_code;
  };
  for (const Case& c : {Case{"exit 7", false, 7, 7}, Case{"kill -9 $$", true, 9, 137}}) {
    SCOPED_TRACE(c.script);
    auto r = RunAll(*conn_, Sh(c.script));
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->exit.signaled, c.signaled);
    EXPECT_EQ(c.signaled ? r->exit.signo : r->exit.code, c.code_or_signo);
    EXPECT_EQ(r->exit.ShellCode(), c.shell_code);
  }
}

TEST_F(AgentExecTest, StdoutAndStderrStaySeparate) {
  auto r = RunAll(*conn_, Sh("echo out; echo err >&2"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->exit.code, 0);
}

TEST_F(AgentExecTest, MissingCommandExits127WithAMessage) {
  auto r = RunAll(*conn_, Cmd({"no-such-command-xyz", "arg"}));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->exit.code, 127);
  EXPECT_EQ(r->err, "banger-agent: no-such-command-xyz: No such file or directory\n");
  EXPECT_EQ(r->out, "");
}

TEST_F(AgentExecTest, NonExecutableFileExits126) {
  std::string script = dir_ + "/not-executable";
  ASSERT_TRUE(WriteFileAtomic(script, "#!/bin/sh\necho hi\n", 0644).ok());
  auto r = RunAll(*conn_, Cmd({script}));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->exit.code, 126);
  EXPECT_NE(r->err.find("Permission denied"), std::string::npos) << r->err;
}

TEST_F(AgentExecTest, MissingCwdFailsTheExec) {
  ExecRequest req = Cmd({"true"});
  req.cwd = dir_ + "/nope";
  auto r = conn_->Exec(req);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("cwd"), std::string::npos) << r.error().message();
  EXPECT_EQ(r.error().kind(), ErrorKind::kNotFound);
  // The connection is still fine afterwards.
  auto again = RunAll(*conn_, Sh("exit 3"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->exit.code, 3);
}

TEST_F(AgentExecTest, EnvCwdAndDefaults) {
  ExecRequest req = Sh("echo $FOO $HOME $PATH; pwd");
  req.env = {{"FOO", "bar"}};
  req.cwd = dir_;
  auto r = RunAll(*conn_, req);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "bar /root /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" + dir_ + "\n");
  auto home = RunAll(*conn_, Sh("pwd"));
  ASSERT_TRUE(home.ok());
  EXPECT_EQ(home->out, access("/root", X_OK) == 0 ? "/root\n" : "/\n");
  // The request's PATH is the one searched.
  ExecRequest no_path = Sh("true");
  no_path.env = {{"PATH", dir_}};
  auto path = RunAll(*conn_, no_path);
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(path->exit.code, 127);
}

TEST_F(AgentExecTest, SignalGoesToTheProcessGroup) {
  // The shell waits on a pipeline whose first command is another shell (a
  // grandchild of the agent) that traps TERM and records it. A signal sent to
  // the exec's shell alone would leave no record: only TERM to the whole
  // process group reaches the grandchild.
  const std::string ready = dir_ + "/ready", got = dir_ + "/grandchild-got";
  const std::string inner =
      "trap 'echo TERM > " + got + "; exit 0' TERM; touch " + ready + "; while :; do sleep 0.05; done";
  auto ch = conn_->Exec(Sh("sh -c \"" + inner + "\" | cat; echo not-reached"));
  ASSERT_TRUE(ch.ok()) << ch.error().message();
  // The trap is set once the ready file exists.
  ASSERT_TRUE(Eventually([&] { return access(ready.c_str(), F_OK) == 0; })) << "the grandchild never started";
  ASSERT_TRUE((*ch)->Signal(SIGTERM).ok());
  auto r = Drain(**ch);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r->exit.signaled);
  EXPECT_EQ(r->exit.signo, SIGTERM);
  EXPECT_EQ(r->out, "");
  // The grandchild's trap may still be finishing as the shell's EXIT arrives.
  EXPECT_TRUE(Eventually([&] {
    auto text = ReadFile(got);
    return text.ok() && *text == "TERM\n";
  })) << "the grandchild did not get the signal";
  // After the exit: signals are no-ops, stdin and Next are errors.
  EXPECT_TRUE((*ch)->Signal(SIGTERM).ok());
  EXPECT_FALSE((*ch)->WriteStdin("x").ok());
  EXPECT_FALSE((*ch)->Next().ok());
}

TEST_F(AgentExecTest, StdinThenEof) {
  auto ch = conn_->Exec(Cmd({"cat"}));
  ASSERT_TRUE(ch.ok());
  ASSERT_TRUE((*ch)->WriteStdin("hello ").ok());
  ASSERT_TRUE((*ch)->WriteStdin("world").ok());
  ASSERT_TRUE((*ch)->CloseStdin().ok());
  EXPECT_TRUE((*ch)->CloseStdin().ok());  // idempotent
  EXPECT_FALSE((*ch)->WriteStdin("late").ok());
  auto r = Drain(**ch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "hello world");
  EXPECT_EQ(r->exit.code, 0);
}

TEST_F(AgentExecTest, TtyEchoesAndReportsItsSize) {
  ExecRequest sized = Cmd({"stty", "size"}, true);
  sized.rows = 33;
  sized.cols = 101;
  auto size = RunAll(*conn_, sized);
  ASSERT_TRUE(size.ok()) << size.error().message();
  EXPECT_EQ(size->out, "33 101\r\n");
  EXPECT_EQ(size->err, "");

  auto defaults = RunAll(*conn_, Cmd({"stty", "size"}, true));
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->out, "24 80\r\n");

  auto ch = conn_->Exec(Sh("read line; echo got:$line; stty size", true));
  ASSERT_TRUE(ch.ok());
  ASSERT_TRUE((*ch)->Resize(40, 120).ok());
  ASSERT_TRUE((*ch)->WriteStdin("hello\n").ok());
  auto r = Drain(**ch);
  ASSERT_TRUE(r.ok()) << r.error().message();
  // The terminal echoes the input, then the command's own output follows.
  EXPECT_EQ(r->out, "hello\r\ngot:hello\r\n40 120\r\n");
  EXPECT_EQ(r->exit.code, 0);
}

TEST_F(AgentExecTest, TtyCloseStdinSendsEof) {
  auto r = FeedAndDrain(*conn_, Cmd({"cat"}, true), "abc\n", 4);  // one write, then EOF
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "abc\r\nabc\r\n");
  EXPECT_EQ(r->exit.code, 0);
}

TEST_F(AgentExecTest, BackgroundChildHoldingStdoutDoesNotHangTheExit) {
  // The background sleep holds stdout open; the exit is reported while it
  // still runs (what must happen), not once it ends a minute later.
  for (bool tty : {false, true}) {
    auto r = RunAll(*conn_, Sh("sleep 60 & echo $!", tty));
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->exit.code, 0);
    pid_t holder = std::atoi(r->out.c_str());
    ASSERT_GT(holder, 0) << r->out;
    EXPECT_EQ(r->out, std::to_string(holder) + (tty ? "\r\n" : "\n"));
    EXPECT_EQ(kill(holder, 0), 0) << "the exit waited for the background child (tty " << tty << ")";
    kill(holder, SIGKILL);
  }
}

TEST_F(AgentExecTest, OutputWrittenBeforeExitIsNeverDropped) {
  // The command exits with output still in the pipe while the host is not
  // reading; the drain deadline must not cut that output.
  auto ch = conn_->Exec(Sh("head -c 1M /dev/zero"));
  ASSERT_TRUE(ch.ok());
  // Not a synchronization: the host stays away for longer than the agent's
  // 500 ms drain deadline, which is what this test is about.
  std::this_thread::sleep_for(1500ms);
  auto r = Drain(**ch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out.size(), kMiB);
}

TEST_F(AgentExecTest, ExecRoundTripLatency) {
  std::vector<double> ms;
  for (int i = 0; i < 100; ++i) {
    auto start = Clock::now();
    auto r = RunAll(*conn_, Cmd({"true"}));
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->exit.code, 0);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  // A metric, not an assertion: a loaded machine may be slow, never wrong.
  printf("[ metric ] exec round trip of `true`: p50 %.2f ms, p99 %.2f ms (100 runs, one connection)\n",
         ms[49], ms[98]);
}

}  // namespace
}  // namespace banger::agent_test
