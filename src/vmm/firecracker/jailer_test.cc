// The jailer's argv, the chroot banger builds for it, the wait for its exec
// into firecracker, and the device check that refuses an unjailed
// firecracker its vmm user could not run.
#include "vmm/firecracker/jailer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>

#include "base/fs.h"
#include "base/testing/fake_process_ops.h"
#include "base/testing/temp_dir.h"
#include "vmm/launch_util.h"

namespace banger {
namespace {

using testing::FakeProcs;
using testing::TempDir;

ino_t Inode(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

void Touch(const std::string& path, const std::string& text = "x") { std::ofstream(path) << text; }

LaunchSpec SpecIn(const TempDir& t) {
  LaunchSpec s;
  s.vm_id = "0123456789abcdef0123456789abcdef";
  s.vm_name = "web-1";
  s.vm_dir = t / "vm";
  std::filesystem::create_directories(s.vm_dir);
  std::filesystem::create_directories(t / "img");
  s.kernel_path = t / "img/vmlinux";
  s.initrd_path = t / "img/initrd.img";
  s.drives = {{"rootfs", t / "img/rootfs.ext4", true},
              {"overlay", s.vm_dir + "/overlay.ext4", false},
              {"work", s.vm_dir + "/work.ext4", false}};
  for (const auto& p : {s.kernel_path, s.initrd_path}) Touch(p);
  for (const auto& d : s.drives) Touch(d.path);
  for (const auto& p : {s.kernel_path, s.initrd_path, s.drives[0].path}) ::chmod(p.c_str(), 0600);
  s.control_sock_path = s.vm_dir + "/api.sock";
  s.vsock_path = s.vm_dir + "/v.sock";
  s.vmm_log_path = s.vm_dir + "/vmm.log";
  s.metrics_path = s.vm_dir + "/metrics.json";
  s.console_log_path = s.vm_dir + "/console.log";
  return s;
}

TEST(JailerTest, LayoutLivesInTheVmDirectoryNamedByTheVm) {
  LaunchSpec s;
  s.vm_id = "0123456789abcdef";
  s.vm_name = "web-1";
  s.vm_dir = "/var/lib/banger/vms/0123456789abcdef";
  JailLayout j = JailLayoutFor(s, "/usr/local/bin/firecracker-v1.14");
  EXPECT_EQ(j.base, "/var/lib/banger/vms/0123456789abcdef/jail");
  EXPECT_EQ(j.id, "web-1");
  EXPECT_EQ(j.dir, j.base + "/firecracker-v1.14/web-1");
  EXPECT_EQ(j.root, j.dir + "/root");
  EXPECT_EQ(j.exe, j.root + "/firecracker-v1.14");
  EXPECT_EQ(j.exec_file, "/usr/local/bin/firecracker-v1.14");
  // A name the jailer refuses ([A-Za-z0-9-]{1,64}) gives way to the id.
  s.vm_name = "web_1";
  EXPECT_EQ(JailLayoutFor(s, "/fc").id, "0123456789abcdef");
  s.vm_name = std::string(65, 'a');
  EXPECT_EQ(JailLayoutFor(s, "/fc").id, "0123456789abcdef");
}

TEST(JailerTest, ArgvRunsFirecrackerAsTheJailUserInTheVmsChrootBase) {
  JailLayout j;
  j.base = "/h/vms/abc/jail";
  j.id = "web-1";
  j.exec_file = "/usr/bin/firecracker";
  EXPECT_EQ(JailerArgv("/usr/bin/jailer", j, 999, 995, {"--api-sock", "api.sock"}),
            (std::vector<std::string>{
                "/usr/bin/jailer", "--id", "web-1", "--exec-file", "/usr/bin/firecracker", "--uid", "999",
                "--gid", "995", "--chroot-base-dir", "/h/vms/abc/jail", "--", "--api-sock", "api.sock"}));
}

TEST(JailerTest, PrepareLinksInputsOwnsWhatFcWritesAndPointsSocketsIntoTheJail) {
  TempDir t("banger-jail");
  LaunchSpec s = SpecIn(t);
  JailLayout j = JailLayoutFor(s, "/usr/bin/firecracker");
  // Leftovers of an earlier run are removed, not reused.
  std::filesystem::create_directories(j.root);
  Touch(j.root + "/stale");
  Touch(s.control_sock_path);
  // As root, the jail user is somebody else; otherwise ourselves.
  const uid_t uid = ::geteuid() == 0 ? 65534 : ::geteuid();
  const gid_t gid = ::geteuid() == 0 ? 65534 : ::getegid();

  auto r = PrepareJail(s, j, uid, gid);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_FALSE(PathExists(j.root + "/stale"));
  // Every path FC is given is relative to the chroot's root.
  EXPECT_EQ(r->kernel_path, "kernel");
  EXPECT_EQ(r->initrd_path, "initrd");
  EXPECT_EQ(r->control_sock_path, "api.sock");
  EXPECT_EQ(r->vsock_path, "v.sock");
  EXPECT_EQ(r->vmm_log_path, "vmm.log");
  EXPECT_EQ(r->metrics_path, "metrics.json");
  ASSERT_EQ(r->drives.size(), 3u);
  EXPECT_EQ(r->drives[0].path, "rootfs.img");
  EXPECT_EQ(r->drives[1].path, "overlay.img");
  EXPECT_TRUE(r->drives[0].read_only);
  EXPECT_FALSE(r->drives[2].read_only);
  // Hard links: what FC writes lands in the VM's own files.
  EXPECT_EQ(Inode(j.root + "/kernel"), Inode(s.kernel_path));
  EXPECT_EQ(Inode(j.root + "/rootfs.img"), Inode(s.drives[0].path));
  EXPECT_EQ(Inode(j.root + "/work.img"), Inode(s.drives[2].path));
  EXPECT_EQ(Inode(j.root + "/vmm.log"), Inode(s.vmm_log_path));
  EXPECT_EQ(Inode(j.root + "/metrics.json"), Inode(s.metrics_path));
  struct stat st {};
  for (const char* mine : {"overlay.img", "work.img", "vmm.log", "metrics.json"}) {
    ASSERT_EQ(::stat((j.root + "/" + mine).c_str(), &st), 0) << mine;
    EXPECT_EQ(st.st_uid, uid) << mine;
    EXPECT_EQ(st.st_gid, gid) << mine;
  }
  // Read-only inputs are root's (the daemon makes them owner-only at each
  // start): the jail's group may read them.
  for (const char* in : {"kernel", "initrd", "rootfs.img"}) {
    ASSERT_EQ(::stat((j.root + "/" + in).c_str(), &st), 0) << in;
    EXPECT_EQ(st.st_gid, gid) << in;
    EXPECT_NE(st.st_mode & S_IRGRP, 0u) << in;
  }
  // The VM's socket paths lead into the jail.
  EXPECT_EQ(std::filesystem::read_symlink(s.control_sock_path).string(), j.root + "/api.sock");
  EXPECT_EQ(std::filesystem::read_symlink(s.vsock_path).string(), j.root + "/v.sock");
  // The VM directory stays the daemon's alone.
  ASSERT_EQ(::stat(s.vm_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, ::geteuid());
  EXPECT_EQ(st.st_mode & 07777, 0700u);

  ASSERT_TRUE(RemoveJail(s.vm_dir).ok());
  EXPECT_FALSE(PathExists(j.base));
  EXPECT_TRUE(IsRegularFile(s.drives[2].path)) << "removing the jail keeps the VM's disks";
}

TEST(JailerTest, PrepareRefusesAMissingInput) {
  TempDir t("banger-jail");
  LaunchSpec s = SpecIn(t);
  s.drives[1].path = t / "missing.ext4";
  auto r = PrepareJail(s, JailLayoutFor(s, "/usr/bin/firecracker"), ::geteuid(), ::getegid());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("missing.ext4"), std::string::npos) << r.error().message();
}

TEST(JailerTest, JailGuardRemovesTheJailUnlessReleased) {
  TempDir t("banger-jail");
  std::filesystem::create_directories(t / "jail/firecracker/x/root");
  { JailGuard g(t.path()); }
  EXPECT_FALSE(PathExists(t / "jail"));
  std::filesystem::create_directories(t / "jail/firecracker/x/root");
  {
    JailGuard g(t.path());
    g.Release();
  }
  EXPECT_TRUE(PathExists(t / "jail"));
}

// The jailer's pid keeps its start time across exec; only the executable
// changes, to the copy in the chroot.
class ExecingProcs : public FakeProcs {
 public:
  ProcIdentity before, after;
  std::atomic<int> calls{0};
  int exec_after = 3;
  bool dies = false;
  Result<ProcIdentity> Identify(pid_t pid) override {
    if (pid != before.pid) return Error::NotFound("gone");
    int n = ++calls;
    if (n < exec_after) return before;
    if (dies) return Error::NotFound("gone");
    return after;
  }
};

TEST(JailerTest, WaitForJailedExecRecordsFirecrackerNotTheJailer) {
  TempDir t("banger-jail");
  JailLayout j;
  j.root = t.path();
  j.exe = t / "firecracker";
  Touch(j.exe);
  struct stat st {};
  ASSERT_EQ(::stat(j.exe.c_str(), &st), 0);
  ExecingProcs procs;
  procs.before = ProcIdentity{4321, 0, 777, 1, 12345};
  procs.after =
      ProcIdentity{4321, 999, 777, static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
  auto who = WaitForJailedExec(procs, 4321, j, 999, std::chrono::seconds(2));
  ASSERT_TRUE(who.ok()) << who.error().message();
  EXPECT_EQ(who->exe_ino, static_cast<uint64_t>(st.st_ino));
  EXPECT_EQ(who->uid, 999u);
  EXPECT_EQ(who->start_time, 777u);

  ExecingProcs dying;
  dying.before = procs.before;
  dying.dies = true;
  auto gone = WaitForJailedExec(dying, 4321, j, 999, std::chrono::seconds(2));
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind(), ErrorKind::kUnavailable);
  EXPECT_NE(gone.error().message().find("jailer exited"), std::string::npos);
}

TEST(JailerTest, WaitForJailedExecKillsAJailerThatNeverExecs) {
  TempDir t("banger-jail");
  JailLayout j;
  j.exe = t / "firecracker";  // never appears
  FakeProcs procs;
  pid_t pid = procs.AddAs({"jailer"}, ::geteuid(), 55);
  auto r = WaitForJailedExec(procs, pid, j, 999, std::chrono::milliseconds(50));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTimeout);
  EXPECT_FALSE(procs.Alive(pid));
}

BackendOptions WithVmmUser(std::function<Result<int>(const std::string&, const Credentials&)> open_as) {
  BackendOptions o;
  o.vmm_user = UserAccount{"banger-vmm", 999, 995, {995}};
  o.open_as = std::move(open_as);
  return o;
}

TEST(FirecrackerDevicesTest, RefusesInOneLineWhatTheVmmUserCannotOpen) {
  std::vector<std::string> asked;
  auto kvm_denied = WithVmmUser([&](const std::string& p, const Credentials& who) -> Result<int> {
    asked.push_back(p);
    EXPECT_EQ(who.uid, 999u);
    return p == "/dev/kvm" ? EACCES : 0;
  });
  Status st = CheckFirecrackerDevices(kvm_denied, false);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(),
            "firecracker: /dev/kvm is not accessible to vmm_user banger-vmm (add it to group kvm, or set "
            "jailer_bin, or vmm_user = \"root\")");
  EXPECT_EQ(asked, (std::vector<std::string>{"/dev/kvm"}));

  auto tun_denied = WithVmmUser([](const std::string& p, const Credentials&) -> Result<int> {
    return p == "/dev/net/tun" ? EPERM : 0;
  });
  EXPECT_TRUE(CheckFirecrackerDevices(tun_denied, false).ok()) << "no NIC: /dev/net/tun is never opened";
  Status tun = CheckFirecrackerDevices(tun_denied, true);
  ASSERT_FALSE(tun.ok());
  EXPECT_NE(tun.error().message().find("/dev/net/tun is not accessible to vmm_user banger-vmm"),
            std::string::npos);

  auto missing = WithVmmUser([](const std::string&, const Credentials&) -> Result<int> { return ENOENT; });
  Status m = CheckFirecrackerDevices(missing, false);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message(), "firecracker: /dev/kvm: No such file or directory");
}

TEST(FirecrackerDevicesTest, NoCheckUnderTheJailerOrWithoutAVmmUser) {
  int calls = 0;
  auto deny = [&](const std::string&, const Credentials&) -> Result<int> {
    ++calls;
    return EACCES;
  };
  BackendOptions jailed = WithVmmUser(deny);
  jailed.jailer_bin = "jailer";
  EXPECT_TRUE(CheckFirecrackerDevices(jailed, true).ok());
  BackendOptions as_daemon;
  as_daemon.open_as = deny;
  EXPECT_TRUE(CheckFirecrackerDevices(as_daemon, true).ok());
  EXPECT_EQ(calls, 0);
}

TEST(FirecrackerDevicesTest, LaunchRefusesBeforeSpawning) {
  TempDir t("banger-jail");
  LaunchSpec s = SpecIn(t);
  BackendOptions o =
      WithVmmUser([](const std::string&, const Credentials&) -> Result<int> { return EACCES; });
  // A spawn would fail differently ("spawning firecracker").
  o.firecracker_bin = t / "no-such-firecracker";
  FakeProcs procs;
  auto backend = MakeFirecrackerBackend(o, procs);
  auto r = backend->Launch(s, std::chrono::seconds(2));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kUnavailable);
  EXPECT_NE(r.error().message().find("firecracker: /dev/kvm is not accessible to vmm_user banger-vmm"),
            std::string::npos)
      << r.error().message();
  EXPECT_EQ(r.error().message().find('\n'), std::string::npos);
}

// The probe itself: a file only its owner may open.
TEST(OpenErrnoAsTest, AsksTheKernelWithTheUsersCredentials) {
  TempDir t("banger-jail");
  std::string f = t / "dev";
  Touch(f);
  Credentials me{::geteuid(), ::getegid(), {}};
  if (::geteuid() == 0) {
    ASSERT_EQ(::chmod(f.c_str(), 0600), 0);
    ASSERT_EQ(::chmod(t.path().c_str(), 0755), 0);
    auto root = OpenErrnoAs(f, me);
    ASSERT_TRUE(root.ok()) << root.error().message();
    EXPECT_EQ(*root, 0);
    auto nobody = OpenErrnoAs(f, Credentials{65534, 65534, {}});
    ASSERT_TRUE(nobody.ok()) << nobody.error().message();
    EXPECT_EQ(*nobody, EACCES);
  } else {
    auto mine = OpenErrnoAs(f, me);
    ASSERT_TRUE(mine.ok()) << mine.error().message();
    EXPECT_EQ(*mine, 0);
    ASSERT_EQ(::chmod(f.c_str(), 0), 0);
    auto none = OpenErrnoAs(f, me);
    ASSERT_TRUE(none.ok()) << none.error().message();
    EXPECT_EQ(*none, EACCES);
  }
  auto missing = OpenErrnoAs(t / "missing", me);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(*missing, ENOENT);
}

}  // namespace
}  // namespace banger
