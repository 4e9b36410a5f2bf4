// End to end for the README's `banger image build NAME --profile debian
// --docker`: builds the image for real (debootstrap of Debian bookworm from
// Debian's mirror, plus docker.io and the kernel modules Docker loads), boots
// a VM from it under QEMU TCG and checks, through the guest agent, what the
// profile promises: Debian with systemd as PID 1, OpenSSH (reached with
// `vm ssh`) and git, the
// Docker binaries, a dockerd that starts and answers, a container that runs
// with docker's default security options (AppArmor's docker-default profile:
// the profile installs the apparmor package), and a graceful stop (systemd
// acts on QEMU's ACPI power button).
//
// One image with --docker covers the plain debian profile too: --docker only
// adds packages and modules to the same debootstrap (DebootstrapArgv), so
// everything checked before the Docker part is what `--profile debian`
// gives.
//
// The container image is made on the host (the network is off: nothing is
// pulled): a tar of a static busybox, pushed with `vm cp` and `docker
// import`ed inside the guest.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "e2e_util.h"

namespace banger::e2e {
namespace {

class DebianE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    home_ = new BangerHome();
    // Graceful stop of a systemd guest under TCG takes a while: a long stop
    // timeout, so that a forced stop shows up as a missing power-down line.
    ASSERT_NO_FATAL_FAILURE(home_->WriteConfig(
        "backend = \"qemu\"\nqemu_accel = \"tcg\"\nstop_timeout = \"120s\"\ndefault_image_name = \"deb\"\n"
        "[vm_defaults]\nvcpu_count = 2\nmemory_mib = 1024\nwork_disk_size = \"256M\"\n"
        "system_overlay_size = \"2G\"\n"));
    auto t0 = std::chrono::steady_clock::now();
    CliRun b =
        home_->Banger({"image", "build", "deb", "--profile", "debian", "--docker"}, std::chrono::minutes(40));
    build_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("debian --docker image build took %.1f s\n", build_seconds_);
    ASSERT_EQ(b.code, 0) << b.err;
    t0 = std::chrono::steady_clock::now();
    CliRun c = home_->Banger({"vm", "create", "--name", "deb1"});
    std::printf("vm create (boot to agent) took %.1f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    ASSERT_EQ(c.code, 0) << c.err;
    ready_ = true;
  }
  static void TearDownTestSuite() {
    delete home_;
    home_ = nullptr;
  }
  void SetUp() override {
    if (!ready_) GTEST_SKIP() << "suite setup (image build, vm create) failed";
  }
  static CliRun Exec(const std::string& script, std::chrono::seconds timeout = std::chrono::seconds(300)) {
    return home_->Banger({"vm", "exec", "deb1", "--", "sh", "-c", script}, timeout);
  }
  // Polls a guest command until it exits 0 (systemd units start in their
  // own time under TCG); the last run's result.
  static CliRun ExecUntilOk(const std::string& script, std::chrono::seconds deadline) {
    CliRun last;
    WaitUntil(
        [&] {
          last = Exec(script, std::chrono::seconds(60));
          if (last.code != 0) std::this_thread::sleep_for(std::chrono::seconds(2));
          return last.code == 0;
        },
        deadline);
    return last;
  }
  static BangerHome* home_;
  static bool ready_;
  static double build_seconds_;
};
BangerHome* DebianE2E::home_ = nullptr;
bool DebianE2E::ready_ = false;
double DebianE2E::build_seconds_ = 0;

TEST_F(DebianE2E, ImageIsDebianBookwormWithSystemdSshAndGit) {
  Json img = home_->BangerJson({"image", "show", "deb"});
  EXPECT_EQ(img.value("name", ""), "deb") << img.dump();
  CliRun os = Exec("cat /etc/os-release");
  ASSERT_EQ(os.code, 0) << os.err;
  EXPECT_NE(os.out.find("ID=debian\n"), std::string::npos) << os.out;
  EXPECT_NE(os.out.find("VERSION_CODENAME=bookworm\n"), std::string::npos) << os.out;
  // The image's own init took over from banger's: systemd is PID 1.
  CliRun init = ExecUntilOk("test \"$(cat /proc/1/comm)\" = systemd", std::chrono::seconds(300));
  EXPECT_EQ(init.code, 0) << Exec("cat /proc/1/comm").out;
  EXPECT_EQ(Exec("test -x /usr/sbin/sshd").code, 0) << "openssh-server";
  CliRun git = Exec("git --version");
  EXPECT_EQ(git.code, 0) << git.err;
  EXPECT_EQ(git.out.rfind("git version ", 0), 0u) << git.out;
  // Each VM gets its own machine id (the image's is empty).
  CliRun id = ExecUntilOk("test -s /etc/machine-id", std::chrono::seconds(300));
  EXPECT_EQ(id.code, 0);
  CliRun host = Exec("hostname");
  EXPECT_EQ(host.out, "deb1\n");
}

TEST_F(DebianE2E, SshReachesOpenSshInTheGuest) {
  // systemd starts ssh.service; `vm ssh` gets there through the agent.
  CliRun active = ExecUntilOk("systemctl is-active ssh", std::chrono::seconds(300));
  ASSERT_EQ(active.code, 0) << active.out << active.err;
  CliRun r = home_->Banger({"vm", "ssh", "deb1", "--", "uname", "-n"}, std::chrono::seconds(120));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "deb1\n");
  CliRun code = home_->Banger({"vm", "ssh", "deb1", "--", "sh", "-c", "exit 4"}, std::chrono::seconds(120));
  EXPECT_EQ(code.code, 4) << code.err;
}

TEST_F(DebianE2E, DockerIsInstalledAndDockerdAnswers) {
  for (const char* bin : {"docker", "dockerd", "containerd", "runc"}) {
    CliRun r = Exec(std::string("command -v ") + bin);
    EXPECT_EQ(r.code, 0) << bin << " not installed: " << r.err;
  }
  CliRun v = Exec("docker --version");
  EXPECT_EQ(v.code, 0) << v.err;
  EXPECT_EQ(v.out.rfind("Docker version ", 0), 0u) << v.out;
  // The modules Docker loads on demand are in the image and load.
  CliRun mods = Exec("modprobe overlay && modprobe br_netfilter && modprobe veth && echo loaded");
  EXPECT_EQ(mods.out, "loaded\n") << mods.err;
  // systemd starts dockerd; it answers on its socket.
  auto t0 = std::chrono::steady_clock::now();
  CliRun info = ExecUntilOk("docker info --format '{{.ServerVersion}}'", std::chrono::seconds(600));
  std::printf("dockerd answered %.1f s after the first try\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  EXPECT_EQ(info.code, 0) << info.err << "\n" << Exec("systemctl status docker --no-pager 2>&1; true").out;
  EXPECT_FALSE(info.out.empty());
  CliRun active = Exec("systemctl is-active docker");
  EXPECT_EQ(active.out, "active\n") << active.err;
}

// A tar of a tiny root: /bin/busybox (static) and /bin/sh -> busybox.
std::string MakeTinyRootfsTar(const std::string& dir) {
  std::filesystem::create_directories(dir + "/root/bin");
  std::filesystem::copy_file("/bin/busybox", dir + "/root/bin/busybox");
  std::filesystem::create_symlink("busybox", dir + "/root/bin/sh");
  auto r = RunCommand({"tar", "-C", dir + "/root", "-cf", dir + "/tiny.tar", "."}, std::chrono::seconds(60));
  EXPECT_TRUE(r.ok() && r->exit_code == 0) << (r.ok() ? r->err : r.error().message());
  return dir + "/tiny.tar";
}

TEST_F(DebianE2E, DockerRunsAnImportedImageWithDefaultSecurityOptions) {
  ASSERT_TRUE(IsRegularFile("/bin/busybox")) << "the host needs busybox-static for this test";
  CliRun ready = ExecUntilOk("docker info --format '{{.ServerVersion}}'", std::chrono::seconds(600));
  ASSERT_EQ(ready.code, 0) << ready.err;
  std::string tar = MakeTinyRootfsTar(home_->root() + "/tiny");
  CliRun cp = home_->Banger({"vm", "cp", tar, "deb1:/root/tiny.tar"}, std::chrono::seconds(300));
  ASSERT_EQ(cp.code, 0) << cp.err;
  CliRun imp = Exec("docker import /root/tiny.tar tiny:1");
  ASSERT_EQ(imp.code, 0) << imp.out << imp.err;
  // Default options: AppArmor confines it with docker-default (the failure
  // this guards against: "apparmor_parser": executable file not found).
  auto t0 = std::chrono::steady_clock::now();
  CliRun run = Exec("docker run --rm tiny:1 /bin/sh -c 'echo hello from $(cat /proc/self/attr/current)'");
  std::printf("docker run took %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out, "hello from docker-default (enforce)\n") << run.err;
  // Nothing left behind by --rm.
  CliRun ps = Exec("docker ps -aq");
  EXPECT_EQ(ps.out, "") << ps.err;
}

TEST_F(DebianE2E, StopIsAGracefulPowerOff) {
  CliRun s = home_->Banger({"vm", "stop", "deb1"}, std::chrono::minutes(5));
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_EQ(home_->BangerJson({"vm", "show", "deb1"})["state"], "stopped");
  // systemd ran its shutdown and powered off (a forced stop kills QEMU
  // before the kernel prints this).
  CliRun logs = home_->Banger({"vm", "logs", "deb1"});
  EXPECT_NE(logs.out.find("reboot: Power down"), std::string::npos)
      << logs.out.substr(logs.out.size() > 3000 ? logs.out.size() - 3000 : 0);
  ASSERT_EQ(home_->Banger({"vm", "delete", "deb1"}).code, 0);
}

}  // namespace
}  // namespace banger::e2e
