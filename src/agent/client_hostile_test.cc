// The host client against a fake, hostile guest on a socketpair: regression
// tests for what the agent_client fuzzer (fuzz/agent_client_fuzzer.cc) found.
#include <sys/socket.h>

#include "agent/client_test_util.h"

namespace banger::agent_test {
namespace {

// A fake guest: answers the HELLO and the first OPEN, then sends `exit` on
// the command's channel.
void FakeGuestExit(int fd, const agent::Exit& exit) {
  agent::FrameDecoder dec;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return;
    dec.Feed(std::string_view(buf, static_cast<size_t>(n)));
    while (auto f = dec.Next()) {
      std::string out;
      if (auto hello = agent::Parse<agent::Hello>(*f)) {
        agent::AppendMessage(&out, 0, agent::HelloAck{.nonce = hello->nonce});
      } else if (agent::Parse<agent::Open>(*f)) {
        agent::AppendMessage(&out, f->channel, agent::OpenOk{.pid = 7});
        agent::AppendMessage(&out, f->channel, exit, agent::kFlagFin);
      }
      if (!out.empty() && ::write(fd, out.data(), out.size()) != static_cast<ssize_t>(out.size())) return;
    }
  }
}

ExitStatus ExitFromGuest(const agent::Exit& exit) {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd host(sv[0]), guest(sv[1]);
  std::thread fake([&] { FakeGuestExit(guest.get(), exit); });
  ExitStatus status;
  {
    auto conn = AgentConn::Handshake(std::move(host), 20s);
    EXPECT_TRUE(conn.ok()) << conn.error().message();
    if (conn.ok()) {
      auto got = RunAll(**conn, Cmd({"true"}));
      EXPECT_TRUE(got.ok()) << got.error().message();
      if (got.ok()) status = got->exit;
    }
  }  // the connection closes: the fake guest's read ends
  fake.join();
  return status;
}

// Found by the fuzzer: an EXIT with code 0x83000000 became a negative shell
// code, and one with a huge signal number made 128 + signo overflow int. A
// guest's exit status is clamped to what a wait status can hold.
TEST(AgentHostileGuestTest, ExitStatusOutOfRangeIsClamped) {
  agent::Exit code;
  code.code = 0x83000000u;
  ExitStatus s = ExitFromGuest(code);
  EXPECT_FALSE(s.signaled);
  EXPECT_EQ(s.code, 255);
  EXPECT_EQ(s.ShellCode(), 255);

  agent::Exit big256;
  big256.code = 256;  // exit(256) would read as success
  EXPECT_EQ(ExitFromGuest(big256).ShellCode(), 255);

  agent::Exit sig;
  sig.signaled = true;
  sig.signo = 0xffffffffu;
  s = ExitFromGuest(sig);
  EXPECT_TRUE(s.signaled);
  EXPECT_EQ(s.signo, 127);
  EXPECT_EQ(s.ShellCode(), 255);

  agent::Exit normal;
  normal.code = 3;
  EXPECT_EQ(ExitFromGuest(normal).ShellCode(), 3);
}

}  // namespace
}  // namespace banger::agent_test
