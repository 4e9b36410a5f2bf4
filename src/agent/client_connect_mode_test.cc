// banger-agent --connect HOST:PORT (what `banger vm ssh` runs in the guest):
// a netcat-like relay between its stdio and a TCP connection, with half-close
// passed on in both directions.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>

#include "agent/client_test_util.h"
#include "base/process.h"

namespace banger::agent_test {
namespace {

// A TCP listener on 127.0.0.1 with an ephemeral port.
UniqueFd ListenTcp(uint16_t* port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (!fd.valid() || bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(fd.get(), 4) != 0 || getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return {};
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// Accepts one connection, waiting at most 20 s (a hang guard).
UniqueFd AcceptWithin(int listen_fd) {
  pollfd p = {listen_fd, POLLIN, 0};
  if (poll(&p, 1, 20000) != 1) return {};
  return UniqueFd(accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(n);
  }
  return true;
}

std::string ReadToEof(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, n);
  }
}

// The agent binary in --connect mode with its stdio on pipes.
struct ConnectProcess {
  pid_t pid = -1;
  UniqueFd in, out, err;  // our ends: its stdin, stdout, stderr

  static ConnectProcess Start(const std::string& address, const char* mode = "--connect") {
    int in[2], out[2], err[2];
    ConnectProcess p;
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return p;
    p.pid = fork();
    if (p.pid == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      dup2(err[1], 2);
      execl(BANGER_AGENT_BIN, BANGER_AGENT_BIN, mode, address.c_str(), nullptr);
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    p.in.Reset(in[1]);
    p.out.Reset(out[0]);
    p.err.Reset(err[0]);
    return p;
  }
  // Its exit code, or -1 if it did not exit normally within 20 s.
  int Wait() {
    if (pid <= 0) return -1;  // never waitpid(-1) or kill(-1)
    for (int i = 0; i < 2000; ++i) {
      int status = 0;
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      std::this_thread::sleep_for(10ms);
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
  }
};

// A TCP listener on 127.0.0.1 (into *listener) and the agent --connect'ed to
// it as host:port. After a failed setup the test's accept fails (no process
// ever connects).
ConnectProcess StartAgainstListener(const std::string& host, UniqueFd* listener) {
  uint16_t port = 0;
  *listener = ListenTcp(&port);
  if (!listener->valid()) return {};
  return ConnectProcess::Start(host + ":" + std::to_string(port));
}

// Exit code 0 and nothing on stderr.
void ExpectCleanExit(ConnectProcess& proc) {
  EXPECT_EQ(proc.Wait(), 0);
  EXPECT_EQ(ReadToEof(proc.err.get()), "");
}

// A process that should wait has not exited after a moment. A negative
// check: a slow machine can only make it pass more easily, never flake.
void ExpectStillRunning(const ConnectProcess& proc, const char* why) {
  std::this_thread::sleep_for(50ms);
  EXPECT_NE(waitpid(proc.pid, nullptr, WNOHANG), proc.pid) << why;
}

TEST(AgentConnectModeTest, CopiesBothWaysAndPassesHalfCloseOn) {
  UniqueFd listener;
  auto proc = StartAgainstListener("127.0.0.1", &listener);
  UniqueFd sock = AcceptWithin(listener.get());
  ASSERT_TRUE(sock.valid());

  // A small exchange first: nothing waits for a full buffer.
  ASSERT_TRUE(WriteAll(proc.in.get(), "ping"));
  char buf[4];
  ASSERT_EQ(recv(sock.get(), buf, 4, MSG_WAITALL), 4);
  EXPECT_EQ(std::string(buf, 4), "ping");
  ASSERT_TRUE(WriteAll(sock.get(), "pong"));
  ASSERT_EQ(read(proc.out.get(), buf, 4), 4);
  EXPECT_EQ(std::string(buf, 4), "pong");

  // Then several MiB both ways at once (more than any buffer on the path).
  std::string up = PseudoRandom(5 * kMiB + 7, 1), down = PseudoRandom(3 * kMiB + 3, 2);
  std::thread stdin_writer([&] {
    EXPECT_TRUE(WriteAll(proc.in.get(), up));
    proc.in.Reset();  // EOF on its stdin
  });
  std::thread sock_writer([&] { EXPECT_TRUE(WriteAll(sock.get(), down)); });
  std::string got_down;
  std::thread stdout_reader([&] { got_down = ReadToEof(proc.out.get()); });
  // EOF on its stdin arrives here as the socket's EOF...
  std::string got_up = ReadToEof(sock.get());
  stdin_writer.join();
  sock_writer.join();
  EXPECT_EQ(got_up.size(), up.size());
  EXPECT_TRUE(got_up == up);
  // ...while the other direction still works.
  ASSERT_TRUE(WriteAll(sock.get(), "after half-close"));
  ExpectStillRunning(proc, "exited with a direction still open");
  ASSERT_EQ(shutdown(sock.get(), SHUT_WR), 0);
  stdout_reader.join();  // the socket's EOF closes its stdout
  EXPECT_EQ(got_down.size(), down.size() + 16);
  EXPECT_TRUE(got_down == down + "after half-close");
  ExpectCleanExit(proc);
}

TEST(AgentConnectModeTest, PeerClosingFirstEndsItOnceStdinCloses) {
  UniqueFd listener;
  auto proc = StartAgainstListener("localhost", &listener);
  UniqueFd sock = AcceptWithin(listener.get());
  ASSERT_TRUE(sock.valid());
  ASSERT_TRUE(WriteAll(sock.get(), "banner\n"));
  sock.Reset();  // the server hangs up (both ways)
  EXPECT_EQ(ReadToEof(proc.out.get()), "banner\n");
  // Its stdin is still open, so one direction is: it waits.
  ExpectStillRunning(proc, "exited with its stdin still open");
  // Input now has nowhere to go: once the socket refuses it, the process
  // ends cleanly (like netcat) rather than hanging on.
  auto old = signal(SIGPIPE, SIG_IGN);
  // Input goes on until the process has gone (EPIPE): the first send may
  // still be taken, only a later one meets the peer's reset.
  for (auto deadline = Clock::now() + 20s;
       Clock::now() < deadline && WriteAll(proc.in.get(), "late input\n");) {
    std::this_thread::sleep_for(10ms);
  }
  signal(SIGPIPE, old);
  ExpectCleanExit(proc);
}

TEST(AgentConnectModeTest, StdinClosedRightAwayStillGetsTheAnswer) {
  // `echo cmd | banger-agent --connect`: the half-close reaches the server
  // first, its answer still comes back.
  UniqueFd listener;
  auto proc = StartAgainstListener("127.0.0.1", &listener);
  ASSERT_TRUE(WriteAll(proc.in.get(), "question"));
  proc.in.Reset();
  UniqueFd sock = AcceptWithin(listener.get());
  ASSERT_TRUE(sock.valid());
  EXPECT_EQ(ReadToEof(sock.get()), "question");
  ASSERT_TRUE(WriteAll(sock.get(), "answer"));
  sock.Reset();
  EXPECT_EQ(ReadToEof(proc.out.get()), "answer");
  EXPECT_EQ(proc.Wait(), 0);
}

TEST(AgentConnectModeTest, RefusedConnectionExits1WithOneLine) {
  uint16_t port = 0;
  {
    UniqueFd listener = ListenTcp(&port);  // closed again: the port refuses
    ASSERT_TRUE(listener.valid());
  }
  std::string address = "127.0.0.1:" + std::to_string(port);
  auto r = RunCommand({BANGER_AGENT_BIN, "--connect", address}, 10s);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_EQ(r->out, "");
  EXPECT_EQ(std::count(r->err.begin(), r->err.end(), '\n'), 1) << r->err;
  EXPECT_NE(r->err.find(address), std::string::npos) << r->err;
  EXPECT_NE(r->err.find("Connection refused"), std::string::npos) << r->err;

  auto bad = RunCommand({BANGER_AGENT_BIN, "--connect", "no-port"}, 10s);
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->exit_code, 2);
  EXPECT_NE(bad->err.find("HOST:PORT"), std::string::npos) << bad->err;
}

// What `banger vm ssh` does: the agent runs `banger-agent --connect` as an
// exec, and the exec's stdin/stdout carry the TCP stream.
// --connect-udp: framed datagrams on stdio to and from a UDP port on the
// loopback; a datagram nobody receives yet is lost, not fatal.
TEST(AgentConnectModeTest, UdpCarriesFramedDatagramsBothWays) {
  UniqueFd server(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(server.get(), reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(getsockname(server.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto proc = ConnectProcess::Start("127.0.0.1:" + std::to_string(ntohs(addr.sin_port)), "--connect-udp");
  ASSERT_GT(proc.pid, 0);
  auto frame = [](const std::string& d) {
    return std::string{static_cast<char>(d.size() >> 8), static_cast<char>(d.size() & 0xff)} + d;
  };
  // Two datagrams in one write, the second split across two writes.
  std::string two = frame("ping") + frame(std::string(3000, 'q'));
  ASSERT_TRUE(WriteAll(proc.in.get(), two.substr(0, 100)));
  ASSERT_TRUE(WriteAll(proc.in.get(), two.substr(100)));
  char buf[4096];
  sockaddr_in peer = {};
  socklen_t plen = sizeof(peer);
  pollfd p = {server.get(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 20000), 1);
  ssize_t n = recvfrom(server.get(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&peer), &plen);
  EXPECT_EQ(std::string(buf, n > 0 ? n : 0), "ping");
  ASSERT_EQ(poll(&p, 1, 20000), 1);
  n = recvfrom(server.get(), buf, sizeof(buf), 0, nullptr, nullptr);
  EXPECT_EQ(n, 3000);
  // The answer comes back framed on stdout.
  ASSERT_EQ(sendto(server.get(), "pong!", 5, 0, reinterpret_cast<sockaddr*>(&peer), plen), 5);
  std::string got;
  while (got.size() < 7) {
    pollfd q = {proc.out.get(), POLLIN, 0};
    ASSERT_EQ(poll(&q, 1, 20000), 1);
    ssize_t r = read(proc.out.get(), buf, sizeof(buf));
    ASSERT_GT(r, 0);
    got.append(buf, r);
  }
  EXPECT_EQ(got, frame("pong!"));
  proc.in.Reset();  // the host ends the flow
  ExpectCleanExit(proc);
}

TEST(AgentConnectModeTest, UdpRefusesANonLoopbackAddress) {
  auto proc = ConnectProcess::Start("nonsense", "--connect-udp");
  EXPECT_EQ(proc.Wait(), 2);
  EXPECT_NE(ReadToEof(proc.err.get()).find("expected 127.0.0.1:PORT"), std::string::npos);
}

TEST_F(AgentClientTest, ConnectModeThroughAnExec) {
  uint16_t port = 0;
  UniqueFd listener = ListenTcp(&port);
  ASSERT_TRUE(listener.valid());
  std::string up = PseudoRandom(2 * kMiB + 5, 3);
  std::string received;
  // The server reads everything until the client's half-close, then answers
  // with its size and hangs up.
  std::thread server([&] {
    UniqueFd sock = AcceptWithin(listener.get());
    if (!sock.valid()) return;
    WriteAll(sock.get(), "hello\n");
    received = ReadToEof(sock.get());
    WriteAll(sock.get(), "got " + std::to_string(received.size()) + "\n");
  });
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto r = FeedAndDrain(*conn, Cmd({BANGER_AGENT_BIN, "--connect", "127.0.0.1:" + std::to_string(port)}), up,
                        32 * 1024);
  server.join();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->exit.code, 0) << r->err;
  EXPECT_EQ(r->out, "hello\ngot " + std::to_string(up.size()) + "\n");
  EXPECT_EQ(r->err, "");
  EXPECT_TRUE(received == up);
}

// The guest's peer answers and hangs up while the host still holds stdin
// open: the host sees the answer, then kStdoutEof (no EXIT yet, the host may
// still send), then EXIT once it closes stdin. Published ports rely on it.
TEST_F(AgentClientTest, PeerCloseSurfacesAsStdoutEofBeforeExit) {
  uint16_t port = 0;
  UniqueFd listener = ListenTcp(&port);
  ASSERT_TRUE(listener.valid());
  std::thread server([&] {
    UniqueFd sock = AcceptWithin(listener.get());
    if (sock.valid()) WriteAll(sock.get(), "bye\n");
  });
  auto conn = Connect();
  ASSERT_TRUE(conn);
  auto ch = conn->Exec(Cmd({BANGER_AGENT_BIN, "--connect", "127.0.0.1:" + std::to_string(port)}));
  ASSERT_TRUE(ch.ok()) << ch.error().message();
  std::string out;
  bool eof = false;
  auto deadline = Clock::now() + 20s;
  while (!eof) {
    auto ev = (*ch)->NextUntil(deadline);
    ASSERT_TRUE(ev.ok()) << ev.error().message();
    ASSERT_NE(ev->kind, ExecEvent::kExit) << "EXIT before stdout's EOF";
    if (ev->kind == ExecEvent::kStdout) out += ev->data;
    if (ev->kind == ExecEvent::kStdoutEof) eof = true;
  }
  server.join();
  EXPECT_EQ(out, "bye\n");
  ASSERT_TRUE((*ch)->CloseStdin().ok());
  for (;;) {
    auto ev = (*ch)->NextUntil(deadline);
    ASSERT_TRUE(ev.ok()) << ev.error().message();
    EXPECT_NE(ev->kind, ExecEvent::kStdoutEof) << "a second stdout EOF";
    if (ev->kind == ExecEvent::kExit) {
      EXPECT_EQ(ev->exit.code, 0);
      break;
    }
  }
}

}  // namespace
}  // namespace banger::agent_test
