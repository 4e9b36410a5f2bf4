// Commands as another user (ExecRequest::user, OPEN's user field, and
// `session-start --user`) against the real agent on the host: it resolves
// the name in the host's /etc/passwd here, as it does in the guest's. The
// identity switch needs root; the tests skip without it.
#include <pwd.h>
#include <sys/stat.h>

#include "agent/client_test_util.h"

namespace banger::agent_test {
namespace {

class AgentUserTest : public AgentClientTest {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "running commands as another user needs root";
    AgentClientTest::SetUp();
    conn_ = Connect();
    ASSERT_TRUE(conn_);
  }
  Result<Collected> RunAs(const std::string& user, const std::string& script, bool tty = false) {
    ExecRequest req = Sh(script, tty);
    req.user = user;
    return RunAll(*conn_, req);
  }
  std::unique_ptr<AgentConn> conn_;
};

TEST_F(AgentUserTest, NumericUserAndGroupWithoutEntries) {
  auto r = RunAs("4321:8765", "id -u; id -g; id -G; echo $HOME; pwd");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "4321\n8765\n8765\n/\n/\n") << r->err;
  EXPECT_EQ(r->exit.code, 0);
}

TEST_F(AgentUserTest, NamedUserGetsItsIdsAndHome) {
  const passwd* pw = getpwnam("nobody");
  if (pw == nullptr) GTEST_SKIP() << "this host has no user nobody";
  const std::string home = pw->pw_dir;
  auto r = RunAs("nobody", "id -u; id -g; echo $HOME; pwd");
  ASSERT_TRUE(r.ok()) << r.error().message();
  struct stat st;
  const bool home_exists = stat(home.c_str(), &st) == 0;
  EXPECT_EQ(r->out, std::to_string(pw->pw_uid) + "\n" + std::to_string(pw->pw_gid) + "\n" + home + "\n" +
                        (home_exists ? home : "/") + "\n")
      << r->err;
}

TEST_F(AgentUserTest, RequestEnvAndCwdWinOverTheUsersDefaults) {
  ExecRequest req = Sh("echo $HOME; pwd");
  req.user = "4321";
  req.env = {{"HOME", "/elsewhere"}};
  req.cwd = "/tmp";
  auto r = RunAll(*conn_, req);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "/elsewhere\n/tmp\n");
}

TEST_F(AgentUserTest, RootStaysTheDefault) {
  auto r = RunAll(*conn_, Sh("id -u; echo $HOME"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "0\n/root\n");
}

TEST_F(AgentUserTest, TtyBelongsToTheUser) {
  auto r = RunAs("4321:8765", "stat -c %u $(tty); id -u", /*tty=*/true);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "4321\r\n4321\r\n");
}

TEST_F(AgentUserTest, UnknownNameFailsTheOpenInDockersWords) {
  auto r = RunAs("no-such-user-xyz", "echo never");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(
      r.error().message(),
      "starting sh in the guest: unable to find user no-such-user-xyz: no matching entries in passwd file");
  auto g = RunAs("4321:no-such-group-xyz", "echo never");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(
      g.error().message().find("unable to find group no-such-group-xyz: no matching entries in group file"),
      std::string::npos)
      << g.error().message();
  // The connection carries on.
  auto again = RunAs("4321", "id -u");
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(again->out, "4321\n");
}

TEST_F(AgentUserTest, ControlCharactersAreRefusedOnTheHost) {
  auto r = RunAs("app\nroot", "true");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_NE(r.error().message().find("control character"), std::string::npos) << r.error().message();
}

TEST_F(AgentUserTest, SessionStartRunsAsTheUser) {
  const std::string d = dir_ + "/sess";
  auto r = RunAll(*conn_, Cmd({BANGER_AGENT_BIN, "session-start", d, "--user", "4321:8765", "--", "sh", "-c",
                               "echo $(id -u):$(id -g) $HOME $(pwd)"}));
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->exit.code, 0) << r->out << r->err;
  std::string out;
  ASSERT_TRUE(Eventually([&] {
    auto f = ReadFile(d + "/stdout");
    out = f.ok() ? *f : "";
    return !out.empty();
  }));
  EXPECT_EQ(out, "4321:8765 / /\n");

  const std::string bad = dir_ + "/bad";
  auto u = RunAll(*conn_,
                  Cmd({BANGER_AGENT_BIN, "session-start", bad, "--user", "no-such-user-xyz", "--", "true"}));
  ASSERT_TRUE(u.ok()) << u.error().message();
  EXPECT_EQ(u->exit.code, 1);
  EXPECT_NE(u->out.find("\"stage\": \"user\""), std::string::npos) << u->out;
  EXPECT_NE(u->out.find("unable to find user no-such-user-xyz"), std::string::npos) << u->out;
  EXPECT_FALSE(PathExists(bad)) << "nothing is made for an unknown user";
}

// An agent older than 1.1 would ignore the user and run the command as
// root: the host refuses instead, and sends nothing.
TEST(AgentUserHandshakeTest, OldAgentIsRefusedAUser) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd host(sv[0]), guest(sv[1]);
  std::atomic<int> opens{0};
  std::thread fake([&] {
    agent::FrameDecoder dec;
    char buf[4096];
    for (;;) {
      ssize_t n = read(guest.get(), buf, sizeof(buf));
      if (n <= 0) return;
      dec.Feed(std::string_view(buf, n));
      while (auto f = dec.Next()) {
        if (f->type == static_cast<uint8_t>(agent::MsgType::kOpen)) ++opens;
        auto hello = agent::Parse<agent::Hello>(*f);
        if (!hello) continue;
        std::string out;
        agent::AppendMessage(&out, 0,
                             agent::HelloAck{.nonce = hello->nonce, .minor = 0, .build = "banger-agent old"});
        ASSERT_EQ(write(guest.get(), out.data(), out.size()), static_cast<ssize_t>(out.size()));
      }
    }
  });
  {
    auto conn = AgentConn::Handshake(std::move(host), 20s);
    ASSERT_TRUE(conn.ok()) << conn.error().message();
    ExecRequest req = Cmd({"id"});
    req.user = "app";
    auto r = (*conn)->Exec(req);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind(), ErrorKind::kUnavailable);
    EXPECT_NE(r.error().message().find("banger-agent old"), std::string::npos) << r.error().message();
  }
  shutdown(guest.get(), SHUT_RDWR);
  fake.join();
  EXPECT_EQ(opens.load(), 0);
}

}  // namespace
}  // namespace banger::agent_test
