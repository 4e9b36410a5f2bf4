// banger-agent session-* DIR (docs/sessions.md): detached commands with a
// supervisor, their status, logs, attach and stop.
//
// Driven through ordinary execs on the real agent, as the daemon does. The
// supervisors double-fork away from the agent; this process becomes a child
// subreaper for these tests so it can reap them (an init that does not reap
// orphans would otherwise collect them as zombies) and check they exit.
#include <sys/prctl.h>
#include <sys/stat.h>

#include <atomic>
#include <regex>

#include "agent/client_test_util.h"
#include "base/process.h"

namespace banger::agent_test {
namespace {

// A field of the agent's flat JSON answers: a string's contents (without
// unescaping) or a number's digits; "" when absent.
std::string JsonField(const std::string& json, const std::string& key) {
  std::smatch m;
  std::regex re("\"" + key + "\"\\s*:\\s*(\"((?:[^\"\\\\]|\\\\.)*)\"|-?[0-9]+)");
  if (!std::regex_search(json, m, re)) return "";
  return m[2].matched ? m[2].str() : m[1].str();
}

class AgentSessionTest : public AgentClientTest {
 protected:
  void SetUp() override {
    ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    AgentClientTest::SetUp();
    conn_ = Connect();
    ASSERT_TRUE(conn_);
  }

  void TearDown() override {
    conn_.reset();
    // Whatever a failing test left running.
    for (const auto& d : sessions_)
      (void)RunCommand({BANGER_AGENT_BIN, "session-stop", d, "--timeout", "0"}, 10s);
    AgentClientTest::TearDown();
    // The supervisors end with their commands: reap them all.
    auto deadline = Clock::now() + 20s;
    for (;;) {
      pid_t r = waitpid(-1, nullptr, WNOHANG);
      if (r < 0 && errno == ECHILD) break;
      if (r > 0) continue;
      if (Clock::now() > deadline) {
        ADD_FAILURE() << "a session process did not end";
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    prctl(PR_SET_CHILD_SUBREAPER, 0);
  }

  // A fresh agent on the same socket (after the old one was killed).
  void RestartAgent() { StartAgent("agent2.log"); }

  // A shell loop that waits until Release(name): a command that runs for as
  // long as the test needs, however slow the machine.
  std::string UntilReleased(const std::string& name) const {
    return "while [ ! -e " + dir_ + "/release-" + name + " ]; do sleep 0.05; done";
  }
  void Release(const std::string& name) { ASSERT_TRUE(WriteFileAtomic(dir_ + "/release-" + name, "").ok()); }

  std::string SessionDir(const std::string& name) {
    std::string d = dir_ + "/sessions/" + name;
    sessions_.push_back(d);
    return d;
  }

  // `banger-agent ARGS...` as an exec through the agent.
  Result<Collected> RunAgent(std::vector<std::string> args) {
    args.insert(args.begin(), BANGER_AGENT_BIN);
    return RunAll(*conn_, Cmd(std::move(args)));
  }

  std::string Status(const std::string& d) {
    auto r = RunAgent({"session-status", d});
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? r->out : "";
  }

  // `session-logs DIR --from-start`: everything the session wrote so far.
  std::string Logs(const std::string& d) {
    auto r = RunAgent({"session-logs", d, "--from-start"});
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? r->out : "";
  }

  // Polls session-status until its state is `state`; returns the last answer.
  std::string WaitForState(const std::string& d, const std::string& state, Clock::duration limit = 20s) {
    auto deadline = Clock::now() + limit;
    std::string st;
    do {
      st = Status(d);
      if (JsonField(st, "state") == state) break;
      std::this_thread::sleep_for(50ms);
    } while (Clock::now() < deadline);
    return st;
  }

  // Drain with a deadline: past it the agent is killed, which fails the
  // blocked Next() instead of hanging the test.
  Result<Collected> DrainWithin(ExecChannel& ch, Clock::duration limit = 20s) {
    std::atomic<bool> done{false};
    pid_t agent = agent_pid_;
    std::thread watchdog([&] {
      auto deadline = Clock::now() + limit;
      while (!done && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
      if (!done) kill(agent, SIGKILL);
    });
    auto r = Drain(ch);
    done = true;
    watchdog.join();
    return r;
  }

  static pid_t SupervisorPid(const std::string& d) {
    auto text = ReadFile(d + "/supervisor.pid");
    return text.ok() ? std::atoi(text->c_str()) : -1;
  }

  // Waits for our (subreaper's) child `pid` to exit; its wait status or -1.
  static int ReapWithin(pid_t pid, Clock::duration limit) {
    auto deadline = Clock::now() + limit;
    do {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) return status;
      std::this_thread::sleep_for(10ms);
    } while (Clock::now() < deadline);
    return -1;
  }

  std::unique_ptr<AgentConn> conn_;
  std::vector<std::string> sessions_;
};

TEST_F(AgentSessionTest, StartReturnsAtOnceAndRecordsTheExit) {
  std::string d = SessionDir("basic");
  // The command runs until the test releases it, so session-start returning
  // while it still runs is what "at once" means (no clock involved).
  auto r = RunAgent({"session-start", d, "--", "sh", "-c",
                     "echo out; echo err >&2; " + UntilReleased("basic") + "; exit 3"});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->exit.code, 0) << r->err;
  EXPECT_TRUE(std::regex_match(r->out, std::regex("\\{\"pid\": [0-9]+\\}\n"))) << r->out;
  EXPECT_EQ(r->err, "");
  pid_t pid = std::atoi(JsonField(r->out, "pid").c_str());
  ASSERT_GT(pid, 0);
  EXPECT_EQ(kill(pid, 0), 0);
  EXPECT_EQ(getpgid(pid), pid);  // its own process group

  struct stat st;
  ASSERT_EQ(stat(d.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  std::string running = Status(d);
  EXPECT_EQ(JsonField(running, "state"), "running") << running;
  EXPECT_EQ(JsonField(running, "pid"), std::to_string(pid)) << running;
  EXPECT_NE(JsonField(running, "started_at"), "") << running;

  Release("basic");
  std::string ended = WaitForState(d, "exited");
  EXPECT_EQ(JsonField(ended, "state"), "exited") << ended;
  EXPECT_EQ(JsonField(ended, "exit_code"), "3") << ended;
  EXPECT_EQ(JsonField(ended, "signal"), "") << ended;
  EXPECT_NE(JsonField(ended, "ended_at"), "") << ended;

  auto logs = RunAgent({"session-logs", d, "--from-start"});
  ASSERT_TRUE(logs.ok()) << logs.error().message();
  EXPECT_EQ(logs->out, "out\n");
  EXPECT_EQ(logs->err, "err\n");
  EXPECT_EQ(logs->exit.code, 0);

  // No zombies: the supervisor reaped the command and ends itself.
  pid_t sup = SupervisorPid(d);
  ASSERT_GT(sup, 0);
  int sup_status = ReapWithin(sup, 20s);
  ASSERT_NE(sup_status, -1) << "the supervisor did not exit";
  EXPECT_TRUE(WIFEXITED(sup_status) && WEXITSTATUS(sup_status) == 0);
  EXPECT_NE(kill(pid, 0), 0);  // already reaped
}

TEST_F(AgentSessionTest, OutlivesTheConnectionAndTheAgent) {
  std::string d = SessionDir("survivor");
  // It runs until the test releases it, however long the restarts take.
  auto r = RunAgent(
      {"session-start", d, "--", "sh", "-c", "echo before; " + UntilReleased("survivor") + "; echo after"});
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->exit.code, 0) << r->out << r->err;
  pid_t pid = std::atoi(JsonField(r->out, "pid").c_str());

  // The connection that started it goes away...
  conn_.reset();
  conn_ = Connect();
  ASSERT_TRUE(conn_);
  EXPECT_EQ(JsonField(Status(d), "state"), "running");

  // ...and so does the agent itself.
  conn_.reset();
  kill(agent_pid_, SIGKILL);
  waitpid(agent_pid_, nullptr, 0);
  EXPECT_EQ(kill(pid, 0), 0) << "the command died with the agent";
  RestartAgent();
  conn_ = Connect();
  ASSERT_TRUE(conn_);
  std::string st = Status(d);
  EXPECT_EQ(JsonField(st, "state"), "running") << st;
  EXPECT_EQ(JsonField(st, "pid"), std::to_string(pid)) << st;

  Release("survivor");
  std::string ended = WaitForState(d, "exited");
  EXPECT_EQ(JsonField(ended, "exit_code"), "0") << ended;
  EXPECT_EQ(Logs(d), "before\nafter\n");
}

TEST_F(AgentSessionTest, LogsFollowStreamsUntilTheEnd) {
  std::string d = SessionDir("follow");
  // line1, then a pause until the test has seen it, then the rest.
  auto r = RunAgent(
      {"session-start", d, "--", "sh", "-c",
       "echo line1; " + UntilReleased("follow") + "; for i in 2 3 4; do echo line$i; done; echo done >&2"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit.code, 0) << r->out << r->err;
  auto ch = conn_->Exec(Cmd({BANGER_AGENT_BIN, "session-logs", d, "--from-start", "--follow"}));
  ASSERT_TRUE(ch.ok()) << ch.error().message();
  auto first = (*ch)->Next();
  ASSERT_TRUE(first.ok()) << first.error().message();
  ASSERT_EQ(first->kind, ExecEvent::kStdout);
  EXPECT_EQ(first->data, "line1\n");
  // The first line came while the command still ran (it waits for us)...
  EXPECT_EQ(JsonField(Status(d), "state"), "running");
  Release("follow");
  // ...and the follow ends with the command's end.
  auto rest = DrainWithin(**ch);
  ASSERT_TRUE(rest.ok()) << rest.error().message();
  EXPECT_EQ(first->data + rest->out, "line1\nline2\nline3\nline4\n");
  EXPECT_EQ(rest->err, "done\n");
  EXPECT_EQ(rest->exit.code, 0);
  EXPECT_EQ(JsonField(Status(d), "state"), "exited");

  // Following an ended session prints it all and ends at once.
  auto again = RunAgent({"session-logs", d, "--from-start", "--follow"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->out, "line1\nline2\nline3\nline4\n");
  EXPECT_EQ(again->err, "done\n");
}

TEST_F(AgentSessionTest, AttachForwardsStdinAndShowsOutput) {
  std::string d = SessionDir("attach");
  auto r = RunAgent({"session-start", d, "--stdin", "--", "sh", "-c", "read x; echo got:$x"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit.code, 0) << r->out << r->err;
  struct stat st;
  ASSERT_EQ(stat((d + "/stdin").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  auto ch = conn_->Exec(Cmd({BANGER_AGENT_BIN, "session-attach", d}));
  ASSERT_TRUE(ch.ok()) << ch.error().message();
  ASSERT_TRUE((*ch)->WriteStdin("hello\n").ok());
  auto out = DrainWithin(**ch);
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ(out->out, "got:hello\n");
  EXPECT_EQ(out->exit.code, 0);
  std::string ended = WaitForState(d, "exited");
  EXPECT_EQ(JsonField(ended, "exit_code"), "0") << ended;
}

TEST_F(AgentSessionTest, DetachingDoesNotCloseTheSessionsStdin) {
  std::string d = SessionDir("reattach");
  auto r = RunAgent(
      {"session-start", d, "--stdin", "--", "sh", "-c", "while read x; do echo got:$x; done; echo eof"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit.code, 0) << r->out << r->err;
  for (std::string word : {"one", "two", "three"}) {
    auto ch = conn_->Exec(Cmd({BANGER_AGENT_BIN, "session-attach", d}));
    ASSERT_TRUE(ch.ok());
    ASSERT_TRUE((*ch)->WriteStdin(word + "\n").ok());
    auto ev = (*ch)->Next();
    ASSERT_TRUE(ev.ok()) << ev.error().message();
    EXPECT_EQ(ev->data, "got:" + word + "\n");
    if (word == "two") {
      ASSERT_TRUE((*ch)->CloseStdin().ok());  // EOF of the attach, not of the session
    }
    ch->reset();  // detach
  }
  // "three" was read after an attach closed its stdin and two detached: the
  // session's stdin stayed open throughout (at EOF the loop would have ended).
  EXPECT_EQ(JsonField(Status(d), "state"), "running");
  auto stop = RunAgent({"session-stop", d});
  ASSERT_TRUE(stop.ok());
  EXPECT_EQ(stop->exit.code, 0) << stop->err;
  EXPECT_EQ(Logs(d), "got:one\ngot:two\ngot:three\n");
}

TEST_F(AgentSessionTest, AttachWithoutStdinIgnoresItsInput) {
  std::string d = SessionDir("nostdin");
  // Ticks until released, so the test knows the attach follows the output
  // (it starts at the end of the logs) before the command reads its stdin.
  auto r = RunAgent(
      {"session-start", d, "--", "sh", "-c",
       "while [ ! -e " + dir_ + "/release-nostdin ]; do echo tick; sleep 0.05; done; cat; echo end"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit.code, 0);
  auto ch = conn_->Exec(Cmd({BANGER_AGENT_BIN, "session-attach", d}));
  ASSERT_TRUE(ch.ok());
  auto first = (*ch)->Next();
  ASSERT_TRUE(first.ok()) << first.error().message();
  ASSERT_TRUE((*ch)->WriteStdin("ignored\n").ok());
  Release("nostdin");
  auto out = DrainWithin(**ch);
  ASSERT_TRUE(out.ok()) << out.error().message();
  // cat read /dev/null: nothing but ticks before the end.
  EXPECT_TRUE(std::regex_match(first->data + out->out, std::regex("(tick\n)+end\n")))
      << first->data + out->out;
  EXPECT_EQ(out->exit.code, 0);
}

TEST_F(AgentSessionTest, StopTermsThenKillsTheProcessGroup) {
  std::string d = SessionDir("stop");
  auto r = RunAgent({"session-start", d, "--", "sleep", "1000"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit.code, 0) << r->out << r->err;
  auto stop = RunAgent({"session-stop", d, "--timeout", "5"});
  ASSERT_TRUE(stop.ok());
  EXPECT_EQ(stop->exit.code, 0) << stop->err;
  // The end is recorded before session-stop returns; signal 15 shows TERM
  // sufficed (no wait for the 5 s timeout and its KILL).
  std::string st = Status(d);
  EXPECT_EQ(JsonField(st, "state"), "exited") << st;
  EXPECT_EQ(JsonField(st, "signal"), "15") << st;
  EXPECT_EQ(JsonField(st, "exit_code"), "143") << st;
  auto again = RunAgent({"session-stop", d});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->exit.code, 0);

  // A group that ignores SIGTERM gets SIGKILL after the timeout.
  std::string stubborn = SessionDir("stubborn");
  // Stopped only once the trap is set: a TERM before it would end the shell.
  const std::string trapped = dir_ + "/trapped";
  r = RunAgent({"session-start", stubborn, "--", "sh", "-c",
                "trap '' TERM; touch " + trapped + "; sleep 1000; echo not-reached"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit.code, 0);
  ASSERT_TRUE(Eventually([&] { return access(trapped.c_str(), F_OK) == 0; })) << "the trap was never set";
  auto start = Clock::now();
  stop = RunAgent({"session-stop", stubborn, "--timeout", "0.5"});
  auto took = Clock::now() - start;
  ASSERT_TRUE(stop.ok());
  EXPECT_EQ(stop->exit.code, 0) << stop->err;
  EXPECT_GE(took, 500ms);  // it gave TERM its timeout; signal 9 below shows the KILL

  st = Status(stubborn);
  EXPECT_EQ(JsonField(st, "signal"), "9") << st;
  EXPECT_EQ(JsonField(st, "exit_code"), "137") << st;
}

TEST_F(AgentSessionTest, StartFailuresAnswerWithStageAndMessage) {
  std::string d = SessionDir("missing");
  auto r = RunAgent({"session-start", d, "--", "no-such-command-xyz", "arg"});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->exit.code, 1);
  EXPECT_EQ(r->out,
            "{\"stage\": \"exec\", \"message\": \"no-such-command-xyz: No such file or directory\"}\n");
  EXPECT_EQ(std::count(r->err.begin(), r->err.end(), '\n'), 1) << r->err;
  std::string st = Status(d);
  EXPECT_EQ(JsonField(st, "state"), "failed") << st;
  EXPECT_EQ(JsonField(st, "message"), "no-such-command-xyz: No such file or directory") << st;
  EXPECT_EQ(ReapWithin(SupervisorPid(d), 20s) != -1, true);

  auto cwd = RunAgent({"session-start", SessionDir("cwd"), "--cwd", dir_ + "/nope", "--", "true"});
  ASSERT_TRUE(cwd.ok());
  EXPECT_EQ(cwd->exit.code, 1);
  EXPECT_EQ(JsonField(cwd->out, "stage"), "cwd") << cwd->out;

  // --cwd, --env and the default environment, as for an ordinary exec.
  std::string envd = SessionDir("env");
  auto env = RunAgent({"session-start", envd, "--cwd", dir_, "--env", "FOO=bar", "--env", "HOME=/tmp", "--",
                       "sh", "-c", "echo $FOO $HOME $PATH; pwd"});
  ASSERT_TRUE(env.ok());
  ASSERT_EQ(env->exit.code, 0) << env->out << env->err;
  WaitForState(envd, "exited");
  EXPECT_EQ(Logs(envd),
            "bar /tmp /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" + dir_ + "\n");

  // A directory that already holds a session is not reused.
  auto twice = RunAgent({"session-start", envd, "--", "true"});
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice->exit.code, 1);
}

TEST_F(AgentSessionTest, StatusOfAMissingDirAndOfADeadSupervisor) {
  auto missing = RunAgent({"session-status", dir_ + "/no-such-session"});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->exit.code, 1);
  EXPECT_EQ(missing->out, "{\"state\":\"failed\",\"message\":\"no such session directory\"}\n");
  EXPECT_EQ(std::count(missing->err.begin(), missing->err.end(), '\n'), 1) << missing->err;
  auto logs = RunAgent({"session-logs", dir_ + "/no-such-session", "--from-start"});
  ASSERT_TRUE(logs.ok());
  EXPECT_EQ(logs->exit.code, 1);
  auto stop = RunAgent({"session-stop", dir_ + "/no-such-session"});
  ASSERT_TRUE(stop.ok());
  EXPECT_EQ(stop->exit.code, 1);

  std::string d = SessionDir("orphan");
  auto r = RunAgent({"session-start", d, "--", "sleep", "1000"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit.code, 0);
  pid_t pid = std::atoi(JsonField(r->out, "pid").c_str());
  ASSERT_GT(pid, 0) << r->out;
  pid_t sup = SupervisorPid(d);
  ASSERT_GT(sup, 0);
  // The supervisor dies without recording anything (left unreaped, a
  // zombie, on purpose): the command still runs, so the session does.
  ASSERT_EQ(kill(sup, SIGKILL), 0);
  ASSERT_TRUE(Eventually([&] { return ProcessEnded(sup); }));
  EXPECT_EQ(JsonField(Status(d), "state"), "running");
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  std::string st = WaitForState(d, "failed");
  EXPECT_EQ(JsonField(st, "state"), "failed") << st;
  EXPECT_EQ(JsonField(st, "message"), "the session's supervisor died") << st;
  auto stop_dead = RunAgent({"session-stop", d});
  ASSERT_TRUE(stop_dead.ok());
  EXPECT_EQ(stop_dead->exit.code, 0);
}

}  // namespace
}  // namespace banger::agent_test
