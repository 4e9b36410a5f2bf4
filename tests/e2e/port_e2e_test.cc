// Published ports end to end (network off, QEMU TCG, the agent image): a
// guest `busybox httpd` on 8080 answers on 127.0.0.1:HOST through `-p`,
// still after `kill -9` of bangerd and the next CLI call, a live `vm port
// add/rm`, a taken host port fails the create with one line and leaves no
// VM, and `vm stop` frees the host port. Only 127.0.0.1 is ever contacted.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent_guest_fixture.h"

namespace banger::e2e {
namespace {

using namespace std::chrono_literals;

sockaddr_in Loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// A loopback port nobody listens on (bound and released).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = Loopback(0);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A socket listening on 127.0.0.1:port, or -1 when the port is taken.
int Listen(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = Loopback(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 1) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// GET / from 127.0.0.1:port; the whole answer ("" on any failure). Bounded.
std::string HttpGet(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = Loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "";
  }
  const std::string req = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
  (void)!::write(fd, req.data(), req.size());
  // Half-close: the server's close reaches us only after our EOF (ADR 0020, known gap).
  ::shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  auto until = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// Retries HttpGet until the page shows (the relay opens a guest command per connection).
bool Answers(int port, std::chrono::seconds within = 120s) {
  auto until = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < until) {
    if (HttpGet(port).find("hello-port") != std::string::npos) return true;
    std::this_thread::sleep_for(500ms);
  }
  return false;
}

class PortE2E : public AgentGuestE2E {};

TEST_F(PortE2E, PublishedPortRelaysSurvivesDaemonKillAndIsFreedAtStop) {
  const int port = FreePort();
  CliRun c = h_.Banger({"vm", "create", "--name", "web", "-p", std::to_string(port) + ":8080"}, 300s);
  ASSERT_EQ(c.code, 0) << c.err;
  Exec("web", "mkdir -p /root/www && echo hello-port > /root/www/index.html");
  CliRun s = h_.Banger({"session", "start", "web", "--name", "httpd", "--", "busybox", "httpd", "-f", "-p",
                        "8080", "-h", "/root/www"},
                       120s);
  ASSERT_EQ(s.code, 0) << s.err;
  ASSERT_TRUE(Answers(port)) << "no answer on 127.0.0.1:" << port;

  CliRun list = h_.Banger({"vm", "list"});
  EXPECT_NE(list.out.find("127.0.0.1:" + std::to_string(port) + "->8080/tcp"), std::string::npos) << list.out;

  // The daemon dies hard: its listener goes with it; the next CLI call
  // starts it again and its reconcile listens again.
  pid_t pid = h_.DaemonPid();
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  CliRun after = h_.Banger({"vm", "port", "list", "web"});
  ASSERT_EQ(after.code, 0) << after.err;
  EXPECT_NE(after.out.find("listening"), std::string::npos) << after.out;
  EXPECT_TRUE(Answers(port, 60s)) << "no answer after the daemon restarted";

  // Live add and remove.
  const int extra = FreePort();
  CliRun add = h_.Banger({"vm", "port", "add", "web", "127.0.0.1:" + std::to_string(extra) + ":8080"});
  ASSERT_EQ(add.code, 0) << add.err;
  EXPECT_TRUE(Answers(extra, 60s));
  CliRun rm = h_.Banger({"vm", "port", "rm", "web", std::to_string(extra)});
  ASSERT_EQ(rm.code, 0) << rm.err;
  int probe = Listen(extra);
  EXPECT_GE(probe, 0) << "host port " << extra << " still taken after `vm port rm`";
  if (probe >= 0) ::close(probe);

  // A taken host port: one line, and no VM made.
  ExpectRefused({"vm", "create", "--name", "clash", "-p", std::to_string(port) + ":80"},
                "is already published");
  const int held_port = FreePort();
  int held = Listen(held_port);
  ASSERT_GE(held, 0);
  ExpectRefused({"vm", "create", "--name", "clash", "-p", std::to_string(held_port) + ":80"}, "is in use");
  ::close(held);
  CliRun show = h_.Banger({"vm", "show", "clash"});
  EXPECT_NE(show.code, 0) << "a create that failed on its port left vm clash";
  ExpectRefused({"vm", "create", "--name", "bad", "-p", "70000:80"}, "1 to 65535");
  ExpectRefused({"vm", "create", "--name", "bad", "-p", "53:53/udp"}, "udp is not supported");

  // vm stop frees the host port at once.
  CliRun stop = h_.Banger({"vm", "stop", "web"}, 120s);
  ASSERT_EQ(stop.code, 0) << stop.err;
  int mine = Listen(port);
  EXPECT_GE(mine, 0) << "host port " << port << " still taken after `vm stop`";
  if (mine >= 0) ::close(mine);
}

}  // namespace
}  // namespace banger::e2e
