// Published ports end to end (network off, QEMU TCG, the agent image): a
// guest `busybox httpd` on 8080 answers on 127.0.0.1:HOST through `-p`,
// still after `kill -9` of bangerd and the next CLI call, a live `vm port
// add/rm`, a UDP echo published live (two client flows), a taken host port fails the create with one line and
// leaves no VM, and `vm stop` frees the host port. Only 127.0.0.1 is ever contacted.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
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

// A socket listening on 127.0.0.1:port, or -1 when the port is taken. With
// SO_REUSEADDR, as servers bind: the relay's finished connections may sit in
// TIME_WAIT on the port (the guest server closed first), which is not "taken".
int Listen(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
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
  // No half-close: the guest server's own close must reach us (HTTP/1.0).
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

// One datagram to 127.0.0.1:port from `fd`, and the answer ("" if none
// within 3 s).
std::string UdpAsk(int fd, int port, const std::string& msg) {
  sockaddr_in a = Loopback(port);
  (void)::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 3000) <= 0) return "";
  char buf[2048];
  ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// Retries until the echo comes (the first datagrams may arrive before the
// guest server binds: UDP loses them).
bool UdpEchoes(int fd, int port, const std::string& msg, std::chrono::seconds within = 90s) {
  auto until = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < until) {
    if (UdpAsk(fd, port, msg) == "echo:" + msg) return true;
  }
  return false;
}

// `banger ARGS` with stdin from `file`; the exit code.
int BangerWithStdin(BangerHome& h, const std::vector<std::string>& args, const std::string& file) {
  std::vector<std::string> argv{BANGER_BIN, "--home", h.root()};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = ::fork();
  if (pid == 0) {
    int in = ::open(file.c_str(), O_RDONLY);
    if (in < 0) ::_exit(126);
    ::dup2(in, STDIN_FILENO);
    std::vector<char*> cargv;
    for (auto& x : argv) cargv.push_back(x.data());
    cargv.push_back(nullptr);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
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

  // UDP: a guest echo server on 127.0.0.1:5353 published live as /udp;
  // two clients are two flows, each answered on its own address.
  ASSERT_EQ(BangerWithStdin(h_,
                            {"vm", "exec", "-i", "web", "--", "sh", "-c",
                             "cat > /root/udp-echo && chmod 755 /root/udp-echo"},
                            UDP_ECHO_BIN),
            0);
  CliRun us = h_.Banger({"session", "start", "web", "--name", "udp", "--", "/root/udp-echo", "5353"}, 120s);
  ASSERT_EQ(us.code, 0) << us.err;
  const int uport = FreePort();
  CliRun uadd = h_.Banger({"vm", "port", "add", "web", std::to_string(uport) + ":5353/udp"});
  ASSERT_EQ(uadd.code, 0) << uadd.err;
  int c1 = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int c2 = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  EXPECT_TRUE(UdpEchoes(c1, uport, "one")) << "no udp echo on 127.0.0.1:" << uport;
  EXPECT_TRUE(UdpEchoes(c2, uport, "two", 30s));
  EXPECT_EQ(UdpAsk(c1, uport, "again"), "echo:again");
  ::close(c1);
  ::close(c2);
  CliRun ulist = h_.Banger({"vm", "port", "list", "web"});
  EXPECT_NE(ulist.out.find(std::to_string(uport)), std::string::npos) << ulist.out;
  EXPECT_NE(ulist.out.find("udp"), std::string::npos) << ulist.out;

  // vm stop frees the host port at once.
  CliRun stop = h_.Banger({"vm", "stop", "web"}, 120s);
  ASSERT_EQ(stop.code, 0) << stop.err;
  int mine = Listen(port);
  EXPECT_GE(mine, 0) << "host port " << port << " still taken after `vm stop`";
  if (mine >= 0) ::close(mine);
}

}  // namespace
}  // namespace banger::e2e
