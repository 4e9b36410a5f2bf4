// End to end for README promises no other test exercised:
//  - `banger doctor`: host prerequisites, one line each with the fix, exit 1
//    exactly when a check fails;
//  - `vm exec -t`: the real CLI on a pseudo-terminal (forkpty), the guest
//    command on a pty of its own with the terminal's size, resizes forwarded;
//  - the auto-detected backend and accelerator (nothing pinned) boot a VM;
//  - cow_mode = "dm-snapshot" for a real VM (skips, with doctor's reason,
//    where the host has no device-mapper).
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <regex>
#include <string>

#include "e2e_util.h"

namespace banger::e2e {
namespace {

constexpr const char* kTcgConfig =
    "backend = \"qemu\"\nqemu_accel = \"tcg\"\nstop_timeout = \"3s\"\n"
    "[vm_defaults]\nvcpu_count = 1\nmemory_mib = 512\nwork_disk_size = \"256M\"\nsystem_overlay_size = "
    "\"1G\"\n";

// ---- doctor ----

// The doctor's checks by name, from --json.
std::map<std::string, Json> Checks(const Json& arr) {
  std::map<std::string, Json> out;
  for (const auto& c : arr) out[c["check"].get<std::string>()] = c;
  return out;
}

TEST(CliE2E, DoctorPrintsEveryCheckAndExitsZeroWhenNothingFails) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(kTcgConfig));
  CliRun text = h.Banger({"doctor"});
  CliRun json = h.Banger({"doctor", "--json"});
  auto arr = ParseJson(json.out);
  ASSERT_TRUE(arr.ok() && arr->is_array()) << json.out;
  auto checks = Checks(*arr);
  for (const char* name : {"kvm", "backend", "qemu", "firecracker", "cow_mode", "e2fsprogs", "debugfs",
                           "busybox", "debootstrap", "ssh-keygen", "tun", "bridge", "network"}) {
    EXPECT_TRUE(checks.count(name)) << "no check " << name << " in " << json.out;
  }
  bool any_fail = false;
  for (const auto& c : *arr) {
    std::string status = c["status"];
    EXPECT_TRUE(status == "ok" || status == "warn" || status == "fail") << c.dump();
    if (status != "ok") {
      EXPECT_FALSE(c["fix"].get<std::string>().empty()) << "a problem without a fix: " << c.dump();
    }
    any_fail = any_fail || status == "fail";
  }
  // This config pins qemu/tcg, and the suite's host has qemu and e2fsprogs:
  // nothing fails, and the exit code says so.
  EXPECT_FALSE(any_fail) << json.out;
  EXPECT_EQ(text.code, 0) << text.out << text.err;
  EXPECT_EQ(json.code, 0);
  EXPECT_EQ(checks["backend"]["detail"], "default backend qemu, qemu accelerator tcg");
  // Text: one line per check, "ok    name: detail (fix: ...)".
  EXPECT_EQ(static_cast<size_t>(std::count(text.out.begin(), text.out.end(), '\n')), arr->size()) << text.out;
  EXPECT_NE(text.out.find("ok    backend: default backend qemu"), std::string::npos) << text.out;
  EXPECT_EQ(h.DaemonPid(), 0) << "doctor needs no daemon";
}

TEST(CliE2E, DoctorFailsWhenTheConfiguredBackendCannotRun) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(
      h.WriteConfig("backend = \"firecracker\"\nfirecracker_bin = \"/nonexistent/banger-firecracker\"\n"
                    "qemu_bin = \"/nonexistent/banger-qemu\"\n"));
  CliRun text = h.Banger({"doctor"});
  EXPECT_EQ(text.code, 1) << text.out << text.err;
  EXPECT_NE(text.out.find("FAIL  firecracker: /nonexistent/banger-firecracker not found"), std::string::npos)
      << text.out;
  // qemu is not the backend here: its absence is a warning, not a failure.
  EXPECT_NE(text.out.find("warn  qemu: /nonexistent/banger-qemu not found"), std::string::npos) << text.out;
  CliRun json = h.Banger({"doctor", "--json"});
  EXPECT_EQ(json.code, 1);
  auto arr = ParseJson(json.out);
  ASSERT_TRUE(arr.ok()) << json.out;
  auto checks = Checks(*arr);
  EXPECT_EQ(checks["firecracker"]["status"], "fail");
  EXPECT_NE(checks["firecracker"]["fix"].get<std::string>().find("firecracker_bin"), std::string::npos);

  BangerHome q;
  ASSERT_NO_FATAL_FAILURE(q.WriteConfig("backend = \"qemu\"\nqemu_bin = \"/nonexistent/banger-qemu\"\n"));
  CliRun qr = q.Banger({"doctor"});
  EXPECT_EQ(qr.code, 1) << qr.out;
  EXPECT_NE(qr.out.find("FAIL  qemu: /nonexistent/banger-qemu not found"), std::string::npos) << qr.out;
  EXPECT_NE(qr.out.find("(fix: apt-get install qemu-system-x86)"), std::string::npos) << qr.out;
}

TEST(CliE2E, DoctorJudgesDmSnapshotAgainstThisHost) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(std::string("cow_mode = \"dm-snapshot\"\n") + kTcgConfig));
  CliRun r = h.Banger({"doctor", "--json"});
  auto arr = ParseJson(r.out);
  ASSERT_TRUE(arr.ok()) << r.out;
  Json cow = Checks(*arr)["cow_mode"];
  std::string status = cow["status"];
  std::string detail = cow["detail"];
  // Only this check can fail under this config (qemu/tcg, tools present):
  // the exit code follows it.
  EXPECT_EQ(r.code, status == "fail" ? 1 : 0) << r.out;
  if (!PathExists("/dev/mapper/control")) {
    EXPECT_EQ(status, "fail") << cow.dump();
    EXPECT_NE(detail.find("no /dev/mapper/control"), std::string::npos) << cow.dump();
  }
  if (status == "fail") {
    // Says why and how to get out of it.
    EXPECT_NE(detail.find("device-mapper is not available on this host"), std::string::npos) << cow.dump();
    EXPECT_NE(cow["fix"].get<std::string>().find("cow_mode = \"overlay\""), std::string::npos) << cow.dump();
  } else {
    EXPECT_EQ(status, "ok") << cow.dump();
  }
}

TEST(CliE2E, DoctorRejectsABadConfigNamingTheKey) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig("backend = \"bochs\"\n"));
  CliRun r = h.Banger({"doctor"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("backend"), std::string::npos) << r.err;
}

// ---- auto-detected backend and accelerator ----

// Every other e2e test pins backend = "qemu" and qemu_accel = "tcg"; this one
// leaves both to auto-detection and boots a VM with what it picks. On a host
// that is itself a VM without a Firecracker binary (CI, this machine) that
// must be QEMU with TCG; elsewhere the doctor's verdict is what the VM gets.
TEST(CliE2E, AutoDetectedBackendBootsAVm) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig("stop_timeout = \"3s\"\ndefault_image_name = \"base\"\n"));
  auto arr = ParseJson(h.Banger({"doctor", "--json"}).out);
  ASSERT_TRUE(arr.ok());
  std::string verdict = Checks(*arr)["backend"]["detail"];
  auto cpuinfo_r = ReadFile("/proc/cpuinfo");
  std::string cpuinfo = cpuinfo_r.ok() ? *cpuinfo_r : "";
  bool nested = cpuinfo.find(" hypervisor") != std::string::npos;
  if (nested && !FindExecutable("firecracker").ok()) {
    EXPECT_EQ(verdict, "default backend qemu, qemu accelerator tcg");
  }
  bool firecracker = verdict.rfind("default backend firecracker", 0) == 0;
  bool kvm = verdict.find("qemu accelerator kvm") != std::string::npos;
  if (firecracker && !kvm) GTEST_SKIP() << "auto picks Firecracker but KVM cannot boot guests here; skipping";
  ASSERT_NO_FATAL_FAILURE(h.ImportTestGuest());
  CliRun c = h.Banger({"vm", "create", "--name", "auto1", "--vcpus", "1", "--memory", "256"});
  ASSERT_EQ(c.code, 0) << c.err;
  Json vm = h.BangerJson({"vm", "show", "auto1"});
  EXPECT_EQ(vm["spec"]["backend"], firecracker ? "firecracker" : "qemu") << vm.dump();
  if (!firecracker) {
    auto argv = RealProcessOps().Cmdline(vm["handles"]["pid"].get<pid_t>());
    bool tcg =
        std::any_of(argv.begin(), argv.end(), [](const std::string& a) { return a.rfind("tcg", 0) == 0; });
    bool enable_kvm = std::find(argv.begin(), argv.end(), "-enable-kvm") != argv.end();
    EXPECT_EQ(tcg, !kvm) << verdict;
    EXPECT_EQ(enable_kvm, kvm) << verdict;
  }
  EXPECT_TRUE(h.WaitForConsole("auto1", {"banger-test-guest: init ready"}))
      << h.Banger({"vm", "logs", "auto1"}).out;
  ASSERT_EQ(h.Banger({"vm", "delete", "auto1"}).code, 0);
}

// ---- cow_mode = "dm-snapshot" with a real VM ----

TEST(CliE2E, DmSnapshotVmRootIsADeviceMapperSnapshot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (losetup, dmsetup); skipping";
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(std::string("cow_mode = \"dm-snapshot\"\n") + kTcgConfig));
  {
    auto arr = ParseJson(h.Banger({"doctor", "--json"}).out);
    ASSERT_TRUE(arr.ok());
    Json cow = Checks(*arr)["cow_mode"];
    if (cow["status"] != "ok") {
      GTEST_SKIP() << "device-mapper is not available on this host (doctor: "
                   << cow["detail"].get<std::string>() << "); skipping";
    }
  }
  ASSERT_NO_FATAL_FAILURE(h.ImportTestGuest());
  CliRun c = h.Banger({"vm", "create", "--name", "dm1", "--image", "base"});
  ASSERT_EQ(c.code, 0) << c.err;
  Json vm = h.BangerJson({"vm", "show", "dm1"});
  EXPECT_EQ(vm["state"], "running");
  std::string dm_name = vm["handles"].value("dm_name", "");
  ASSERT_FALSE(dm_name.empty()) << vm.dump();
  EXPECT_TRUE(PathExists("/dev/mapper/" + dm_name));
  ASSERT_TRUE(h.WaitForConsole("dm1", {"banger-test-guest: init ready"}))
      << h.Banger({"vm", "logs", "dm1"}).out;
  // The VMM's first disk is the snapshot.
  pid_t pid = vm["handles"]["pid"];
  std::string argv;
  for (const auto& a : RealProcessOps().Cmdline(pid)) argv += a + " ";
  EXPECT_NE(argv.find("/dev/mapper/" + dm_name), std::string::npos) << argv;
  ASSERT_EQ(h.Banger({"vm", "stop", "dm1"}).code, 0);
  EXPECT_FALSE(PathExists("/dev/mapper/" + dm_name)) << "stop removes the snapshot";
  ASSERT_EQ(h.Banger({"vm", "delete", "dm1"}).code, 0);
}

// ---- vm exec -t under a pseudo-terminal ----

struct PtyRun {
  int code = -1;       // exit code, -1 = did not finish
  std::string output;  // everything the terminal showed, "\r" removed
};

// Runs argv with its stdin, stdout and stderr on a new pseudo-terminal of
// rows x cols, as a user at a terminal would; collects what it prints.
// on_output sees the terminal's master side and everything so far after
// each read (to act on the terminal, e.g. resize it).
PtyRun RunOnPty(const std::vector<std::string>& argv, unsigned short rows, unsigned short cols,
                std::chrono::seconds timeout,
                const std::function<void(int master, const std::string& output)>& on_output = {}) {
  winsize ws{};
  ws.ws_row = rows;
  ws.ws_col = cols;
  int master = -1;
  pid_t pid = ::forkpty(&master, nullptr, nullptr, &ws);
  if (pid < 0) return {};
  if (pid == 0) {
    std::vector<char*> cargv;
    cargv.reserve(argv.size() + 1);
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  PtyRun out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{master, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    ssize_t got = ::read(master, buf, sizeof buf);
    if (got <= 0) break;  // EIO: every process on the terminal has closed it
    out.output.append(buf, static_cast<size_t>(got));
    if (on_output) on_output(master, out.output);
  }
  if (std::chrono::steady_clock::now() >= deadline) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(master);
  if (WIFEXITED(status)) out.code = WEXITSTATUS(status);
  std::erase(out.output, '\r');
  return out;
}

// One test (one image build): with -t the guest command is on a pty of the
// terminal's size, exit codes come back through it; without -t, or with -t
// but stdin not a terminal, the guest command has no tty.
TEST(CliE2E, ExecDashTGivesTheGuestCommandATty) {
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(std::string("default_image_name = \"m\"\n") + kTcgConfig));
  auto t0 = std::chrono::steady_clock::now();
  CliRun b = h.Banger({"image", "build", "m", "--profile", "minimal"}, std::chrono::seconds(600));
  std::printf("minimal image build took %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  ASSERT_EQ(b.code, 0) << b.err;
  CliRun c = h.Banger({"vm", "create", "--name", "tty"});
  ASSERT_EQ(c.code, 0) << c.err;
  auto cli = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{BANGER_BIN, "--home", h.root()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  };

  // `tty` names the pty (ttyname() finds it under /dev/pts: one devpts
  // there, and the agent's pty comes from it).
  PtyRun r = RunOnPty(cli({"vm", "exec", "tty", "-t", "--", "sh", "-c",
                           "test -t 0 && test -t 1 && tty && stty size && "
                           "echo devpts:$(grep -c ' /dev/pts devpts ' /proc/mounts)"}),
                      37, 101, std::chrono::seconds(120));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("(^|\n)/dev/pts/[0-9]+\n"))) << r.output;
  EXPECT_NE(r.output.find("37 101\n"), std::string::npos)
      << "the guest pty has the terminal's size: " << r.output;
  EXPECT_NE(r.output.find("devpts:1\n"), std::string::npos) << "one devpts on /dev/pts: " << r.output;
  // `vm run -t` takes the same path in a VM of its own.
  PtyRun run = RunOnPty(cli({"vm", "run", "-t", "--rm", "--name", "ttyrun", "--", "tty"}), 24, 80,
                        std::chrono::seconds(240));
  EXPECT_EQ(run.code, 0) << run.output;
  EXPECT_TRUE(std::regex_search(run.output, std::regex("(^|\n)/dev/pts/[0-9]+\n"))) << run.output;

  // Resizing the terminal reaches the guest pty: the guest prints its size,
  // the test resizes the host terminal once it sees that, and the guest
  // waits (bounded) for its size to change.
  bool resized = false;
  PtyRun rs = RunOnPty(
      cli({"vm", "exec", "tty", "-t", "--", "sh", "-c",
           std::string(
               "echo first:$(stty size); i=0; while [ \"$(stty size)\" = '24 80' ] && [ $i -lt 600 ]; "
               "do sleep 0.1; i=$((i+1)); done; echo second:$(stty size)")}),
      24, 80, std::chrono::seconds(180), [&](int master, const std::string& so_far) {
        if (resized || so_far.find("first:24 80") == std::string::npos) return;
        winsize ws{};
        ws.ws_row = 50;
        ws.ws_col = 132;
        resized = ::ioctl(master, TIOCSWINSZ, &ws) == 0;
      });
  EXPECT_TRUE(resized) << rs.output;
  EXPECT_EQ(rs.code, 0) << rs.output;
  EXPECT_NE(rs.output.find("second:50 132\n"), std::string::npos)
      << "the resize reached the guest: " << rs.output;

  PtyRun five = RunOnPty(cli({"vm", "exec", "tty", "-t", "--", "sh", "-c", "test -t 0 && exit 5"}), 24, 80,
                         std::chrono::seconds(120));
  EXPECT_EQ(five.code, 5) << five.output;

  // Same terminal on the host, no -t: the guest command's stdin is no tty.
  PtyRun no_t = RunOnPty(
      cli({"vm", "exec", "tty", "--", "sh", "-c", "if test -t 0; then echo tty; else echo notty; fi"}), 24,
      80, std::chrono::seconds(120));
  EXPECT_EQ(no_t.code, 0) << no_t.output;
  EXPECT_NE(no_t.output.find("notty\n"), std::string::npos) << no_t.output;
  // -t with stdin not a terminal (RunCommand's pipe) falls back to no tty.
  CliRun piped = h.Banger({"vm", "exec", "tty", "-t", "--", "sh", "-c", "test -t 0 || echo notty"});
  EXPECT_EQ(piped.code, 0) << piped.err;
  EXPECT_EQ(piped.out, "notty\n");
  ASSERT_EQ(h.Banger({"vm", "delete", "tty"}).code, 0);
}

}  // namespace
}  // namespace banger::e2e
