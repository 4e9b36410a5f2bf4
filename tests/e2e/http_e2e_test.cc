// The daemon's HTTP edge against hostile clients (docs/security.md, "HTTP
// API and web UI"): the real banger + bangerd, raw sockets for the clients.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "e2e_util.h"

namespace banger::e2e {
namespace {

using namespace std::chrono_literals;

constexpr const char* kTcgConfig =
    "backend = \"qemu\"\nqemu_accel = \"tcg\"\nstop_timeout = \"3s\"\ndefault_image_name = \"base\"\n";

int ConnectTcp(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{30, 0};  // a wedged daemon fails the test instead of hanging it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

int ConnectUnix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

std::string ReadAll(int fd) {
  std::string got;
  char buf[8192];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
  return got;
}

// Sends `raw` on `fd`, reads to the end, closes.
std::string Exchange(int fd, const std::string& raw) {
  if (fd < 0) return "";
  std::string got;
  if (::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(raw.size())) got = ReadAll(fd);
  ::close(fd);
  return got;
}

std::string Request(const std::string& method, const std::string& path, const std::string& headers = "",
                    const std::string& body = "") {
  return method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + headers + "\r\n" + body;
}

// The web port from `daemon status`.
int WebPort(BangerHome& h) {
  h.Banger({"vm", "list"});  // starts the daemon (status does not)
  std::string url = h.BangerJson({"daemon", "status"}).value("web_url", "");
  if (url.rfind("http://127.0.0.1:", 0) != 0) return -1;
  return std::stoi(url.substr(strlen("http://127.0.0.1:")));
}

// Whether `pid` has exited (a zombie counts: nobody may reap it here).
bool Exited(pid_t pid) {
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return true;
  auto close = stat->rfind(')');
  return close == std::string::npos || close + 2 >= stat->size() || (*stat)[close + 2] == 'Z';
}

void Reap(pid_t pid) {
  if (pid <= 0) return;
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

TEST(HttpE2E, BadBytesInAPathDoNotKillTheDaemon) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(std::string(kTcgConfig) + "web_listen_addr = \"127.0.0.1:0\"\n"));
  int port = WebPort(h);
  ASSERT_GT(port, 0);
  pid_t pid = h.DaemonPid();
  ASSERT_GT(pid, 0);
  // The seed's bangerd died here: "terminate called after throwing ... invalid UTF-8".
  std::string web = Exchange(ConnectTcp(port), Request("GET", "/%ff"));
  EXPECT_EQ(web.rfind("HTTP/1.1 401", 0), 0u) << web;
  Json login = h.BangerJson({"web", "open"});
  std::string url = login.value("url", "");
  std::string got = Exchange(ConnectTcp(port), Request("GET", url.substr(url.find("/login"))));
  auto at = got.find("banger_session=");
  ASSERT_NE(at, std::string::npos) << got;
  std::string cookie = got.substr(at, got.find(';', at) - at);
  web = Exchange(ConnectTcp(port), Request("GET", "/%ff", "Cookie: " + cookie + "\r\n"));
  EXPECT_EQ(web.rfind("HTTP/1.1 404", 0), 0u) << web;
  web = Exchange(ConnectTcp(port), Request("GET", "/v1/vms/%ff%fe", "Cookie: " + cookie + "\r\n"));
  EXPECT_EQ(web.rfind("HTTP/1.1 404", 0), 0u) << web;
  std::string sock = Exchange(ConnectUnix(h.root() + "/bangerd.sock"), Request("GET", "/v1/images/%c3%28"));
  EXPECT_EQ(sock.rfind("HTTP/1.1 404", 0), 0u) << sock;
  sock = Exchange(ConnectUnix(h.root() + "/bangerd.sock"), Request("POST", "/v1//daemon/stop"));
  EXPECT_EQ(sock.rfind("HTTP/1.1 400", 0), 0u) << sock;
  EXPECT_EQ(h.DaemonPid(), pid) << "bangerd restarted: it died on one of those";
  EXPECT_EQ(h.Banger({"daemon", "status"}).code, 0);
}

TEST(HttpE2E, WebUiNeedsALoginFromTheSocketAndNeverReachesHostFiles) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(std::string(kTcgConfig) + "web_listen_addr = \"127.0.0.1:0\"\n"));
  int port = WebPort(h);
  ASSERT_GT(port, 0);
  const std::string ui = "X-Banger-UI: 1\r\nContent-Type: application/json\r\n";
  // Any local user can connect; without a login nothing is served, the page included.
  for (const char* path : {"/", "/v1/vms", "/v1/ping"}) {
    std::string r = Exchange(ConnectTcp(port), Request("GET", path));
    EXPECT_EQ(r.rfind("HTTP/1.1 401", 0), 0u) << path << ": " << r;
  }
  std::string r = Exchange(ConnectTcp(port), Request("POST", "/v1/images", ui,
                                                     R"({"name":"x","kernel_path":"/etc/shadow",)"
                                                     R"("rootfs_path":"/etc/shadow"})"));
  EXPECT_EQ(r.rfind("HTTP/1.1 401", 0), 0u) << r;

  // The login: a URL from the socket, spent once for an HttpOnly cookie.
  CliRun open = h.Banger({"web", "open"});
  ASSERT_EQ(open.code, 0) << open.err;
  std::string url = open.out.substr(0, open.out.find('\n'));
  ASSERT_NE(url.find("/login?token="), std::string::npos) << url;
  std::string login_path = url.substr(url.find("/login"));
  r = Exchange(ConnectTcp(port), Request("GET", login_path));
  ASSERT_EQ(r.rfind("HTTP/1.1 303", 0), 0u) << r;
  EXPECT_NE(r.find("HttpOnly"), std::string::npos) << r;
  EXPECT_NE(r.find("SameSite=Strict"), std::string::npos) << r;
  auto at = r.find("banger_session=");
  ASSERT_NE(at, std::string::npos);
  std::string cookie = "Cookie: " + r.substr(at, r.find(';', at) - at) + "\r\n";
  EXPECT_EQ(Exchange(ConnectTcp(port), Request("GET", login_path)).rfind("HTTP/1.1 401", 0), 0u)
      << "one time";
  r = Exchange(ConnectTcp(port), Request("GET", "/", cookie));
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r.substr(0, 300);
  EXPECT_NE(r.find("<title>banger</title>"), std::string::npos);

  // Logged in: host files and daemon control stay out of reach, however spelled.
  r = Exchange(ConnectTcp(port),
               Request("POST", "/v1/images", cookie + ui,
                       R"({"name":"x","kernel_path":"/etc/shadow","rootfs_path":"/etc/shadow"})"));
  EXPECT_EQ(r.rfind("HTTP/1.1 403", 0), 0u) << r;
  for (const char* path : {"/v1/daemon/stop", "/v1/%64aemon/stop"}) {
    r = Exchange(ConnectTcp(port), Request("POST", path, cookie + ui, "{}"));
    EXPECT_EQ(r.rfind("HTTP/1.1 403", 0), 0u) << path << ": " << r;
  }
  for (const char* path : {"/v1//daemon/stop", "/v1/vms/../daemon/stop"}) {
    r = Exchange(ConnectTcp(port), Request("POST", path, cookie + ui, "{}"));
    EXPECT_EQ(r.rfind("HTTP/1.1 400", 0), 0u) << path << ": " << r;
  }
  EXPECT_EQ(h.Banger({"daemon", "status"}).code, 0) << "the daemon still runs";
  Json images = h.BangerJson({"image", "list"});
  EXPECT_TRUE(images.empty()) << images.dump();

  // Revoked: the cookie is worth nothing.
  EXPECT_EQ(h.Banger({"web", "revoke"}).code, 0);
  r = Exchange(ConnectTcp(port), Request("GET", "/v1/vms", cookie));
  EXPECT_EQ(r.rfind("HTTP/1.1 401", 0), 0u) << r;
}

TEST(HttpE2E, ConnectionCapAndSlowClients) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(std::string(kTcgConfig) +
                                        "web_listen_addr = \"127.0.0.1:0\"\nweb_max_connections = 2\n"
                                        "http_header_timeout = \"1s\"\n"));
  int port = WebPort(h);
  ASSERT_GT(port, 0);
  // Two slow clients hold the web listener's two slots; a third is told 503 at once.
  int a = ConnectTcp(port), b = ConnectTcp(port);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_EQ(::send(a, "GET / HTTP/1.1\r\nHo", 18, MSG_NOSIGNAL), 18);
  std::this_thread::sleep_for(200ms);
  std::string r = Exchange(ConnectTcp(port), Request("GET", "/"));
  EXPECT_EQ(r.rfind("HTTP/1.1 503", 0), 0u) << r;
  // The half-sent header is dropped after http_header_timeout (well within our 30 s receive timeout).
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ReadAll(a), "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
  EXPECT_EQ(ReadAll(b), "");  // and the silent one
  ::close(a);
  ::close(b);
  // The client sees the close a moment before the serving thread gives its
  // slot back, so the first try may still be turned away: allow that moment.
  EXPECT_TRUE(WaitUntil(
      [&] {
        r = Exchange(ConnectTcp(port), Request("GET", "/"));
        return r.rfind("HTTP/1.1 503", 0) != 0;
      },
      5s));
  EXPECT_EQ(r.rfind("HTTP/1.1 401", 0), 0u) << "served again: " << r;
  // The API socket has its own slots: the CLI was never affected.
  EXPECT_EQ(h.Banger({"daemon", "status"}).code, 0);
}

TEST(HttpE2E, DaemonStopEndsFollowersAndIdleClients) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(kTcgConfig));
  ASSERT_EQ(h.Banger({"vm", "list"}).code, 0);
  // No guest needed: an events follower, an idle keep-alive client and one
  // stuck half-way through a request head, all open when the daemon stops.
  pid_t events = h.Spawn({"events", "--follow"}, h.root() + "/events.out");
  int idle = ConnectUnix(h.root() + "/bangerd.sock");
  int half = ConnectUnix(h.root() + "/bangerd.sock");
  if (half >= 0) (void)::send(half, "GET /v1/vms HTTP/1.1\r\nHo", 25, MSG_NOSIGNAL);
  std::this_thread::sleep_for(1s);
  pid_t daemon = h.DaemonPid();
  ASSERT_GT(daemon, 0);
  auto start = std::chrono::steady_clock::now();
  CliRun stop = h.Banger({"daemon", "stop"}, 60s);
  bool gone = WaitUntil([&] { return Exited(daemon); }, 30s);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(stop.code, 0) << stop.err;
  EXPECT_TRUE(gone) << "bangerd still runs 30 s after daemon stop";
  EXPECT_LT(took, 10s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  for (int fd : {idle, half}) {
    if (fd >= 0) ::close(fd);
  }
  Reap(events);
}

TEST(HttpE2E, DaemonStopEndsOpenStreams) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(kTcgConfig));
  ASSERT_NO_FATAL_FAILURE(h.BuildAgentImage("base"));  // the exec stream needs the agent
  CliRun c = h.Banger({"vm", "create", "--name", "s1", "--image", "base", "--vcpus", "1", "--memory", "512"});
  ASSERT_EQ(c.code, 0) << c.err;
  // An exec stream (upgraded connection), an events follower, a console follower,
  // and an idle connection, all open when the daemon is told to stop.
  std::string exec_out = h.root() + "/exec.out";
  pid_t exec = h.Spawn({"vm", "exec", "s1", "--", "sh", "-c", "echo started; exec sleep 300"}, exec_out);
  bool started = WaitUntil(
      [&] {
        auto s = ReadFile(exec_out);
        return s.ok() && s->find("started") != std::string::npos;
      },
      240s);
  pid_t events = h.Spawn({"events", "--follow"}, h.root() + "/events.out");
  pid_t logs = h.Spawn({"vm", "logs", "--follow", "s1"}, h.root() + "/logs.out");
  int idle = ConnectUnix(h.root() + "/bangerd.sock");
  std::this_thread::sleep_for(1s);
  pid_t daemon = h.DaemonPid();
  auto exec_said = ReadFile(exec_out);
  EXPECT_TRUE(started) << "the exec never started: " << (exec_said.ok() ? *exec_said : "");
  ASSERT_GT(daemon, 0);

  auto start = std::chrono::steady_clock::now();
  CliRun stop = h.Banger({"daemon", "stop"}, 60s);
  bool gone = WaitUntil([&] { return Exited(daemon); }, 30s);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(stop.code, 0) << stop.err;
  EXPECT_TRUE(gone) << "bangerd still runs 30 s after daemon stop";
  EXPECT_LT(took, 10s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  std::cout << "daemon stop with 4 open clients took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
  if (idle >= 0) ::close(idle);
  for (pid_t p : {exec, events, logs}) Reap(p);
}

}  // namespace
}  // namespace banger::e2e
