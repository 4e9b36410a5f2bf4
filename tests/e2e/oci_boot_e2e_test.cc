// Booting an OCI image's root (guest/init/init.sh's OCI mode and
// `banger-agent --pid1`), end to end: a root made by hand with no shell, no
// /sbin/init and nothing of banger's (just /etc/passwd, /etc/group and a
// static busybox at /opt/bb/busybox with no applet links), an initramfs
// written with oci_root from the kernel and modules of a minimal image built
// in the same home, registered with `image import`. QEMU TCG, network off.
//
// Checks: a command runs as root through `vm run --rm`; PID 1 is the agent
// and reaps an orphan; session-start --user resolves a user of the image's
// passwd; `vm stop` goes through the power button and finishes well before
// its timeout. Prints boot-to-agent times of this image and of the minimal
// one, and both stop times. With Debian's generic kernel, a host folder is
// mounted by the initramfs's busybox (the image has no mount).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "banger/init_script.h"
#include "base/strings.h"
#include "e2e_util.h"
#include "image/initramfs.h"
#include "image/kernel_info.h"
#include "image/modules.h"
#include "image/rootfs.h"

namespace banger::e2e {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kBusybox = "/opt/bb/busybox";
constexpr int kStopTimeoutSeconds = 30;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

class OciBootE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(
        h_.WriteConfig("backend = \"qemu\"\nqemu_accel = \"tcg\"\nnetwork = \"off\"\nstop_timeout = \"" +
                       std::to_string(kStopTimeoutSeconds) +
                       "s\"\n"
                       "default_image_name = \"mini\"\n"
                       "[vm_defaults]\nvcpu_count = 1\nmemory_mib = 256\nwork_disk_size = \"128M\"\n"
                       "system_overlay_size = \"512M\"\n"));
  }

  // The minimal image "mini" with Debian's `kernel_flavour` kernel, then
  // "oci" from it.
  void Prepare(const std::string& kernel_flavour) {
    ASSERT_NO_FATAL_FAILURE(h_.BuildAgentImage("mini", kernel_flavour));
    ASSERT_NO_FATAL_FAILURE(MakeOciImage());
  }

  // The image "oci": the hand-made root, an OCI-mode initramfs, and the
  // minimal image's kernel, modules and work seed.
  void MakeOciImage() {
    Json mini = h_.BangerJson({"image", "show", "mini"});
    const std::string modules_dir = mini["modules_dir"].get<std::string>();
    const std::string dir = h_.root() + "/oci-src";
    const std::string root = dir + "/root";
    std::filesystem::create_directories(root + "/etc");
    std::filesystem::create_directories(root + "/opt/bb");
    ASSERT_TRUE(WriteFileAtomic(root + "/etc/passwd",
                                "root:x:0:0:root:/root:/bin/sh\n"
                                "app:x:1000:1000:app:/home/app:/bin/sh\n",
                                0644)
                    .ok());
    ASSERT_TRUE(WriteFileAtomic(root + "/etc/group", "root:x:0:\napp:x:1000:\nstaff:x:50:app\n", 0644).ok());
    std::filesystem::copy_file("/bin/busybox", root + kBusybox);
    std::filesystem::permissions(root + kBusybox, std::filesystem::perms(0755));
    ASSERT_FALSE(std::filesystem::exists(root + "/bin/sh"));
    ASSERT_FALSE(std::filesystem::exists(root + "/sbin/init"));
    auto ext4 = MakeExt4({dir + "/rootfs.ext4", int64_t{64} << 20, "banger-root", root, /*journal=*/false});
    ASSERT_TRUE(ext4.ok()) << ext4.error().message();

    // The kernel's modules, resolved as the image builder does.
    std::string kver;
    for (const auto& e : std::filesystem::directory_iterator(modules_dir + "/lib/modules")) {
      kver = e.path().filename().string();
    }
    ASSERT_FALSE(kver.empty()) << modules_dir;
    const std::string kdir = modules_dir + "/lib/modules/" + kver;
    auto dep = ReadFile(kdir + "/modules.dep");
    ASSERT_TRUE(dep.ok()) << dep.error().message();
    std::string builtin;
    if (PathExists(kdir + "/modules.builtin")) builtin = ReadFile(kdir + "/modules.builtin").value();
    auto index = ModuleIndex::Parse(*dep, builtin);
    ASSERT_TRUE(index.ok()) << index.error().message();
    auto modules = index->Resolve(InitramfsModuleRoots());
    ASSERT_TRUE(modules.ok()) << modules.error().message();
    InitramfsSpec spec{kGuestInitScript, "/bin/busybox", BANGER_AGENT_BIN, modules_dir, kver, *modules};
    spec.oci_root = true;
    if (KernelHas9p(*index)) {
      std::vector<std::string> roots = InitramfsModuleRoots();
      roots.insert(roots.end(), MountModuleRoots().begin(), MountModuleRoots().end());
      auto all = index->Resolve(roots);
      ASSERT_TRUE(all.ok()) << all.error().message();
      std::vector<ModuleFile> extra;
      for (const ModuleFile& m : *all) {
        if (std::find(modules->begin(), modules->end(), m) == modules->end()) extra.push_back(m);
      }
      spec.mount_modules = extra;
    }
    auto initrd = WriteInitramfs(dir + "/initrd.img", spec);
    ASSERT_TRUE(initrd.ok()) << initrd.error().message();

    CliRun r = h_.Banger({"image", "import", "oci", "--kernel", mini["kernel_path"].get<std::string>(),
                          "--rootfs", dir + "/rootfs.ext4", "--initrd", dir + "/initrd.img", "--modules",
                          modules_dir, "--work-seed", mini["work_seed_path"].get<std::string>()});
    ASSERT_EQ(r.code, 0) << r.err;
  }

  // `vm exec VM -- ARGS...`; the test fails when it does not exit 0.
  std::string Exec(const std::string& vm, const std::vector<std::string>& args) {
    std::vector<std::string> argv{"vm", "exec", vm, "--"};
    argv.insert(argv.end(), args.begin(), args.end());
    CliRun r = h_.Banger(argv, 240s);
    EXPECT_EQ(r.code, 0) << vm << ": " << args.back() << ": " << r.err;
    return r.out;
  }
  std::string Sh(const std::string& vm, const std::string& script) {
    return Exec(vm, {kBusybox, "sh", "-c", script});
  }

  // `vm create` of `image`, then the first exec that answers: seconds from
  // the create to the agent running commands.
  double BootToAgent(const std::string& vm, const std::string& image, const std::string& probe) {
    auto start = Clock::now();
    CliRun c = h_.Banger({"vm", "create", "--name", vm, "--image", image}, 240s);
    EXPECT_EQ(c.code, 0) << c.err;
    CliRun e = h_.Banger({"vm", "exec", vm, "--", probe}, 240s);
    EXPECT_EQ(e.code, 0) << e.err;
    return Seconds(Clock::now() - start);
  }

  double Stop(const std::string& vm) {
    auto start = Clock::now();
    CliRun s = h_.Banger({"vm", "stop", vm}, 240s);
    EXPECT_EQ(s.code, 0) << s.err;
    return Seconds(Clock::now() - start);
  }

  BangerHome h_;
};

TEST_F(OciBootE2E, RootWithoutShellBootsWithTheAgentAsPid1) {
  ASSERT_NO_FATAL_FAILURE(Prepare("cloud"));
  // A one-shot command, as root.
  CliRun run = h_.Banger({"vm", "run", "--rm", "--image", "oci", "--", kBusybox, "id"}, 300s);
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out, "uid=0(root) gid=0(root)\n");

  double oci_boot = BootToAgent("o1", "oci", kBusybox);
  EXPECT_EQ(Exec("o1", {kBusybox, "cat", "/proc/1/comm"}), "banger-agent\n");
  EXPECT_EQ(Exec("o1", {kBusybox, "cat", "/etc/hostname"}), "o1\n");
  // What init.sh made and --pid1 mounted.
  std::string mounts = Exec("o1", {kBusybox, "cat", "/proc/mounts"});
  for (const char* want :
       {" /dev/shm tmpfs ", " /tmp tmpfs ", " /sys/fs/cgroup cgroup2 ", " /root ext4 ", " /run tmpfs "}) {
    EXPECT_NE(mounts.find(want), std::string::npos) << want << " not in\n" << mounts;
  }
  EXPECT_EQ(Sh("o1", "/opt/bb/busybox stat -c %a /tmp"), "1777\n");

  // An orphan: the shell exits at once, its sleep goes to PID 1, which must
  // reap it once it ends.
  Sh("o1", "/opt/bb/busybox sleep 1 &");
  std::this_thread::sleep_for(2500ms);
  EXPECT_EQ(Sh("o1", "/opt/bb/busybox cat /proc/[0-9]*/stat | /opt/bb/busybox grep -c ') Z ' || true"), "0\n")
      << Exec("o1", {kBusybox, "ps"});

  // A user from the image's own passwd, through the agent's session-start
  // (the daemon's exec does not pass a user yet).
  std::string started =
      Exec("o1", {"/usr/local/sbin/banger-agent", "session-start", "/run/s-app", "--user", "app", "--",
                  kBusybox, "sh", "-c", "/opt/bb/busybox id; echo $HOME; /opt/bb/busybox pwd"});
  EXPECT_NE(started.find("\"pid\""), std::string::npos) << started;
  std::string out;
  EXPECT_TRUE(WaitUntil(
      [&] {
        out = Sh("o1", "/opt/bb/busybox cat /run/s-app/stdout");
        return out.find("\n/") != std::string::npos && out.back() == '\n' &&
               std::count(out.begin(), out.end(), '\n') >= 3;
      },
      20s));
  EXPECT_EQ(out, "uid=1000(app) gid=1000(app) groups=50(staff)\n/home/app\n/\n");
  CliRun unknown = h_.Banger({"vm", "exec", "o1", "--", "/usr/local/sbin/banger-agent", "session-start",
                              "/run/s-nobody", "--user", "nobody", "--", kBusybox, "true"},
                             120s);
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.out.find("unable to find user nobody: no matching entries in passwd file"),
            std::string::npos)
      << unknown.out << unknown.err;

  // A graceful stop: QEMU's power button reaches --pid1, which powers off.
  double oci_stop = Stop("o1");
  EXPECT_LT(oci_stop, kStopTimeoutSeconds - 10) << "the stop waited for its timeout";
  CliRun logs = h_.Banger({"vm", "logs", "o1"});
  EXPECT_NE(logs.out.find("banger-pid1: power button: stopping every process"), std::string::npos)
      << logs.out;
  EXPECT_NE(logs.out.find("banger-pid1: powering off"), std::string::npos) << logs.out;
  for (const auto& line : Split(logs.out, '\n')) {
    if (line.find("banger-pid1:") != std::string::npos) std::printf("o1 console: %s\n", line.c_str());
  }

  double mini_boot = BootToAgent("m1", "mini", "true");
  // The minimal image's power button goes to its acpid, which busybox init
  // starts only after the agent is up: give it the time to.
  std::this_thread::sleep_for(5s);
  double mini_stop = Stop("m1");
  std::printf("oci-boot: boot to agent %.2f s (minimal image %.2f s); stop %.2f s (minimal image %.2f s)\n",
              oci_boot, mini_boot, oci_stop, mini_stop);
}

// Host folders need a mount in the image's root, and the image has no
// shell and no mount: the initramfs's busybox does it (Debian's generic
// kernel has 9p), and leaves nothing of itself behind.
TEST_F(OciBootE2E, HostFoldersMountWithoutToolsInTheImage) {
  ASSERT_NO_FATAL_FAILURE(Prepare("generic"));
  const std::string host = h_.root() + "/shared";
  std::filesystem::create_directories(host);
  ASSERT_TRUE(WriteFileAtomic(host + "/hello", "from the host\n", 0644).ok());
  // QEMU serves the folder as the VMM user (docs/security.md).
  ASSERT_EQ(::chmod(h_.root().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(host.c_str(), 0777), 0);
  CliRun c =
      h_.Banger({"vm", "create", "--name", "f1", "--image", "oci", "--mount", host + ":/data/in here"}, 240s);
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(Exec("f1", {kBusybox, "cat", "/data/in here/hello"}), "from the host\n");
  Sh("f1", "echo from the guest > '/data/in here/back' && /opt/bb/busybox sync");
  auto back = ReadFile(host + "/back");
  EXPECT_EQ(back.ok() ? *back : "", "from the guest\n");
  EXPECT_EQ(Sh("f1", "/opt/bb/busybox ls -a / | /opt/bb/busybox grep -c banger || true"), "0\n")
      << Exec("f1", {kBusybox, "ls", "-a", "/"});
  double stop = Stop("f1");
  EXPECT_LT(stop, kStopTimeoutSeconds - 10);
  std::printf("oci-boot: generic kernel with a host folder: stop %.2f s\n", stop);
}

}  // namespace
}  // namespace banger::e2e
