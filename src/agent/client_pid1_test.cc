// `banger-agent --pid1` on the host, where it is not PID 1 and so acts as a
// child subreaper (guest/agent/pid1.h): the agent it runs serves execs, is
// restarted when it dies, orphans are reaped, and SIGTERM stops every
// descendant (SIGKILL for those that ignore it) before it exits 0.
#include <sys/wait.h>

#include "agent/client_test_util.h"

namespace banger::agent_test {
namespace {

class Pid1Test : public AgentClientTest {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/banger-pid1-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    sock_ = dir_ + "/agent.sock";
    log_ = dir_ + "/pid1.log";
    agent_pid_ = fork();
    ASSERT_GE(agent_pid_, 0);
    if (agent_pid_ == 0) {
      FILE* f = freopen(log_.c_str(), "w", stderr);
      (void)f;
      execl(BANGER_AGENT_BIN, BANGER_AGENT_BIN, "--pid1", "--listen-unix", sock_.c_str(), nullptr);
      _exit(127);
    }
  }

  void TearDown() override {
    // Its own shutdown takes the agent and every command along; SIGKILL
    // would leave them running, orphaned to a host init that may not reap.
    if (agent_pid_ > 0) {
      kill(agent_pid_, SIGTERM);
      if (WaitExit(20s) == -1) {
        for (pid_t child : Children()) kill(child, SIGKILL);
      }
    }
    AgentClientTest::TearDown();
  }

  // The pid1 process's children (the agent, adopted orphans).
  std::vector<pid_t> Children() {
    std::string p = std::to_string(agent_pid_);
    auto text = ReadFile("/proc/" + p + "/task/" + p + "/children");
    std::vector<pid_t> out;
    if (!text.ok()) return out;
    for (size_t pos = 0; pos < text->size();) {
      size_t end = text->find(' ', pos);
      if (end == std::string::npos) end = text->size();
      if (end > pos) out.push_back(std::atoi(text->substr(pos, end - pos).c_str()));
      pos = end + 1;
    }
    return out;
  }

  static pid_t ParentOf(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) return -1;
    char state = 0;
    int ppid = -1;
    if (sscanf(stat.c_str() + paren + 1, " %c %d", &state, &ppid) != 2) return -1;
    return ppid;
  }

  // Waits for the pid1 process to exit; its status, or -1 after `limit`.
  int WaitExit(Clock::duration limit) {
    int status = -1;
    bool done = Eventually([&] { return waitpid(agent_pid_, &status, WNOHANG) == agent_pid_; }, limit);
    if (!done) return -1;
    agent_pid_ = -1;  // reaped: TearDown must not signal a reused pid
    return status;
  }

  std::string Log() {
    auto r = ReadFile(log_);
    return r.ok() ? *r : "";
  }

  std::string log_;
};

TEST_F(Pid1Test, ServesExecsAndReapsOrphans) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  // The shell exits at once; its background sleep is orphaned and must come
  // to the subreaper, which reaps it when it ends.
  auto r = RunAll(*conn, Sh("sleep 1 & echo $!"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  pid_t orphan = std::atoi(r->out.c_str());
  ASSERT_GT(orphan, 0) << r->out;
  EXPECT_TRUE(Eventually([&] { return ParentOf(orphan) == agent_pid_ || kill(orphan, 0) != 0; }, 5s));
  EXPECT_TRUE(Eventually([&] { return kill(orphan, 0) != 0; }, 10s)) << "the orphan was never reaped";
}

TEST_F(Pid1Test, RestartsTheAgentWhenItDies) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  std::vector<pid_t> before = Children();
  ASSERT_EQ(before.size(), 1u);
  conn.reset();
  ASSERT_EQ(kill(before[0], SIGKILL), 0);
  ASSERT_TRUE(Eventually([&] {
    auto now = Children();
    return now.size() == 1 && now[0] != before[0];
  }));
  auto again = Connect();
  ASSERT_TRUE(again);
  auto r = RunAll(*again, Sh("echo back"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "back\n");
  EXPECT_NE(Log().find("the agent was killed by signal 9"), std::string::npos) << Log();
}

TEST_F(Pid1Test, SigtermStopsEveryDescendantThenExits) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  // One command ends on SIGTERM, the other ignores it and needs SIGKILL.
  auto polite = conn->Exec(Sh("echo $$; exec sleep 100"));
  auto stubborn = conn->Exec(Sh("trap '' TERM; echo $$; exec sleep 100"));
  ASSERT_TRUE(polite.ok() && stubborn.ok());
  auto p1 = (*polite)->Next();
  auto p2 = (*stubborn)->Next();
  ASSERT_TRUE(p1.ok() && p2.ok());
  pid_t a = std::atoi(p1->data.c_str()), b = std::atoi(p2->data.c_str());
  ASSERT_GT(a, 0);
  ASSERT_GT(b, 0);
  auto start = Clock::now();
  ASSERT_EQ(kill(agent_pid_, SIGTERM), 0);
  int status = WaitExit(20s);
  auto took = Clock::now() - start;
  ASSERT_TRUE(WIFEXITED(status)) << status << "\n" << Log();
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(ProcessEnded(a));
  EXPECT_TRUE(ProcessEnded(b));
  // The grace period is 5 s; the stubborn sleep used all of it.
  EXPECT_GE(took, 4500ms);
  EXPECT_NE(Log().find("SIGTERM: stopping every process"), std::string::npos) << Log();
  EXPECT_NE(Log().find("SIGKILL"), std::string::npos) << Log();
}

TEST_F(Pid1Test, SigtermWithOnlyPoliteProcessesIsQuick) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto ch = conn->Exec(Sh("echo $$; exec sleep 100"));
  ASSERT_TRUE(ch.ok());
  auto first = (*ch)->Next();
  ASSERT_TRUE(first.ok());
  auto start = Clock::now();
  ASSERT_EQ(kill(agent_pid_, SIGTERM), 0);
  int status = WaitExit(20s);
  ASSERT_TRUE(WIFEXITED(status)) << Log();
  EXPECT_LT(Clock::now() - start, 3s);
  EXPECT_EQ(Log().find("SIGKILL"), std::string::npos) << Log();
}

}  // namespace
}  // namespace banger::agent_test
