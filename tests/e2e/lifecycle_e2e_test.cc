// End to end: the real CLI, the real daemon, real guests under QEMU TCG.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <iostream>

#include "e2e_util.h"

namespace banger::e2e {
namespace {

constexpr const char* kTcgConfig =
    "backend = \"qemu\"\nqemu_accel = \"tcg\"\nstop_timeout = \"3s\"\ndefault_image_name = \"base\"\n";
const std::vector<std::string> kSmall = {"--vcpus", "1", "--memory", "256"};

std::vector<std::string> Args(std::initializer_list<std::string> head,
                              const std::vector<std::string>& tail = {}) {
  std::vector<std::string> v(head);
  v.insert(v.end(), tail.begin(), tail.end());
  return v;
}

TEST(LifecycleE2E, StartBootStopDeleteLeavesNothing) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(kTcgConfig));
  ASSERT_NO_FATAL_FAILURE(h.ImportTestGuest());
  CliRun c = h.Banger(Args({"vm", "create", "--name", "t1"}, kSmall));
  ASSERT_EQ(c.code, 0) << c.err;
  Json vm = h.BangerJson({"vm", "show", "t1"});
  EXPECT_EQ(vm["state"], "running");
  ASSERT_TRUE(vm["handles"]["pid"].is_number());
  pid_t pid = vm["handles"]["pid"];
  EXPECT_TRUE(RealProcessOps().Alive(pid));
  std::string vm_dir = vm["runtime"]["vm_dir"];
  EXPECT_TRUE(PathExists(vm_dir + "/handles.json"));

  ASSERT_TRUE(h.WaitForConsole("t1", {"Linux version", "banger-test-guest: init ready"}))
      << h.Banger({"vm", "logs", "t1"}).out;
  // The guest got its hostname from the kernel command line banger built.
  EXPECT_NE(h.Banger({"vm", "logs", "t1"}).out.find("banger.hostname=t1"), std::string::npos);

  CliRun s = h.Banger({"vm", "stop", "t1", "--timeout", "2"});
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_TRUE(WaitUntil([&] { return !RealProcessOps().Alive(pid); }, std::chrono::seconds(5)));
  EXPECT_EQ(h.BangerJson({"vm", "show", "t1"})["state"], "stopped");
  EXPECT_FALSE(PathExists(vm_dir + "/handles.json"));
  EXPECT_TRUE(h.Vmms().empty());

  CliRun d = h.Banger({"vm", "delete", "t1"});
  ASSERT_EQ(d.code, 0) << d.err;
  EXPECT_FALSE(PathExists(vm_dir));
  EXPECT_TRUE(h.BangerJson({"vm", "list"}).empty());
  EXPECT_EQ(h.Banger({"vm", "show", "t1"}).code, 1);
}

TEST(LifecycleE2E, KillDashNineDaemonKeepsVmAndReadopts) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(kTcgConfig));
  ASSERT_NO_FATAL_FAILURE(h.ImportTestGuest());
  ASSERT_EQ(h.Banger(Args({"vm", "create", "--name", "t1"}, kSmall)).code, 0);
  pid_t vmm = h.BangerJson({"vm", "show", "t1"})["handles"]["pid"];
  pid_t daemon = h.DaemonPid();
  ASSERT_GT(daemon, 0);
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] { return !RealProcessOps().Alive(daemon); }, std::chrono::seconds(5)));
  EXPECT_TRUE(RealProcessOps().Alive(vmm)) << "the VM must outlive the daemon";

  // The next CLI call starts a new daemon that re-adopts the VM.
  Json vm = h.BangerJson({"vm", "show", "t1"});
  EXPECT_EQ(vm["state"], "running");
  EXPECT_EQ(vm["handles"]["pid"], vmm);
  EXPECT_NE(h.DaemonPid(), daemon);
  CliRun s = h.Banger({"vm", "stop", "t1", "--timeout", "1"});
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_TRUE(WaitUntil([&] { return !RealProcessOps().Alive(vmm); }, std::chrono::seconds(5)));
}

TEST(LifecycleE2E, StaleHandlesOfDeadVmmAreDemotedAndCleaned) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(kTcgConfig));
  ASSERT_NO_FATAL_FAILURE(h.ImportTestGuest());
  ASSERT_EQ(h.Banger(Args({"vm", "create", "--name", "t1"}, kSmall)).code, 0);
  Json vm = h.BangerJson({"vm", "show", "t1"});
  pid_t vmm = vm["handles"]["pid"];
  std::string vm_dir = vm["runtime"]["vm_dir"];
  pid_t daemon = h.DaemonPid();
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  ASSERT_EQ(::kill(vmm, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] { return !RealProcessOps().Alive(vmm) && !RealProcessOps().Alive(daemon); },
                        std::chrono::seconds(5)));
  ASSERT_TRUE(PathExists(vm_dir + "/handles.json")) << "stale scratch file present before reconcile";

  Json after = h.BangerJson({"vm", "show", "t1"});
  EXPECT_EQ(after["state"], "stopped");
  EXPECT_FALSE(after.contains("handles"));
  EXPECT_FALSE(PathExists(vm_dir + "/handles.json"));
  EXPECT_FALSE(PathExists(vm_dir + "/api.sock"));
  // And it starts again.
  ASSERT_EQ(h.Banger({"vm", "start", "t1"}).code, 0);
  EXPECT_EQ(h.BangerJson({"vm", "show", "t1"})["state"], "running");
  ASSERT_EQ(h.Banger({"vm", "delete", "t1"}).code, 0);
  EXPECT_TRUE(h.Vmms().empty());
}

TEST(LifecycleE2E, MissingVmmBinaryIsErrorStateWithReason) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(std::string(kTcgConfig) + "qemu_bin = \"/nonexistent/qemu\"\n"));
  ASSERT_NO_FATAL_FAILURE(h.ImportTestGuest());
  CliRun c = h.Banger(Args({"vm", "create", "--name", "t1"}, kSmall));
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find("/nonexistent/qemu"), std::string::npos) << c.err;
  EXPECT_EQ(std::count(c.err.begin(), c.err.end(), '\n'), 1) << "one line: " << c.err;
  Json vm = h.BangerJson({"vm", "show", "t1"});
  EXPECT_EQ(vm["state"], "error");
  EXPECT_NE(vm["runtime"]["last_error"].get<std::string>().find("/nonexistent/qemu"), std::string::npos);
  EXPECT_TRUE(h.Vmms().empty());
}

TEST(LifecycleE2E, VmmThatExitsAtOnceIsErrorWithItsOutput) {
  BangerHome h;
  std::string fake = h.root() + "/fake-qemu";
  ASSERT_TRUE(WriteFileAtomic(fake, "#!/bin/sh\necho 'fake-qemu: cannot start' >&2\nexit 1\n", 0755).ok());
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(std::string(kTcgConfig) + "qemu_bin = \"" + fake + "\"\n"));
  ASSERT_NO_FATAL_FAILURE(h.ImportTestGuest());
  CliRun c = h.Banger(Args({"vm", "create", "--name", "t1"}, kSmall));
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find("cannot start"), std::string::npos) << c.err;
  Json vm = h.BangerJson({"vm", "show", "t1"});
  EXPECT_EQ(vm["state"], "error");
  EXPECT_FALSE(PathExists(vm["runtime"]["vm_dir"].get<std::string>() + "/handles.json"));
}

TEST(LifecycleE2E, BadInputGetsOneLineAndChangesNothing) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(kTcgConfig));
  ASSERT_NO_FATAL_FAILURE(h.ImportTestGuest());
  ASSERT_EQ(h.Banger(Args({"vm", "create", "--name", "t1", "--no-start"}, kSmall)).code, 0);
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string needle;
  };
  std::vector<Case> cases = {
      {{"vm", "create", "--name", "t1", "--no-start"}, 1, "t1"},
      {{"vm", "create", "--name", "Bad_Name", "--no-start"}, 1, "Bad_Name"},
      {{"vm", "create", "--name", "t2", "--image", "nope", "--no-start"}, 1, "nope"},
      {{"vm", "create", "--name", "t3", "--work-disk-size", "200G", "--no-start"}, 1, "128G"},
      {{"vm", "create", "--name", "t4", "--work-disk-size", "12Q", "--no-start"}, 1, "Q"},
      {{"image", "import", "x", "--kernel", "/nonexistent/k", "--rootfs", "/nonexistent/r"},
       1,
       "/nonexistent/k"},
      {{"image", "delete", "base"}, 1, "used by"},
      {{"vm", "frobnicate"}, 2, ""},
      {{"vm", "create", "--vcpus", "many"}, 2, ""},
  };
  for (const auto& c : cases) {
    CliRun r = h.Banger(c.args);
    std::string cmd;
    for (const auto& a : c.args) cmd += a + " ";
    EXPECT_EQ(r.code, c.code) << cmd << ": " << r.err;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << cmd << ": " << r.err;
    if (c.code == 1) {
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << cmd << ": " << r.err;
    }
  }
  Json vms = h.BangerJson({"vm", "list"});
  ASSERT_EQ(vms.size(), 1u);
  EXPECT_EQ(vms[0]["name"], "t1");
  EXPECT_EQ(h.BangerJson({"image", "list"}).size(), 1u);
}

TEST(LifecycleE2E, SetRefusesRunningAndAppliesWhenStopped) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(kTcgConfig));
  ASSERT_NO_FATAL_FAILURE(h.ImportTestGuest());
  ASSERT_EQ(h.Banger(Args({"vm", "create", "--name", "t1"}, kSmall)).code, 0);
  CliRun r = h.Banger({"vm", "set", "t1", "--memory", "512"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("running"), std::string::npos) << r.err;
  ASSERT_EQ(h.Banger({"vm", "stop", "t1", "--timeout", "1"}).code, 0);
  ASSERT_EQ(h.Banger({"vm", "set", "t1", "--memory", "512", "--vcpus", "2"}).code, 0);
  Json vm = h.BangerJson({"vm", "show", "t1"});
  EXPECT_EQ(vm["spec"]["memory_mib"], 512);
  EXPECT_EQ(vm["spec"]["vcpu_count"], 2);
  // The new size reaches the VMM: QEMU's argv carries it.
  ASSERT_EQ(h.Banger({"vm", "start", "t1"}).code, 0);
  pid_t pid = h.BangerJson({"vm", "show", "t1"})["handles"]["pid"];
  auto argv = RealProcessOps().Cmdline(pid);
  ASSERT_FALSE(argv.empty()) << "VMM " << pid << " has no cmdline";
  // The value that follows a flag in the VMM's argv ("" when absent).
  auto flag = [&](const std::string& f) {
    auto it = std::find(argv.begin(), argv.end(), f);
    return it != argv.end() && std::next(it) != argv.end() ? *std::next(it) : std::string();
  };
  EXPECT_EQ(flag("-m"), "512");
  EXPECT_EQ(flag("-smp"), "2") << "vm set --vcpus reaches QEMU";
  ASSERT_EQ(h.Banger({"vm", "delete", "t1"}).code, 0);
}

TEST(LifecycleE2E, ConcurrentOperationsOnOneVmAreSerialized) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(kTcgConfig));
  ASSERT_NO_FATAL_FAILURE(h.ImportTestGuest());
  ASSERT_EQ(h.Banger(Args({"vm", "create", "--name", "t1", "--no-start"}, kSmall)).code, 0);
  std::vector<std::thread> ts;
  ts.reserve(4);
  std::vector<int> codes(4, -1);
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&, i] { codes[i] = h.Banger({"vm", "start", "t1"}).code; });
  }
  for (auto& t : ts) t.join();
  for (int c : codes) EXPECT_EQ(c, 0);
  EXPECT_EQ(h.Vmms().size(), 1u) << "exactly one VMM for one VM";
  ASSERT_EQ(h.Banger({"vm", "delete", "t1"}).code, 0);
  EXPECT_TRUE(h.Vmms().empty());
}

TEST(LifecycleE2E, TwoHomesAreIndependent) {
  BangerHome a, b;
  ASSERT_NO_FATAL_FAILURE(a.WriteConfig(kTcgConfig));
  ASSERT_NO_FATAL_FAILURE(b.WriteConfig(kTcgConfig));
  ASSERT_NO_FATAL_FAILURE(a.ImportTestGuest());
  ASSERT_EQ(a.Banger(Args({"vm", "create", "--name", "t1", "--no-start"}, kSmall)).code, 0);
  EXPECT_TRUE(b.BangerJson({"vm", "list"}).empty());
  EXPECT_TRUE(b.BangerJson({"image", "list"}).empty());
  EXPECT_NE(a.DaemonPid(), b.DaemonPid());
  ASSERT_EQ(a.Banger({"daemon", "stop"}).code, 0);
  EXPECT_EQ(b.Banger({"daemon", "status"}).code, 0) << "stopping one home's daemon leaves the other";
}

TEST(LifecycleE2E, SocketIsOwnerOnlyOrSharedWithTheConfiguredGroup) {
  BangerHome a, b;
  ASSERT_NO_FATAL_FAILURE(a.WriteConfig(kTcgConfig));
  ASSERT_NO_FATAL_FAILURE(b.WriteConfig(std::string(kTcgConfig) + "socket_group = \"65534\"\n"));
  ASSERT_EQ(a.Banger({"vm", "list"}).code, 0);  // starts each home's daemon
  ASSERT_EQ(b.Banger({"vm", "list"}).code, 0);
  struct stat sa {
  }, sb{};
  ASSERT_EQ(::stat((a.root() + "/bangerd.sock").c_str(), &sa), 0);
  ASSERT_EQ(::stat((b.root() + "/bangerd.sock").c_str(), &sb), 0);
  EXPECT_EQ(sa.st_mode & 0777, 0600u);
  EXPECT_EQ(sb.st_mode & 0777, 0660u);
  EXPECT_EQ(sb.st_gid, 65534u);
  // A group that does not exist: the daemon refuses to start and says why.
  BangerHome c;
  ASSERT_NO_FATAL_FAILURE(
      c.WriteConfig(std::string(kTcgConfig) + "socket_group = \"no-such-group-banger\"\n"));
  CliRun r = c.Banger({"vm", "list"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("socket_group"), std::string::npos) << r.err;
}

TEST(LifecycleE2E, StatsMetricsAndAutoStopOfAnIdleVm) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(
      std::string(kTcgConfig) +
      "auto_stop_stale_after = \"8s\"\nstats_poll_interval = \"1s\"\nmetrics_poll_interval = \"1s\"\n"));
  ASSERT_NO_FATAL_FAILURE(h.ImportTestGuest());
  ASSERT_EQ(h.Banger(Args({"vm", "create", "--name", "t1"}, kSmall)).code, 0);
  Json s = h.BangerJson({"vm", "stats", "t1"});
  EXPECT_EQ(s["state"], "running");
  EXPECT_GT(s["stats"]["rss_bytes"].get<int64_t>(), 0);
  EXPECT_GT(s["stats"]["vsz_bytes"].get<int64_t>(), s["stats"]["rss_bytes"].get<int64_t>());
  EXPECT_GE(s["stats"]["cpu_percent"].get<double>(), 0.0);
  CliRun text = h.Banger({"vm", "stats", "t1"});
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("memory (rss):"), std::string::npos) << text.out;
  // The pollers fill in QEMU's block counters.
  EXPECT_TRUE(WaitUntil(
      [&] {
        return h.BangerJson({"vm", "show", "t1"})["stats"]["metrics_raw"].contains("blockstats");
      },
      std::chrono::seconds(5)));
  // Nobody touches it: stopped once idle for 8 s, saying why.
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitUntil(
      [&] {
        return h.BangerJson({"vm", "show", "t1"})["state"] == "stopped";
      },
      std::chrono::seconds(40)));
  std::cout << "auto-stopped "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)
                   .count()
            << " ms after the stats checks\n";
  CliRun events = h.Banger({"events"});
  EXPECT_NE(events.out.find("auto-stopped: idle for 8s"), std::string::npos) << events.out;
  // A stopped VM keeps its last numbers.
  EXPECT_EQ(h.BangerJson({"vm", "stats", "t1"})["state"], "stopped");
}

// One HTTP/1.1 exchange over loopback TCP; returns the raw response.
std::string HttpOverTcp(int port, const std::string& method, const std::string& path,
                        const std::string& extra_headers = "", const std::string& body = "") {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string got;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                      "\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
                      extra_headers + "\r\n" + body;
    if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[8192];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return got;
}

TEST(LifecycleE2E, WebUiOnLoopbackShowsAndDrivesVms) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(std::string(kTcgConfig) + "web_listen_addr = \"127.0.0.1:0\"\n"));
  ASSERT_NO_FATAL_FAILURE(h.ImportTestGuest());
  ASSERT_EQ(h.Banger(Args({"vm", "create", "--name", "t1"}, kSmall)).code, 0);
  Json status = h.BangerJson({"daemon", "status"});
  std::string url = status.value("web_url", "");
  ASSERT_EQ(url.rfind("http://127.0.0.1:", 0), 0u) << status.dump();
  int port = std::stoi(url.substr(strlen("http://127.0.0.1:")));
  CliRun text = h.Banger({"daemon", "status"});
  EXPECT_NE(text.out.find("web ui:"), std::string::npos) << text.out;

  // Logged in with `banger web open`'s one-time URL (docs/security.md).
  EXPECT_EQ(HttpOverTcp(port, "GET", "/").rfind("HTTP/1.1 401", 0), 0u);
  CliRun open = h.Banger({"web", "open"});
  ASSERT_EQ(open.code, 0) << open.err;
  std::string login = HttpOverTcp(
      port, "GET", open.out.substr(open.out.find("/login"), open.out.find('\n') - open.out.find("/login")));
  ASSERT_EQ(login.rfind("HTTP/1.1 303", 0), 0u) << login;
  auto at = login.find("banger_session=");
  ASSERT_NE(at, std::string::npos) << login;
  const std::string cookie = "Cookie: " + login.substr(at, login.find(';', at) - at) + "\r\n";

  std::string page = HttpOverTcp(port, "GET", "/", cookie);
  EXPECT_EQ(page.rfind("HTTP/1.1 200", 0), 0u) << page.substr(0, 200);
  EXPECT_NE(page.find("<title>banger</title>"), std::string::npos);
  std::string list = HttpOverTcp(port, "GET", "/v1/vms", cookie);
  EXPECT_NE(list.find("\"name\":\"t1\""), std::string::npos) << list.substr(0, 300);
  std::string refused = HttpOverTcp(port, "POST", "/v1/vms/t1/stop", cookie, "{}");
  EXPECT_EQ(refused.rfind("HTTP/1.1 403", 0), 0u) << refused.substr(0, 200);
  EXPECT_EQ(h.BangerJson({"vm", "show", "t1"})["state"], "running");
  std::string stopped = HttpOverTcp(port, "POST", "/v1/vms/t1/stop", cookie + "X-Banger-UI: 1\r\n", "{}");
  EXPECT_EQ(stopped.rfind("HTTP/1.1 200", 0), 0u) << stopped.substr(0, 300);
  EXPECT_EQ(h.BangerJson({"vm", "show", "t1"})["state"], "stopped");

  // A bad address stops the daemon with one line naming the key.
  BangerHome bad;
  ASSERT_NO_FATAL_FAILURE(
      bad.WriteConfig(std::string(kTcgConfig) + "web_listen_addr = \"example.com:80\"\n"));
  CliRun r = bad.Banger({"vm", "list"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("web_listen_addr"), std::string::npos) << r.err;
}

TEST(LifecycleE2E, RequestIdMakesCreateIdempotent) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(kTcgConfig));
  ASSERT_NO_FATAL_FAILURE(h.ImportTestGuest());
  Json first = h.BangerJson(Args({"vm", "create", "--request-id", "job-7", "--no-start"}, kSmall));
  Json second = h.BangerJson(Args({"vm", "create", "--request-id", "job-7", "--no-start"}, kSmall));
  EXPECT_EQ(first["id"], second["id"]);
  EXPECT_EQ(h.BangerJson({"vm", "list"}).size(), 1u);
}

}  // namespace
}  // namespace banger::e2e
