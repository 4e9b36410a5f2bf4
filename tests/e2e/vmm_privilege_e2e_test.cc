// End to end: what a VMM process may touch (docs/security.md "VMM processes").
// A real daemon (root) boots a real QEMU TCG guest: the VMM must run as the
// unprivileged vmm user under seccomp and hold none of the daemon's files;
// a process of another user that names a VM's sockets must never be adopted
// or signalled, and no path from its argv removed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "base/account.h"
#include "base/testing/proc_status.h"
#include "e2e_util.h"

namespace banger::e2e {
namespace {

constexpr const char* kTcgConfig =
    "backend = \"qemu\"\nqemu_accel = \"tcg\"\nstop_timeout = \"3s\"\ndefault_image_name = \"base\"\n";

using banger::testing::StatusField;

// What each descriptor of pid points at (readlink of /proc/<pid>/fd/*).
std::vector<std::string> FdTargets(pid_t pid) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    auto t = std::filesystem::read_symlink(e.path(), ec);
    if (!ec) out.push_back(t.string());
  }
  return out;
}

bool NeedsRoot() { return ::geteuid() != 0; }

TEST(VmmPrivilegeE2E, QemuRunsAsTheVmmUserSandboxedWithOnlyItsOwnFiles) {
  if (NeedsRoot()) GTEST_SKIP() << "the privilege drop needs a root daemon";
  auto vmm_user = LookupUser("banger-vmm");
  ASSERT_TRUE(vmm_user.ok()) << "run scripts/install-deps.sh: " << vmm_user.error().message();
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(kTcgConfig));
  ASSERT_NO_FATAL_FAILURE(h.ImportTestGuest());
  CliRun c = h.Banger({"vm", "create", "--name", "p1", "--vcpus", "1", "--memory", "256"});
  ASSERT_EQ(c.code, 0) << c.err;
  Json vm = h.BangerJson({"vm", "show", "p1"});
  ASSERT_EQ(vm["state"], "running");
  pid_t pid = vm["handles"]["pid"];
  std::string vm_dir = vm["runtime"]["vm_dir"];
  ASSERT_TRUE(h.WaitForConsole("p1", {"banger-test-guest: init ready"}))
      << h.Banger({"vm", "logs", "p1"}).out;

  // Every uid (real, effective, saved, fs) is the vmm user's; seccomp filter mode.
  std::string uid = std::to_string(vmm_user->uid);
  EXPECT_EQ(StatusField(pid, "Uid"), uid + "\t" + uid + "\t" + uid + "\t" + uid);
  EXPECT_NE(StatusField(pid, "Uid").rfind("0\t", 0), 0u);
  EXPECT_EQ(StatusField(pid, "Seccomp"), "2");
  EXPECT_EQ(vm["handles"]["vmm_uid"], vmm_user->uid);

  // Its descriptors: its own disks, sockets, console and /dev files only.
  pid_t daemon = h.DaemonPid();
  ASSERT_GT(daemon, 0);
  std::set<std::string> daemon_sockets;
  for (const auto& t : FdTargets(daemon)) {
    if (t.rfind("socket:", 0) == 0) daemon_sockets.insert(t);
  }
  auto targets = FdTargets(pid);
  ASSERT_FALSE(targets.empty());
  for (const auto& t : targets) {
    SCOPED_TRACE(t);
    EXPECT_EQ(t.find("bangerd"), std::string::npos);
    EXPECT_EQ(t.find("banger.db"), std::string::npos);
    EXPECT_EQ(daemon_sockets.count(t), 0u) << "a socket the daemon holds";
    if (t[0] == '/') {
      bool own = t.rfind(vm_dir + "/", 0) == 0 || t.rfind("/dev/", 0) == 0 ||
                 t.rfind(h.root() + "/images/", 0) == 0 || t.rfind(GuestDir(), 0) == 0;
      EXPECT_TRUE(own) << "a file that is not the VM's";
    }
  }
  ASSERT_EQ(h.Banger({"vm", "stop", "p1", "--timeout", "1"}).code, 0);
}

TEST(VmmPrivilegeE2E, AnotherUsersProcessNamingTheVmSocketIsNeitherAdoptedNorSignalled) {
  if (NeedsRoot()) GTEST_SKIP() << "needs root to start a process as nobody";
  BangerHome h;
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(kTcgConfig));
  ASSERT_NO_FATAL_FAILURE(h.ImportTestGuest());
  ASSERT_EQ(h.Banger({"vm", "create", "--name", "p2", "--vcpus", "1", "--memory", "256"}).code, 0);
  Json vm = h.BangerJson({"vm", "show", "p2"});
  pid_t vmm = vm["handles"]["pid"];
  std::string vm_dir = vm["runtime"]["vm_dir"];
  std::string api_sock = vm["runtime"]["api_sock_path"];
  // Daemon and VMM die; a local user (nobody) then runs a process whose argv
  // names the VM's QMP socket and, as its "agent socket", a file of root's.
  pid_t daemon = h.DaemonPid();
  ASSERT_GT(daemon, 0);
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  ASSERT_EQ(::kill(vmm, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] { return !RealProcessOps().Alive(vmm) && !RealProcessOps().Alive(daemon); },
                        std::chrono::seconds(5)));
  std::string victim = h.root() + "/victim";
  ASSERT_TRUE(WriteFileAtomic(victim, "precious", 0600).ok());
  auto foreign = SpawnDetached({.argv = {"sh", "-c", "sleep 300; :", "qemu-system-x86_64", "-qmp",
                                         "unix:" + api_sock + ",server=on,wait=off", "-chardev",
                                         "socket,id=ag,path=" + victim + ",server=on,wait=off"},
                                .run_as = Credentials{65534, 65534, {}}});
  ASSERT_TRUE(foreign.ok()) << foreign.error().message();
  struct Killer {  // its whole process group (sh and its sleep), in a session of their own
    pid_t pid;
    ~Killer() {
      pid_t group = ::getpgid(pid);
      if (group > 1) ::kill(-group, SIGKILL);
      ::kill(pid, SIGKILL);
    }
  } killer{*foreign};
  ASSERT_TRUE(CmdlineMentions(RealProcessOps().Cmdline(*foreign), api_sock));

  // The next CLI call starts a daemon, whose reconcile must not take it for the VM.
  Json after = h.BangerJson({"vm", "show", "p2"});
  EXPECT_EQ(after["state"], "stopped");
  // Stopping (and deleting) the VM must leave it and the file alone.
  EXPECT_EQ(h.Banger({"vm", "stop", "p2", "--timeout", "1"}).code, 0);
  EXPECT_EQ(h.Banger({"vm", "delete", "p2"}).code, 0);
  EXPECT_TRUE(RealProcessOps().Alive(*foreign)) << "another user's process was signalled";
  EXPECT_TRUE(PathExists(victim)) << "a path from another process's argv was removed";
}

}  // namespace
}  // namespace banger::e2e
