// A snapshot into a full filesystem, with the real QEMU writing its migration
// stream (QEMU TCG, network off, the minimal image with the agent): the VM's
// snapshots directory becomes a 4 MiB tmpfs, far less than the memory stream
// of a 256 MiB guest. `vm snapshot create` and `vm stop --save` then fail with
// one line saying no space is left, and the VM is untouched: still running
// (or still paused when it was), its counter process counting, its disk
// writable, no snapshot listed, nothing left in the tmpfs and no file held
// open there. With the tmpfs gone the same VM saves fine.
//
// The tmpfs is mounted inside a mount namespace of this test's own: main()
// unshares one (private propagation) before anything runs, so the bangerd the
// tests start inherits it and the host's mounts never change.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "agent_guest_fixture.h"

namespace banger::e2e {
namespace {

using namespace std::chrono_literals;

// Set by main(): why the private mount namespace could not be had ("" when it is).
std::string g_no_namespace;

// A small tmpfs over `dir` (created 0700 when missing), unmounted on scope exit.
class SmallTmpfs {
 public:
  explicit SmallTmpfs(std::string dir) : dir_(std::move(dir)) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    ::chmod(dir_.c_str(), 0700);
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0700") != 0) {
      error_ = std::string("mounting a tmpfs on ") + dir_ + ": " + std::strerror(errno);
      return;
    }
    mounted_ = true;
  }
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  ~SmallTmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  const std::string& error() const { return error_; }

  // Entries left in the tmpfs (a .tmp-* save directory, a stray file).
  std::vector<std::string> Entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_))
      out.push_back(e.path().filename().string());
    return out;
  }
  // Bytes in use: an unlinked file some process still holds open counts.
  int64_t UsedBytes() const {
    struct statvfs st {};
    if (::statvfs(dir_.c_str(), &st) != 0) return -1;
    return static_cast<int64_t>(st.f_blocks - st.f_bfree) * static_cast<int64_t>(st.f_frsize);
  }
  // A plain unmount: fails (EBUSY) while any process has a file open in it.
  std::string Unmount() {
    if (::umount2(dir_.c_str(), 0) != 0)
      return std::string("unmounting ") + dir_ + ": " + std::strerror(errno);
    mounted_ = false;
    return "";
  }

 private:
  std::string dir_;
  std::string error_;
  bool mounted_ = false;
};

class SnapshotFullE2E : public AgentGuestE2E {
 protected:
  void SetUp() override {
    if (!g_no_namespace.empty()) GTEST_SKIP() << g_no_namespace;
    AgentGuestE2E::SetUp();
  }

  // The one-line refusal of a save into the full tmpfs (printed with how
  // long it took).
  void ExpectDiskFull(const std::vector<std::string>& args) {
    auto t0 = std::chrono::steady_clock::now();
    CliRun r = h_.Banger(args, 120s);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    std::string cmd = "banger";
    for (const auto& a : args) cmd += " " + a;
    std::printf("%s: exit %d after %lld ms: %s", cmd.c_str(), r.code, static_cast<long long>(ms),
                r.err.c_str());
    EXPECT_NE(r.code, 0) << cmd << " succeeded";
    EXPECT_NE(r.err.find("no space left on device in "), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "not one line: " << r.err;
  }

  // The save left nothing: no file in the tmpfs, none held open, no snapshot row.
  void ExpectNothingLeft(const std::string& vm, const SmallTmpfs& fs, size_t snapshots) {
    EXPECT_TRUE(fs.Entries().empty()) << "left in the tmpfs: " << fs.Entries().front();
    // QEMU lets go of the cancelled stream's fd shortly after the call (bounded wait under load).
    EXPECT_TRUE(WaitUntil([&] { return fs.UsedBytes() == 0; }, 10s))
        << "a deleted snapshot file is still held open";
    Json list = h_.BangerJson({"vm", "snapshot", "list", vm});
    EXPECT_EQ(list.size(), snapshots) << list.dump();
  }

  // A ticker on the guest console: the host sees whether the guest runs
  // without touching it (exec would resume a paused VM).
  void StartTicker(const std::string& vm) {
    CliRun s = h_.Banger({"session", "start", vm, "--name", "tick", "--", "sh", "-c",
                          "n=0; while :; do n=$((n+1)); echo tick-$n > /dev/console; sleep 0.2; done"});
    ASSERT_EQ(s.code, 0) << s.err;
    ASSERT_TRUE(h_.WaitForConsole(vm, {"tick-3"}, 60s));
  }
  // Grows within 10 s (a TCG guest on a loaded host can lag a few seconds).
  bool ConsoleGrows(const std::string& vm) {
    const size_t before = h_.Banger({"vm", "logs", vm}).out.size();
    return WaitUntil([&] { return h_.Banger({"vm", "logs", vm}).out.size() > before; }, 10s);
  }

  std::string SnapshotsDir(const std::string& vm) {
    return h_.BangerJson({"vm", "show", vm})["runtime"]["vm_dir"].get<std::string>() + "/snapshots";
  }
};

TEST_F(SnapshotFullE2E, ASaveIntoAFullFilesystemFailsInOneLineAndTheVmRunsOn) {
  const std::string vm = "full";
  ASSERT_EQ(h_.Banger({"vm", "create", "--name", vm}, 300s).code, 0);
  ASSERT_NO_FATAL_FAILURE(StartCounter(vm));
  ASSERT_TRUE(WaitUntil([&] { return Counter(vm) >= 3; }, 60s));
  ASSERT_NO_FATAL_FAILURE(StartTicker(vm));
  const std::string boot = Exec(vm, "cat /proc/sys/kernel/random/boot_id");
  const std::string dir = SnapshotsDir(vm);

  {
    SmallTmpfs fs(dir);
    ASSERT_TRUE(fs.error().empty()) << fs.error();
    ExpectDiskFull({"vm", "snapshot", "create", vm, "--name", "s1"});
    EXPECT_EQ(h_.BangerJson({"vm", "show", vm})["state"], "running");
    EXPECT_TRUE(ConsoleGrows(vm)) << "the failed save left the guest paused";
    ExpectCounting(vm, 3);
    // The disks are active again (a failed migration may leave them inactive).
    Exec(vm, "echo after-full > /root/f && sync");
    ExpectNothingLeft(vm, fs, 0);
    EXPECT_EQ(fs.Unmount(), "");
  }
  // The same save with room: it works, and the name was not taken.
  CliRun ok = h_.Banger({"vm", "snapshot", "create", vm, "--name", "s1"}, 300s);
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(h_.BangerJson({"vm", "snapshot", "list", vm}).size(), 1u);

  {
    SmallTmpfs fs(dir);  // hides s1's files until it is unmounted
    ASSERT_TRUE(fs.error().empty()) << fs.error();
    ExpectDiskFull({"vm", "stop", vm, "--save"});
    Json show = h_.BangerJson({"vm", "show", vm});
    EXPECT_EQ(show["state"], "running");
    EXPECT_TRUE(show["runtime"].value("saved_snapshot", "").empty()) << show.dump();
    EXPECT_FALSE(h_.Vmms().empty()) << "the VMM runs on";
    EXPECT_TRUE(ConsoleGrows(vm)) << "the failed stop --save left the guest paused";
    ExpectCounting(vm, 3);

    // A paused VM stays paused through a failed save, whichever command:
    // recorded so, and its guest frozen.
    ASSERT_EQ(h_.Banger({"vm", "pause", vm}).code, 0);
    EXPECT_FALSE(ConsoleGrows(vm)) << "vm pause did not freeze the guest";
    ExpectDiskFull({"vm", "stop", vm, "--save"});
    EXPECT_EQ(h_.BangerJson({"vm", "show", vm})["state"], "paused");
    EXPECT_FALSE(ConsoleGrows(vm)) << "the failed stop --save resumed a paused vm";
    ExpectDiskFull({"vm", "snapshot", "create", vm, "--name", "s2"});
    EXPECT_EQ(h_.BangerJson({"vm", "show", vm})["state"], "paused");
    EXPECT_FALSE(ConsoleGrows(vm)) << "the failed snapshot resumed a paused vm";
    ASSERT_EQ(h_.Banger({"vm", "resume", vm}).code, 0);
    ExpectCounting(vm, 3);
    ExpectNothingLeft(vm, fs, 1);
    EXPECT_EQ(fs.Unmount(), "");
  }
  // With room again the VM suspends to disk and resumes: the same boot.
  ASSERT_EQ(h_.Banger({"vm", "stop", vm, "--save"}, 300s).code, 0);
  EXPECT_EQ(h_.BangerJson({"vm", "show", vm})["state"], "stopped");
  ASSERT_EQ(h_.Banger({"vm", "start", vm}, 300s).code, 0);
  EXPECT_EQ(Exec(vm, "cat /proc/sys/kernel/random/boot_id"), boot);
  EXPECT_EQ(Exec(vm, "cat /root/f"), "after-full\n");
  ExpectCounting(vm, 3);
  ASSERT_EQ(h_.Banger({"vm", "delete", vm}, 120s).code, 0);
}

}  // namespace
}  // namespace banger::e2e

// A mount namespace of this process's own, private, before any thread or
// child exists: the tmpfs mounts above stay inside it.
int main(int argc, char** argv) {
  if (::unshare(CLONE_NEWNS) != 0) {
    banger::e2e::g_no_namespace =
        std::string("no mount namespace of its own (needs root): ") + std::strerror(errno);
  } else if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    std::fprintf(stderr, "snapshot_full_e2e_test: making the mounts private: %s\n", std::strerror(errno));
    return 1;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
