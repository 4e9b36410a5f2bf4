// containerd-shim-banger-v2 end to end under Debian's containerd 1.6 and its
// `ctr`: each task runs in a banger VM of the test's home (QEMU TCG, network
// on, inside namespaces of the test's own). A private containerd
// (containerd_fixture.h) serves a busybox root (`ctr run --rootfs`) and a
// busybox OCI image made with umoci (`ctr image import`).
//
// Checks: output and exit codes through `ctr run --rm` (the shim named by
// path and by runtime name, found in containerd's PATH); a detached task's
// exec, SIGTERM, delete, after which no VM, mount or bundle is left; a pod
// (CRI's sandbox annotations) of four containers in one VM, one of them with
// a root of its own; a task whose output and exit code go through a bangerd
// restart; a task that survives a containerd restart, and a killed shim
// whose VM goes away.
//
// main() builds the home's first image in the host namespace (it fetches the
// guest kernel through apt, which the shim's VM roots then take from the
// home's cache), then re-executes this binary under `unshare --net --mount`
// with a private /run (containerd and ctr keep FIFOs and sockets in
// /run/containerd). Skips without root, containerd, ctr or umoci.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "containerd_fixture.h"
#include "e2e_util.h"

namespace banger::e2e {

inline std::string Config(const std::string& network) {
  return "backend = \"qemu\"\nqemu_accel = \"tcg\"\ndefault_image_name = \"t\"\nstop_timeout = \"5s\"\n"
         "network = \"" +
         network + "\"\ntap_pool_size = 1\n[vm_defaults]\nvcpu_count = 1\nmemory_mib = 256\n";
}

namespace {

using namespace std::chrono_literals;

constexpr const char* kHomeEnv = "BANGER_E2E_NETNS_HOME";
constexpr const char* kImageBase = "localhost/banger-e2e";
constexpr const char* kImage = "localhost/banger-e2e:bb";
// The first run in a home builds a VM root (and may wait for the daemon).
constexpr auto kRunTimeout = 300s;

std::string Chomp(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

class ContainerdE2E : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    delete ctrd_;  // first: its tasks' VMs belong to the home's daemon
    ctrd_ = nullptr;
    delete home_;
    home_ = nullptr;
  }

  void SetUp() override {
    const std::string blocker = ContainerdTestBlocker();
    if (!blocker.empty()) GTEST_SKIP() << blocker;
    ASSERT_NE(std::getenv(kHomeEnv), nullptr) << "must run inside its own namespaces (see main)";
    ASSERT_FALSE(setup_failed_) << "the suite's setup failed in an earlier test";
    if (ctrd_ == nullptr) {
      setup_failed_ = true;
      ASSERT_NO_FATAL_FAILURE(PrepareSuite());
      setup_failed_ = false;
    }
    ASSERT_TRUE(ctrd_->running()) << "containerd is not running (an earlier test stopped it)";
  }

  void TearDown() override {
    if (ctrd_ == nullptr) return;
    if (HasFailure()) {
      std::fprintf(stderr, "--- containerd's log (%s) ends:\n%s\n--- end of containerd's log\n",
                   ctrd_->log_path().c_str(), ctrd_->LogTail().c_str());
    }
    // The next test starts with no task or container, whatever this one left.
    if (ctrd_->running()) ctrd_->CleanAll();
  }

  // The home (its daemon started), a busybox root and image, containerd with
  // the image imported.
  static void PrepareSuite() {
    home_ = new BangerHome(std::getenv(kHomeEnv));
    ASSERT_NO_FATAL_FAILURE(home_->WriteConfig(Config("on")));
    CliRun list = home_->Banger({"vm", "list"});
    ASSERT_EQ(list.code, 0) << "starting the daemon: " << list.err;
    const std::string work = home_->root() + "/ctr-work";
    rootfs_ = work + "/rootfs";
    Status st = MakeBusyboxRootfs(rootfs_);
    ASSERT_TRUE(st.ok()) << st.error().message();
    // Another root for a pod's container: not the sandbox's image.
    other_rootfs_ = work + "/other-rootfs";
    st = MakeBusyboxRootfs(other_rootfs_);
    ASSERT_TRUE(st.ok()) << st.error().message();
    st = WriteFileAtomic(other_rootfs_ + "/marker", "the other root\n", 0644);
    ASSERT_TRUE(st.ok()) << st.error().message();
    const std::string tar = work + "/bb.tar";
    st = MakeBusyboxImageTar(work + "/img", "bb", tar);
    ASSERT_TRUE(st.ok()) << st.error().message();

    ctrd_ = new Containerd({.dir = "/tmp/bgd-" + std::to_string(::getpid()),
                            .banger_home = home_->root(),
                            .shim_dir = std::filesystem::path(SHIM_BIN).parent_path().string()});
    st = ctrd_->Start();
    ASSERT_TRUE(st.ok()) << st.error().message();
    std::fprintf(stderr, "containerd at %s, snapshotter %s\n", ctrd_->address().c_str(),
                 ctrd_->snapshotter().c_str());
    CtrResult r = ctrd_->Ctr({"image", "import", "--base-name", kImageBase, tar});
    ASSERT_EQ(r.code, 0) << r.Describe();
    r = ctrd_->Ctr({"image", "ls", "-q"});
    ASSERT_NE(r.out.find(kImage), std::string::npos) << r.Describe();
  }

  static CtrResult Ctr(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 120s) {
    return ctrd_->Ctr(args, timeout);
  }

  // `ctr task exec` of `sh -c SCRIPT` in task `id`.
  static CtrResult Exec(const std::string& id, const std::string& exec_id, const std::string& script) {
    return Ctr({"task", "exec", "--exec-id", exec_id, id, "sh", "-c", script});
  }

  // VMs of containerd's namespace carrying label key=value; -1 when `vm list` fails.
  static int VmsLabelled(const std::string& key, const std::string& value) {
    CliRun r = home_->Banger({"vm", "list", "--json", "--label", "containerd.namespace=" + ctrd_->ns(),
                              "--label", key + "=" + value});
    auto j = ParseJson(r.out);
    if (r.code != 0 || !j.ok() || !j->is_array()) return -1;
    int n = 0;
    for (const Json& vm : *j) {
      if (vm.contains("labels") && vm["labels"].value(key, std::string()) == value) ++n;
    }
    return n;
  }

  // Task `id`'s status in `ctr task ls`, "" when absent, "?" when ctr failed.
  static std::string StatusOf(const std::string& id) {
    auto s = ctrd_->TaskStatus(id);
    return s.ok() ? *s : "?";
  }

  static std::string VmList() { return home_->Banger({"vm", "list"}).out; }

  // Polls `ctr task ls` until task `id` is STOPPED (or absent, when allowed).
  static bool WaitStopped(const std::string& id, bool absent_ok, std::chrono::milliseconds timeout = 60s) {
    return WaitUntil(
        [&] {
          auto s = ctrd_->TaskStatus(id);
          return s.ok() && (*s == "STOPPED" || (absent_ok && s->empty()));
        },
        timeout);
  }

  // SIGKILL, wait until stopped, delete the task and the container.
  static void Remove(const std::string& id) {
    CtrResult r = Ctr({"task", "kill", "-s", "SIGKILL", id});
    EXPECT_EQ(r.code, 0) << r.Describe();
    EXPECT_TRUE(WaitStopped(id, false)) << "task " << id << " did not stop after SIGKILL";
    r = Ctr({"task", "delete", id});
    EXPECT_EQ(r.code, 0) << r.Describe();
    r = Ctr({"container", "delete", id});
    EXPECT_EQ(r.code, 0) << r.Describe();
  }

  // Nothing of containerd's is mounted, and task `id`'s bundle is gone.
  static void ExpectNoLeftovers(const std::string& id) {
    std::vector<std::string> mounts = MountsUnder(ctrd_->root());
    std::vector<std::string> state_mounts = MountsUnder(ctrd_->state());
    mounts.insert(mounts.end(), state_mounts.begin(), state_mounts.end());
    std::string listed;
    for (const std::string& m : mounts) listed += "\n  " + m;
    EXPECT_TRUE(mounts.empty()) << "still mounted:" << listed;
    EXPECT_FALSE(PathExists(ctrd_->BundleDir(id))) << ctrd_->BundleDir(id);
  }

  static BangerHome* home_;
  static Containerd* ctrd_;
  static std::string rootfs_;
  static std::string other_rootfs_;
  static bool setup_failed_;
};

BangerHome* ContainerdE2E::home_ = nullptr;
Containerd* ContainerdE2E::ctrd_ = nullptr;
std::string ContainerdE2E::rootfs_;
std::string ContainerdE2E::other_rootfs_;
bool ContainerdE2E::setup_failed_ = false;

TEST_F(ContainerdE2E, RunRootfsPrintsOutputAndExitCodes) {
  CtrResult r =
      Ctr({"run", "--rm", "--runtime", SHIM_BIN, "--rootfs", rootfs_, "t1", "/bin/echo", "hi"}, kRunTimeout);
  EXPECT_EQ(r.code, 0) << r.Describe();
  EXPECT_EQ(Chomp(r.out), "hi") << r.Describe();

  r = Ctr({"run", "--rm", "--runtime", SHIM_BIN, "--rootfs", rootfs_, "t1b", "/bin/sh", "-c", "exit 3"},
          kRunTimeout);
  EXPECT_EQ(r.code, 3) << r.Describe();

  // By runtime name: containerd finds containerd-shim-banger-v2 in its PATH.
  r = Ctr({"run", "--rm", "--runtime", "io.containerd.banger.v2", "--rootfs", rootfs_, "t1c", "/bin/true"},
          kRunTimeout);
  EXPECT_EQ(r.code, 0) << r.Describe();

  for (const char* id : {"t1", "t1b", "t1c"}) {
    EXPECT_EQ(VmsLabelled("containerd.id", id), 0) << "a VM of " << id << " is left:\n" << VmList();
    ExpectNoLeftovers(id);
  }
}

TEST_F(ContainerdE2E, ImageTaskExecsStopsAndLeavesNothing) {
  CtrResult r = Ctr({"run", "-d", "--runtime", SHIM_BIN, kImage, "t2", "sleep", "300"}, kRunTimeout);
  ASSERT_EQ(r.code, 0) << r.Describe();
  EXPECT_EQ(StatusOf("t2"), "RUNNING");
  EXPECT_EQ(VmsLabelled("containerd.id", "t2"), 1) << VmList();

  r = Exec("t2", "e1", "echo from-exec");
  EXPECT_EQ(r.code, 0) << r.Describe();
  EXPECT_EQ(Chomp(r.out), "from-exec") << r.Describe();

  r = Ctr({"task", "kill", "-s", "SIGTERM", "t2"});
  EXPECT_EQ(r.code, 0) << r.Describe();
  EXPECT_TRUE(WaitStopped("t2", false)) << "t2 is not STOPPED 60 s after SIGTERM: " << StatusOf("t2");
  r = Ctr({"task", "delete", "t2"});
  EXPECT_EQ(r.code, 0) << r.Describe();
  r = Ctr({"container", "delete", "t2"});
  EXPECT_EQ(r.code, 0) << r.Describe();

  EXPECT_EQ(VmsLabelled("containerd.id", "t2"), 0) << "t2's VM is left:\n" << VmList();
  ExpectNoLeftovers("t2");
}

TEST_F(ContainerdE2E, PodContainersShareOneVm) {
  auto run = [](const std::string& id, const std::string& type) {
    return Ctr(
        {"run", "-d", "--runtime", SHIM_BIN, "--annotation", "io.kubernetes.cri.container-type=" + type,
         "--annotation", "io.kubernetes.cri.sandbox-id=pod1", kImage, id, "sleep", "300"},
        kRunTimeout);
  };
  CtrResult r = run("pod1", "sandbox");
  ASSERT_EQ(r.code, 0) << r.Describe();
  r = run("pc1", "container");
  EXPECT_EQ(r.code, 0) << r.Describe();
  r = run("pc2", "container");
  EXPECT_EQ(r.code, 0) << r.Describe();

  // A container of another root: its own root inside the pod's VM.
  r = Ctr({"run", "-d", "--runtime", SHIM_BIN, "--annotation", "io.kubernetes.cri.container-type=container",
           "--annotation", "io.kubernetes.cri.sandbox-id=pod1", "--cwd", "/tmp", "--rootfs", other_rootfs_,
           "pc3", "sleep", "300"},
          kRunTimeout);
  EXPECT_EQ(r.code, 0) << r.Describe();

  EXPECT_EQ(VmsLabelled("containerd.sandbox", "pod1"), 1) << VmList();
  for (const std::string& id : std::vector<std::string>{"pod1", "pc1", "pc2", "pc3"}) {
    EXPECT_EQ(StatusOf(id), "RUNNING") << id;
    r = Exec(id, "e-" + id, "echo from-" + id);
    EXPECT_EQ(r.code, 0) << id << ": " << r.Describe();
    EXPECT_EQ(Chomp(r.out), "from-" + id) << r.Describe();
  }
  r = Exec("pc3", "m", "cat /marker; pwd; ls /proc/self/exe >/dev/null && echo proc");
  EXPECT_EQ(Chomp(r.out), "the other root\n/tmp\nproc") << r.Describe();
  r = Exec("pc1", "m", "test -e /marker && echo leaked || echo own-root");
  EXPECT_EQ(Chomp(r.out), "own-root") << "pc3's root is visible to pc1: " << r.Describe();

  // The containers first, the sandbox last, as the CRI does.
  for (const char* id : {"pc1", "pc2", "pc3", "pod1"}) Remove(id);
  EXPECT_EQ(VmsLabelled("containerd.sandbox", "pod1"), 0) << "the pod's VM is left:\n" << VmList();
  for (const char* id : {"pc1", "pc2", "pc3", "pod1"}) ExpectNoLeftovers(id);
}

// The main process is a banger session: a bangerd restart while it runs
// loses none of its output and keeps its exit code.
TEST_F(ContainerdE2E, BangerdRestartIsInvisibleToARunningTask) {
  CtrResult r;
  std::thread run([&r] {
    r = Ctr({"run", "--rm", "--runtime", SHIM_BIN, kImage, "t4", "sh", "-c",
             "i=0; while [ $i -lt 12 ]; do i=$((i+1)); echo line-$i; sleep 1; done; exit 5"},
            kRunTimeout);
  });
  ASSERT_TRUE(WaitUntil([] { return StatusOf("t4") == "RUNNING"; }, 120s)) << StatusOf("t4");
  std::this_thread::sleep_for(3s);
  CliRun stop = home_->Banger({"daemon", "stop"});
  EXPECT_EQ(stop.code, 0) << stop.err;
  std::this_thread::sleep_for(2s);
  CliRun list = home_->Banger({"vm", "list"});  // starts bangerd again
  EXPECT_EQ(list.code, 0) << list.err;
  run.join();
  EXPECT_EQ(r.code, 5) << r.Describe();
  std::string want;
  for (int i = 1; i <= 12; ++i) want += "line-" + std::to_string(i) + "\n";
  EXPECT_EQ(r.out, want) << r.Describe();
  EXPECT_TRUE(WaitUntil([] { return VmsLabelled("containerd.id", "t4") == 0; }, 60s)) << VmList();
  ExpectNoLeftovers("t4");
}

TEST_F(ContainerdE2E, TaskSurvivesContainerdRestartAndDiesWithItsShim) {
  CtrResult r = Ctr({"run", "-d", "--runtime", SHIM_BIN, kImage, "t3", "sleep", "300"}, kRunTimeout);
  ASSERT_EQ(r.code, 0) << r.Describe();
  EXPECT_EQ(StatusOf("t3"), "RUNNING");

  Status st = ctrd_->Restart();
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(StatusOf("t3"), "RUNNING") << "after containerd's restart";
  r = Exec("t3", "e1", "echo after-restart");
  EXPECT_EQ(r.code, 0) << r.Describe();
  EXPECT_EQ(Chomp(r.out), "after-restart") << r.Describe();

  std::vector<pid_t> shims = ctrd_->ShimPids("t3");
  ASSERT_FALSE(shims.empty()) << "no process of " << kShimName << " with -id t3";
  for (pid_t p : shims) EXPECT_TRUE(RealProcessOps().Signal(p, SIGKILL).ok()) << p;
  EXPECT_TRUE(WaitStopped("t3", true))
      << "t3 is still " << StatusOf("t3") << " 60 s after its shim was killed";
  EXPECT_TRUE(WaitUntil([] { return VmsLabelled("containerd.id", "t3") == 0; }, 60s))
      << "t3's VM is still there 60 s after its shim was killed:\n"
      << VmList();

  // The task may already be gone (containerd's cleanup of a dead shim).
  if (StatusOf("t3") == "STOPPED") {
    r = Ctr({"task", "delete", "t3"});
    EXPECT_EQ(r.code, 0) << r.Describe();
  }
  r = Ctr({"container", "delete", "t3"});
  EXPECT_EQ(r.code, 0) << r.Describe();
  ExpectNoLeftovers("t3");
}

}  // namespace
}  // namespace banger::e2e

// Without root or the tools every test skips (nothing is built); else, as
// network_e2e_test, the image is built in the host namespace and this binary
// runs again in new network and mount namespaces, with loopback up and a
// private /run.
int main(int argc, char** argv) {
  if (!banger::e2e::ContainerdTestBlocker().empty()) {
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
  }
  return banger::e2e::NetnsMain(argc, argv,
                                {.test_name = "containerd_e2e_test",
                                 .home_env = "BANGER_E2E_NETNS_HOME",
                                 .home_prefix = "/tmp/bgs-",
                                 .config_toml = banger::e2e::Config("off"),
                                 .image_build_extra = {"--profile", "minimal"},
                                 .private_run = true});
}
