// Helpers for end-to-end tests: run the real `banger` (which auto-starts the
// real `bangerd`) against a private home, boot real guests under QEMU TCG.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/fs.h"
#include "base/process.h"
#include "http/http.h"
#include "model/json.h"

namespace banger::e2e {

inline std::string GuestDir() {
  const char* env = std::getenv("BANGER_TEST_GUEST_DIR");
  return env && *env ? env : std::string(BANGER_SOURCE_DIR) + "/build/test-guest";
}

struct CliRun {
  int code = -1;
  std::string out, err;
};

class BangerHome {
 public:
  BangerHome() {
    static int counter = 0;
    // Short: VM socket paths must fit in sun_path.
    root_ = "/tmp/bge-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  // Adopts a home prepared elsewhere (it is removed at the end all the same).
  explicit BangerHome(std::string existing_root) : root_(std::move(existing_root)) {}
  ~BangerHome() {
    if (::testing::Test::HasFailure()) ReportFailedHome();
    // Leave nothing behind whatever the test did: VMs, daemon, files.
    Banger({"daemon", "stop"});
    for (pid_t p : RealProcessOps().FindByArg(root_ + "/bangerd.sock"))
      RealProcessOps().Signal(p, SIGKILL).ok();
    KillVmms();
    std::filesystem::remove_all(root_);
  }
  const std::string& root() const { return root_; }

  // WriteConfig and ImportTestGuest fail with ASSERT_*: call them inside
  // ASSERT_NO_FATAL_FAILURE(...) so that a failed setup ends the test.
  void WriteConfig(const std::string& toml) {
    ASSERT_TRUE(WriteFileAtomic(root_ + "/config.toml", toml).ok());
  }

  CliRun Banger(std::vector<std::string> args, std::chrono::seconds timeout = std::chrono::seconds(300)) {
    std::vector<std::string> argv{BANGER_BIN, "--home", root_};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCommand(argv, timeout);
    if (!r.ok()) return CliRun{-1, "", r.error().message()};
    return CliRun{r->exit_code, r->out, r->err};
  }

  Json BangerJson(std::vector<std::string> args) {
    args.push_back("--json");
    CliRun r = Banger(args);
    EXPECT_EQ(r.code, 0) << "banger " << args[0] << ": " << r.err;
    auto j = ParseJson(r.out);
    EXPECT_TRUE(j.ok()) << r.out;
    return j.ok() ? *j : Json();
  }

  // Imports the test guest as image "base".
  void ImportTestGuest() {
    std::string g = GuestDir();
    ASSERT_TRUE(IsRegularFile(g + "/vmlinuz"))
        << "test guest missing in " << g << ": run scripts/make-test-guest.sh " << g;
    CliRun r = Banger({"image", "import", "base", "--kernel", g + "/vmlinuz", "--initrd", g + "/initrd.img",
                       "--rootfs", g + "/rootfs.ext4"});
    ASSERT_EQ(r.code, 0) << r.err;
  }

  // Builds image `name` with the minimal profile: Debian's cloud kernel, busybox
  // and the guest agent (the test guest of ImportTestGuest has no agent, so
  // exec, sessions and ssh need this one). The first build in a home fetches the
  // kernel package through apt. `kernel_flavour` "generic" gives a kernel
  // with 9p (host folders, `vm create --mount`).
  void BuildAgentImage(const std::string& name, const std::string& kernel_flavour = "cloud") {
    CliRun r = Banger({"image", "build", name, "--profile", "minimal", "--kernel-flavour", kernel_flavour},
                      std::chrono::seconds(600));
    ASSERT_EQ(r.code, 0) << r.err;
  }

  // `banger ARGS...` in the background (its own process group), stdout and
  // stderr to `out`, stdin from /dev/null. The caller reaps or kills it.
  pid_t Spawn(const std::vector<std::string>& args, const std::string& out) {
    std::vector<std::string> argv{BANGER_BIN, "--home", root_};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      FILE* f = std::freopen(out.c_str(), "w", stdout);
      (void)f;
      ::dup2(STDOUT_FILENO, STDERR_FILENO);
      int null = ::open("/dev/null", O_RDONLY);
      ::dup2(null, STDIN_FILENO);
      std::vector<char*> cargv;
      cargv.reserve(argv.size() + 1);
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    return pid;
  }

  // Polls the console log until it contains every needle.
  bool WaitForConsole(const std::string& vm, const std::vector<std::string>& needles,
                      std::chrono::seconds timeout = std::chrono::seconds(120)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      CliRun r = Banger({"vm", "logs", vm});
      bool all = r.code == 0;
      for (const auto& n : needles) all = all && r.out.find(n) != std::string::npos;
      if (all) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    ReportStuckVm(vm);
    return false;
  }

  // After a failed test, before the home goes: the daemon's log lines about
  // VMs that stopped under it and each VM's VMM output (QEMU says why it
  // quit, e.g. "terminating on signal"), a few lines each.
  void ReportFailedHome() {
    std::string out;
    auto tail = [](const std::string& text, size_t n) {
      size_t pos = text.size();
      for (size_t i = 0; i <= n && pos != std::string::npos && pos > 0; ++i) pos = text.rfind('\n', pos - 1);
      return pos == std::string::npos ? text : text.substr(pos + 1);
    };
    if (auto log = ReadFile(root_ + "/bangerd.log"); log.ok()) {
      std::istringstream in(*log);
      int lines = 0;
      for (std::string line; std::getline(in, line) && lines < 20;) {
        if (line.find("is gone") != std::string::npos || line.find("error") != std::string::npos) {
          out += "  bangerd.log: " + line + "\n";
          ++lines;
        }
      }
    }
    std::error_code ec;
    for (const auto& d : std::filesystem::directory_iterator(root_ + "/vms", ec)) {
      auto vmm = ReadFile(d.path().string() + "/vmm.log");
      if (vmm.ok() && !vmm->empty())
        out += "  " + d.path().filename().string() + "/vmm.log: " + tail(*vmm, 5);
    }
    if (!out.empty())
      std::fprintf(stderr, "banger e2e: the failed test's home %s\n%s", root_.c_str(), out.c_str());
  }

  // What a VM whose console did not show what a test waited for was doing,
  // printed first and short (CI shows the head of a failing test's output):
  // the console's last lines, the VM's state and its VMM's threads (state,
  // CPU time, where they sleep), to tell a stuck guest from a slow one.
  void ReportStuckVm(const std::string& vm) {
    std::string out = "banger e2e: VM " + vm + " did not show what the test waited for\n";
    out += "--- its console's last lines:\n" + Banger({"vm", "logs", vm, "--tail", "12"}).out;
    CliRun show = Banger({"vm", "show", vm, "--json"});
    auto j = ParseJson(show.out);
    pid_t pid = 0;
    if (j.ok() && j->contains("handles") && (*j)["handles"].contains("pid")) {
      pid = (*j)["handles"]["pid"].get<pid_t>();
      out += "--- state " + (*j).value("state", std::string("?")) + ", VMM pid " + std::to_string(pid) + "\n";
    } else {
      out += "--- vm show: " + show.out + show.err + "\n";
    }
    std::error_code ec;
    const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
    if (pid > 0 && std::filesystem::is_directory(task_dir, ec)) {
      for (const auto& t : std::filesystem::directory_iterator(task_dir, ec)) {
        const std::string dir = t.path().string();
        auto text = [&](const char* name) {
          auto r = ReadFile(dir + "/" + name);
          std::string v = r.ok() ? *r : "?";
          while (!v.empty() && v.back() == '\n') v.pop_back();
          return v;
        };
        const std::string stat = text("stat");
        // The state is the field after the command name's closing ')'.
        size_t close = stat.rfind(") ");
        std::string state = close != std::string::npos ? stat.substr(close + 2, 1) : "?";
        auto usage = ParseProcStat(stat, 1000000000LL / ::sysconf(_SC_CLK_TCK), ::sysconf(_SC_PAGESIZE));
        std::string cpu = usage.ok() ? std::to_string(static_cast<double>(usage->cpu_ns) / 1e9) : "?";
        out += "  thread " + t.path().filename().string() + " " + text("comm") + " state " + state + " cpu " +
               cpu + " s wchan " + text("wchan") + "\n";
      }
    }
    std::fprintf(stderr, "%s", out.c_str());
  }

  pid_t DaemonPid() {
    auto pids = RealProcessOps().FindByArg(root_);
    for (pid_t p : pids) {
      auto argv = RealProcessOps().Cmdline(p);
      if (!argv.empty() && argv[0].find("bangerd") != std::string::npos) return p;
    }
    return 0;
  }

  // VMM processes whose argv mentions this home, or whose root is a jail
  // inside it (a jailed firecracker's argv names only chroot paths).
  std::vector<pid_t> Vmms() {
    std::vector<pid_t> out;
    for (pid_t p : ScanProcs()) {
      auto argv = RealProcessOps().Cmdline(p);
      if (argv.empty() || argv[0].find("bangerd") != std::string::npos) continue;
      bool mine = std::any_of(argv.begin(), argv.end(),
                              [&](const std::string& a) { return a.find(root_ + "/") != std::string::npos; });
      if (!mine && argv[0].find("firecracker") != std::string::npos) {
        auto mounts = ReadFile("/proc/" + std::to_string(p) + "/mountinfo");
        mine = mounts.ok() && mounts->find(" " + root_ + "/vms/") != std::string::npos;
      }
      if (mine) out.push_back(p);
    }
    return out;
  }

  void KillVmms() {
    for (pid_t p : Vmms()) RealProcessOps().Signal(p, SIGKILL).ok();
  }

 private:
  static std::vector<pid_t> ScanProcs() {
    std::vector<pid_t> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      std::string n = e.path().filename().string();
      if (!n.empty() && std::all_of(n.begin(), n.end(), ::isdigit)) {
        pid_t p = std::stoi(n);
        if (RealProcessOps().Alive(p)) out.push_back(p);
      }
    }
    return out;
  }
  std::string root_;
};

// GET / on a Unix-socket HTTP server (the Firecracker API); "" on failure.
inline std::string UnixHttpGet(const std::string& sock) {
  auto r = UnixHttpCall(sock, HttpRequest{}, std::chrono::seconds(5));
  return r.ok() ? r->body : "";
}

// The first bytes a TCP server at ip:port sends (an SSH banner), "" when
// nothing answers within 5 s. Only for guest addresses inside a network
// namespace the test made.
inline std::string TcpBanner(const std::string& ip, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    char buf[64];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) out.assign(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

inline bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

// main() of a test that runs with host networking on, entirely inside a
// network namespace it creates. First run (`home_env` unset): builds image
// "t" into a fresh home under `home_prefix` with `config_toml` (networking
// off there: the build needs Debian's package registry, so it runs in the
// host namespace, with no bridge, tap or DNS socket), then sets `home_env`
// to that home and re-executes this binary under `unshare --net` (root
// needed). The re-executed run sees `home_env` set, so it does not re-exec
// again: it brings loopback up and runs the tests, which adopt the home.
// With `private_run` it also gets a mount namespace of its own (private
// propagation) with a fresh tmpfs over /run, its source named
// kPrivateRunSource: what the test and its daemons put under /run (containerd
// keeps runc state, FIFOs and shim sockets in /run/containerd whatever its
// --state says) never reaches the host's /run, and mounts made in there
// (a task's rootfs) never show on the host.
inline constexpr const char* kPrivateRunSource = "banger-e2e-run";

// The mount namespace NetnsMain ran in before it re-executed the test (PID
// 1's may be unreadable, e.g. inside a sandbox).
inline constexpr const char* kOuterMountNsEnv = "BANGER_E2E_OUTER_MNT_NS";

// "mnt:[inode]" of /proc/<pid>/ns/mnt, "" when unreadable.
inline std::string MountNamespaceOf(const std::string& pid) {
  std::error_code ec;
  auto link = std::filesystem::read_symlink("/proc/" + pid + "/ns/mnt", ec);
  return ec ? "" : link.string();
}

// True when this process's mount namespace is known to be another than the
// one NetnsMain started in (else PID 1's): it was unshared.
inline bool InOwnMountNamespace() {
  const char* outer = std::getenv(kOuterMountNsEnv);
  std::string self = MountNamespaceOf("self");
  std::string other = outer != nullptr && *outer != '\0' ? std::string(outer) : MountNamespaceOf("1");
  return !self.empty() && !other.empty() && self != other;
}

struct NetnsMainOptions {
  const char* test_name;                       // for the error line
  const char* home_env;                        // e.g. "BANGER_E2E_NETNS_HOME"
  std::string home_prefix;                     // e.g. "/tmp/bgn-" (+ pid)
  std::string config_toml;                     // the home's config.toml
  std::vector<std::string> image_build_extra;  // after `image build t`
  bool private_run = false;                    // also a mount namespace and a tmpfs /run
};

inline int NetnsMain(int argc, char** argv, const NetnsMainOptions& opts) {
  if (std::getenv(opts.home_env) == nullptr) {
    std::string home = opts.home_prefix + std::to_string(::getpid());
    std::filesystem::create_directories(home);
    if (!WriteFileAtomic(home + "/config.toml", opts.config_toml).ok()) return 1;
    std::vector<std::string> build_argv{BANGER_BIN, "--home", home, "image", "build", "t"};
    build_argv.insert(build_argv.end(), opts.image_build_extra.begin(), opts.image_build_extra.end());
    auto build = RunCommand(build_argv, std::chrono::minutes(10));
    (void)RunCommand({BANGER_BIN, "--home", home, "daemon", "stop"});
    if (!build.ok() || build->exit_code != 0) {
      std::fprintf(stderr, "%s: image build failed: %s\n", opts.test_name,
                   build.ok() ? build->err.c_str() : build.error().message().c_str());
      std::filesystem::remove_all(home);
      return 1;
    }
    ::setenv(opts.home_env, home.c_str(), 1);
    if (opts.private_run) ::setenv(kOuterMountNsEnv, MountNamespaceOf("self").c_str(), 1);
    std::vector<char*> args = {const_cast<char*>("unshare"), const_cast<char*>("--net")};
    if (opts.private_run) {
      args.push_back(const_cast<char*>("--mount"));
      args.push_back(const_cast<char*>("--propagation=private"));
    }
    args.push_back(const_cast<char*>("--"));
    for (int i = 0; i < argc; ++i) args.push_back(argv[i]);
    args.push_back(nullptr);
    ::execvp("unshare", args.data());
    std::perror("unshare");
    return 1;
  }
  if (opts.private_run && !InOwnMountNamespace()) {
    std::fprintf(stderr,
                 "%s: %s is set but this is not a mount namespace of its own: not mounting over /run\n",
                 opts.test_name, opts.home_env);
    return 1;
  }
  if (opts.private_run &&
      ::mount(kPrivateRunSource, "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64m") != 0) {
    std::perror("mounting a tmpfs on /run");
    return 1;
  }
  (void)RunCommand({"ip", "link", "set", "lo", "up"});
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

}  // namespace banger::e2e
