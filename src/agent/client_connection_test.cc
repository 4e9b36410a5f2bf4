// The connection itself: handshake and version negotiation, transports
// (Unix socket, Firecracker's hybrid vsock), malformed input from a raw peer,
// and what callers see when the connection or the agent goes away.
#include <sys/un.h>

#include <cstring>

#include "agent/client_test_util.h"

namespace banger::agent_test {
namespace {

// `sleep 100` as an exec, once its shell has reported its pid.
struct Sleeper {
  std::unique_ptr<ExecChannel> channel;
  pid_t pid = -1;
};
Result<Sleeper> StartSleeper(AgentConn& conn) {
  BANGER_ASSIGN_OR_RETURN(auto ch, conn.Exec(Sh("echo $$; exec sleep 100")));
  BANGER_ASSIGN_OR_RETURN(ExecEvent first, ch->Next());
  pid_t pid = std::atoi(first.data.c_str());
  if (pid <= 0) return Error::Internal("no pid from the sleeper: " + first.data);
  return Sleeper{std::move(ch), pid};
}

TEST_F(AgentClientTest, VersionMismatchNamesBothVersions) {
  UniqueFd fd = RawConnect();
  ASSERT_TRUE(fd.valid());
  std::string hello;
  agent::AppendMessage(&hello, 0, agent::Hello{.nonce = 77, .major = 2, .minor = 5});
  RawSend(fd.get(), hello);
  agent::FrameDecoder dec;
  auto f = RawReadUntil(fd.get(), dec, agent::MsgType::kGoAway);
  ASSERT_TRUE(f);
  auto bye = agent::Parse<agent::GoAway>(*f);
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->nonce, 77u);
  EXPECT_EQ(bye->major, 1);
  EXPECT_NE(bye->reason.find("2.5"), std::string::npos) << bye->reason;
  EXPECT_NE(bye->reason.find("1." + std::to_string(agent::kProtocolMinor)), std::string::npos) << bye->reason;

  // The same connection can still start over with a HELLO it understands.
  hello.clear();
  agent::AppendMessage(&hello, 0, agent::Hello{.nonce = 78});
  RawSend(fd.get(), hello);
  auto ack = RawReadUntil(fd.get(), dec, agent::MsgType::kHelloAck);
  ASSERT_TRUE(ack);
  EXPECT_EQ(agent::Parse<agent::HelloAck>(*ack)->nonce, 78u);
}

TEST(AgentHandshakeTest, HostErrorNamesBothVersions) {
  // A fake agent of a future major version answers with GOAWAY.
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd host(sv[0]), guest(sv[1]);
  std::thread fake([&] {
    agent::FrameDecoder dec;
    char buf[4096];
    for (;;) {
      ssize_t n = read(guest.get(), buf, sizeof(buf));
      if (n <= 0) return;
      dec.Feed(std::string_view(buf, n));
      if (auto f = dec.Next()) {
        auto hello = agent::Parse<agent::Hello>(*f);
        std::string out = "stale bytes first";
        agent::AppendMessage(
            &out, 0, agent::GoAway{.nonce = hello->nonce, .major = 2, .minor = 1, .reason = "too old"});
        ASSERT_EQ(write(guest.get(), out.data(), out.size()), static_cast<ssize_t>(out.size()));
        return;
      }
    }
  });
  auto conn = AgentConn::Handshake(std::move(host), 20s);
  fake.join();
  ASSERT_FALSE(conn.ok());
  EXPECT_NE(conn.error().message().find("2.1"), std::string::npos) << conn.error().message();
  EXPECT_NE(conn.error().message().find("1." + std::to_string(agent::kProtocolMinor)), std::string::npos)
      << conn.error().message();
}

TEST(AgentHandshakeTest, TimesOutWithoutAnAgent) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd peer(sv[1]);
  auto conn = AgentConn::Handshake(UniqueFd(sv[0]), 300ms);
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.error().kind(), ErrorKind::kTimeout);
}

// A stand-in for Firecracker's hybrid-vsock socket: the first connection is
// closed as if the guest were not listening yet, the second is accepted with
// "OK <port>\n" immediately followed by the agent's first bytes.
TEST(AgentConnectTest, VsockRetriesUntilTheGuestListensAndKeepsPayloadBytes) {
  char tmpl[] = "/tmp/banger-vsock-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl, uds = dir + "/v.sock";
  UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, uds.c_str(), uds.size() + 1);
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener.get(), 4), 0);
  std::string request;
  std::thread fc([&] {
    for (int attempt = 0; attempt < 2; ++attempt) {
      UniqueFd conn(accept(listener.get(), nullptr, nullptr));
      std::string line;
      char ch;
      while (read(conn.get(), &ch, 1) == 1 && ch != '\n') line.push_back(ch);
      request = line;
      if (attempt == 1) {
        std::string answer = "OK 1073741824\nMAgent bytes";
        ASSERT_EQ(write(conn.get(), answer.data(), answer.size()), static_cast<ssize_t>(answer.size()));
        // Like the guest: stay connected until the host hangs up.
        while (read(conn.get(), &ch, 1) > 0) {
        }
      }
    }
  });
  auto fd = ConnectAgentVsock(uds, kAgentVsockPort, 20s);
  ASSERT_TRUE(fd.ok()) << fd.error().message();
  EXPECT_EQ(request, "CONNECT 1024");
  std::string rest(64, '\0');
  ssize_t n = read(fd->get(), rest.data(), rest.size());
  ASSERT_GT(n, 0);
  EXPECT_EQ(rest.substr(0, n), "MAgent bytes");
  fd->Reset();
  fc.join();
  (void)RemoveAll(dir);
}

TEST(AgentConnectTest, TimesOutWhenNothingListens) {
  auto start = Clock::now();
  auto fd = ConnectAgentUnix("/tmp/banger-no-such-agent.sock", 300ms);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.error().kind(), ErrorKind::kTimeout);
  // Bounded by the 300 ms deadline, not by a retry loop that ignores it (the
  // bound is loose: a loaded machine is slow, not wrong).
  EXPECT_LT(Clock::now() - start, 10s);
  auto v = ConnectAgentVsock("/tmp/banger-no-such-agent.sock", 1024, 300ms);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().kind(), ErrorKind::kTimeout);
}

TEST_F(AgentClientTest, UnknownTypeGetsAnErrorNotADisconnect) {
  UniqueFd fd = RawConnect();
  ASSERT_TRUE(fd.valid());
  agent::FrameDecoder dec;
  std::string out = RawHello();
  agent::AppendFrame(&out, static_cast<agent::MsgType>(0x7E), 0, 0, "whatever");
  agent::AppendMessage(&out, 0, agent::Ping{.id = 5});
  RawSend(fd.get(), out);
  auto err = RawReadUntil(fd.get(), dec, agent::MsgType::kError);
  ASSERT_TRUE(err);
  auto e = agent::Parse<agent::ErrorMsg>(*err);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, static_cast<uint32_t>(agent::ErrorCode::kUnsupported));
  auto pong = RawReadUntil(fd.get(), dec, agent::MsgType::kPong);
  ASSERT_TRUE(pong);
  EXPECT_EQ(agent::Parse<agent::Pong>(*pong)->id, 5u);
}

TEST_F(AgentClientTest, GarbageEndsTheSessionButNotTheAgent) {
  UniqueFd fd = RawConnect();
  ASSERT_TRUE(fd.valid());
  agent::FrameDecoder dec;
  std::string out = RawHello();
  RawSend(fd.get(), out);
  ASSERT_TRUE(RawReadUntil(fd.get(), dec, agent::MsgType::kHelloAck));
  // Garbage, a frame with a bad CRC, and an OPEN the agent must ignore
  // until a new HELLO.
  std::string bad;
  agent::AppendMessage(&bad, 1, agent::Window{.delta = 1});
  bad[13] ^= 1;
  out = "garbage!" + bad;
  agent::Open open;
  open.argv = {"true"};
  agent::AppendMessage(&out, 3, open);
  RawSend(fd.get(), out);
  auto bye = RawReadUntil(fd.get(), dec, agent::MsgType::kGoAway);
  ASSERT_TRUE(bye);
  out.clear();
  agent::AppendMessage(&out, 0, agent::Hello{.nonce = 2});
  agent::AppendMessage(&out, 0, agent::Ping{.id = 9});
  RawSend(fd.get(), out);
  auto ack = RawReadUntil(fd.get(), dec, agent::MsgType::kHelloAck);
  ASSERT_TRUE(ack);
  EXPECT_EQ(agent::Parse<agent::HelloAck>(*ack)->nonce, 2u);
  auto pong = RawRead(fd.get(), dec);
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->type, static_cast<uint8_t>(agent::MsgType::kPong));
  // And the agent still serves the ordinary client.
  auto conn = Connect();
  ASSERT_TRUE(conn);
  EXPECT_TRUE(conn->Ping(2s).ok());
}

TEST_F(AgentClientTest, SequentialConnections) {
  for (int i = 0; i < 2; ++i) {
    auto conn = Connect();
    ASSERT_TRUE(conn);
    auto r = RunAll(*conn, Sh("echo round " + std::to_string(i)));
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->out, "round " + std::to_string(i) + "\n");
  }
}

TEST_F(AgentClientTest, DroppedConnectionKillsItsCommandsAndFailsCallers) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto sleeper = StartSleeper(*conn);
  ASSERT_TRUE(sleeper.ok()) << sleeper.error().message();
  auto& ch = sleeper->channel;
  pid_t pid = sleeper->pid;
  EXPECT_EQ(kill(pid, 0), 0);

  // A blocked Next() wakes with the connection's loss. The pause only makes
  // it likely that Next() blocks first; in either order it must fail.
  std::thread closer([&] {
    std::this_thread::sleep_for(100ms);
    conn.reset();
  });
  auto next = ch->Next();
  closer.join();
  ASSERT_FALSE(next.ok());
  EXPECT_NE(next.error().message().find("agent connection lost"), std::string::npos)
      << next.error().message();
  EXPECT_FALSE(ch->WriteStdin("x").ok());

  EXPECT_TRUE(Eventually([&] { return kill(pid, 0) != 0; })) << "the command still runs";
}

TEST_F(AgentClientTest, AgentDeathFailsBlockedCalls) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto ch = conn->Exec(Sh("exec sleep 100"));
  ASSERT_TRUE(ch.ok());
  // As above, the pause only makes a blocked Next() likely.
  std::thread killer([&] {
    std::this_thread::sleep_for(100ms);
    kill(agent_pid_, SIGKILL);
  });
  auto next = (*ch)->Next();
  killer.join();
  ASSERT_FALSE(next.ok());
  EXPECT_NE(next.error().message().find("agent connection lost"), std::string::npos);
  EXPECT_FALSE(conn->Ping(1s).ok());
  EXPECT_FALSE(conn->Exec(Sh("true")).ok());
}

TEST_F(AgentClientTest, ClosingAChannelEarlyKillsTheCommand) {
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto sleeper = StartSleeper(*conn);
  ASSERT_TRUE(sleeper.ok()) << sleeper.error().message();
  const pid_t pid = sleeper->pid;
  sleeper->channel.reset();  // CLOSE while the command runs
  EXPECT_TRUE(Eventually([&] { return kill(pid, 0) != 0; })) << "the command still runs";
  EXPECT_TRUE(conn->Ping(2s).ok());
}

}  // namespace
}  // namespace banger::agent_test
