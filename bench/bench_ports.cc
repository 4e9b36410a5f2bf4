// Benchmark: a published port (the relay through the agent's connect
// channel, daemon/port_relay.h) against the same guest server reached over
// host networking. Runs inside a network namespace this program creates (it
// re-executes itself under `unshare --net`, as root), so the guest address
// is only ever contacted there. The guest runs `busybox httpd`; prints:
//   - per-request round trip (a new TCP connection, GET of a small page):
//     p50/p99 ms. Through the relay this includes opening the guest command.
//   - throughput: GET of a 16 MiB file, MiB/s (median of 3).
//
//   bench_ports [--requests 50]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "base/fs.h"
#include "base/process.h"
#include "model/json.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kHostPort = 18080;

std::string Config(const std::string& network) {
  return "backend = \"qemu\"\nqemu_accel = \"tcg\"\ndefault_image_name = \"b\"\nnetwork = \"" + network +
         "\"\n[vm_defaults]\nvcpu_count = 1\nmemory_mib = 256\nwork_disk_size = \"128M\"\n";
}

banger::CommandResult Banger(const std::string& home, std::vector<std::string> args) {
  std::vector<std::string> argv{BANGER_BIN, "--home", home};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = banger::RunCommand(argv, std::chrono::minutes(10));
  if (!r.ok()) return banger::CommandResult{};
  if (r->exit_code != 0) std::fprintf(stderr, "banger %s: %s", args[0].c_str(), r->err.c_str());
  return *r;
}

// GET `path` from ip:port over a new connection; the bytes received (-1 on failure).
int64_t Get(const std::string& ip, int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  std::string req = "GET " + path + " HTTP/1.0\r\n\r\n";
  (void)!::write(fd, req.data(), req.size());
  int64_t total = 0;
  static char buf[1 << 16];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 60000) <= 0) {
      total = -1;
      break;
    }
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    total += n;
  }
  ::close(fd);
  return total;
}

double Pct(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

void Measure(const char* what, const std::string& ip, int port, int requests) {
  std::vector<double> ms;
  for (int i = 0; i < requests; ++i) {
    auto t0 = Clock::now();
    if (Get(ip, port, "/index.html") <= 0) {
      std::printf("%s: request failed\n", what);
      return;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::vector<double> mibs;
  for (int i = 0; i < 3; ++i) {
    auto t0 = Clock::now();
    int64_t n = Get(ip, port, "/big");
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (n < (16 << 20)) {
      std::printf("%s: large GET failed (%lld bytes)\n", what, static_cast<long long>(n));
      return;
    }
    mibs.push_back(static_cast<double>(n) / (1 << 20) / s);
  }
  std::printf("%-22s round trip p50 %7.2f ms  p99 %7.2f ms (n=%d)   16 MiB GET %7.2f MiB/s (median of 3)\n",
              what, Pct(ms, 0.5), Pct(ms, 0.99), requests, Pct(mibs, 0.5));
}

}  // namespace

int main(int argc, char** argv) {
  int requests = argc > 2 && std::string(argv[1]) == "--requests" ? std::atoi(argv[2]) : 50;
  const char* prepared = std::getenv("BANGER_BENCH_NETNS_HOME");
  if (!prepared) {
    std::string home = "/tmp/bgpb-" + std::to_string(::getpid());
    std::filesystem::create_directories(home);
    (void)banger::WriteFileAtomic(home + "/config.toml", Config("off"));
    if (Banger(home, {"image", "build", "b", "--profile", "minimal"}).exit_code != 0) return 1;
    Banger(home, {"daemon", "stop"});
    ::setenv("BANGER_BENCH_NETNS_HOME", home.c_str(), 1);
    std::vector<char*> args = {const_cast<char*>("unshare"), const_cast<char*>("--net"),
                               const_cast<char*>("--")};
    for (int i = 0; i < argc; ++i) args.push_back(argv[i]);
    args.push_back(nullptr);
    ::execvp("unshare", args.data());
    std::perror("unshare");
    return 1;
  }
  std::string home = prepared;
  // A new namespace has its loopback down.
  (void)banger::RunCommand({"ip", "link", "set", "lo", "up"});
  (void)banger::WriteFileAtomic(home + "/config.toml", Config("on"));
  if (Banger(home, {"vm", "create", "--name", "web", "-p", std::to_string(kHostPort) + ":8080"}).exit_code !=
      0)
    return 1;
  Banger(home, {"vm", "exec", "web", "--", "sh", "-c",
                "mkdir -p /root/www && echo hello > /root/www/index.html && "
                "dd if=/dev/zero of=/root/www/big bs=1M count=16 2>/dev/null"});
  Banger(home, {"session", "start", "web", "--name", "httpd", "--", "busybox", "httpd", "-f", "-p", "8080",
                "-h", "/root/www"});
  auto show = Banger(home, {"--json", "vm", "show", "web"});
  std::string ip;
  try {
    ip = banger::Json::parse(show.out).value(banger::Json::json_pointer("/runtime/guest_ip"), std::string());
  } catch (const std::exception&) {
  }
  // Warm up: the server is up once it answers through the relay.
  for (int i = 0; i < 120 && Get("127.0.0.1", kHostPort, "/index.html") <= 0; ++i) ::sleep(1);
  Measure("relay 127.0.0.1", "127.0.0.1", kHostPort, requests);
  if (ip.empty()) {
    std::printf("host networking: no guest address\n");
  } else {
    Measure(("direct " + ip).c_str(), ip, 8080, requests);
  }
  Banger(home, {"vm", "delete", "web"});
  Banger(home, {"daemon", "stop"});
  std::filesystem::remove_all(home);
  return 0;
}
