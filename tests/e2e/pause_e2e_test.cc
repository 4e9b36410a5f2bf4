// End to end with a banger-built image under QEMU TCG: `vm pause` freezes
// the guest (its console stops growing) and `vm exec` resumes it; a VM with
// --idle-suspend is paused by the daemon and answers exec with its output
// intact; with --idle-suspend-to disk it is saved, its VMM exits, and exec
// continues it; a VM whose ttl expires with --ttl-action delete is gone.
#include <gtest/gtest.h>

#include "e2e_util.h"

namespace banger::e2e {
namespace {

using namespace std::chrono_literals;

class PauseE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    home_ = new BangerHome();
    home_->WriteConfig(
        "backend = \"qemu\"\nqemu_accel = \"tcg\"\nstop_timeout = \"5s\"\ndefault_image_name = \"t\"\n"
        "[vm_defaults]\nvcpu_count = 1\nmemory_mib = 256\nwork_disk_size = \"256M\"\n"
        "system_overlay_size = \"1G\"\n");
    CliRun b = home_->Banger({"image", "build", "t", "--profile", "minimal"}, 600s);
    ASSERT_EQ(b.code, 0) << b.err;
  }
  static void TearDownTestSuite() {
    delete home_;
    home_ = nullptr;
  }
  void SetUp() override {
    if (!home_ || HasFatalFailure()) GTEST_SKIP() << "image build failed";
  }

  static std::string State(const std::string& vm) {
    CliRun r = home_->Banger({"vm", "show", vm, "--json"});
    if (r.code != 0) return "";
    auto j = ParseJson(r.out);
    return j.ok() && (*j)["state"].is_string() ? (*j)["state"].get<std::string>() : "";
  }
  static size_t ConsoleBytes(const std::string& vm) {
    CliRun r = home_->Banger({"vm", "logs", vm});
    return r.code == 0 ? r.out.size() : 0;
  }
  static BangerHome* home_;
};
BangerHome* PauseE2E::home_ = nullptr;

TEST_F(PauseE2E, PauseFreezesTheGuestAndExecResumesIt) {
  CliRun c = home_->Banger({"vm", "create", "--name", "p1"});
  ASSERT_EQ(c.code, 0) << c.err;
  // A ticker on the guest console: the host reads it without touching the guest.
  CliRun s = home_->Banger({"session", "start", "p1", "--name", "tick", "--", "sh", "-c",
                            "n=0; while true; do n=$((n+1)); echo tick-$n > /dev/console; sleep 0.1; done"});
  ASSERT_EQ(s.code, 0) << s.err;
  ASSERT_TRUE(home_->WaitForConsole("p1", {"tick-5"}, 60s));

  CliRun p = home_->Banger({"vm", "pause", "p1"});
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(p.out, "p1\n");
  EXPECT_EQ(State("p1"), "paused");
  std::this_thread::sleep_for(300ms);  // output already in flight lands
  size_t frozen = ConsoleBytes("p1");
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(ConsoleBytes("p1"), frozen) << "a paused guest makes no progress";
  CliRun again = home_->Banger({"vm", "pause", "p1"});
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.err.find("vm p1 is already paused"), std::string::npos) << again.err;

  // Exec resumes it first, and the agent answers.
  CliRun e = home_->Banger({"vm", "exec", "p1", "--", "echo", "awake"});
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_EQ(e.out, "awake\n");
  EXPECT_EQ(State("p1"), "running");
  EXPECT_TRUE(WaitUntil([&] { return ConsoleBytes("p1") > frozen; }, 10s)) << "the ticker goes on";
  CliRun resumed = home_->Banger({"vm", "resume", "p1"});
  EXPECT_NE(resumed.code, 0);
  EXPECT_NE(resumed.err.find("vm p1 is not paused (it is running)"), std::string::npos) << resumed.err;

  // A paused VM stops and deletes like any other.
  ASSERT_EQ(home_->Banger({"vm", "pause", "p1"}).code, 0);
  CliRun del = home_->Banger({"vm", "delete", "p1"});
  EXPECT_EQ(del.code, 0) << del.err;
}

TEST_F(PauseE2E, AnIdleSuspendedVmAnswersExecWithItsOutputIntact) {
  CliRun c = home_->Banger({"vm", "create", "--name", "i1", "--idle-suspend", "2s"});
  ASSERT_EQ(c.code, 0) << c.err;
  ASSERT_EQ(home_->Banger({"vm", "exec", "i1", "--", "true"}).code, 0);  // booted, agent up
  CliRun show = home_->Banger({"vm", "show", "i1"});
  EXPECT_NE(show.out.find("idle suspend:   2s"), std::string::npos) << show.out;
  EXPECT_TRUE(WaitUntil([] { return State("i1") == "paused"; }, 30s)) << State("i1");

  CliRun e = home_->Banger({"vm", "exec", "i1", "--", "sh", "-c", "seq 1 20000; echo done >&2"});
  ASSERT_EQ(e.code, 0) << e.err;
  std::string want;
  for (int i = 1; i <= 20000; ++i) want += std::to_string(i) + "\n";
  EXPECT_EQ(e.out, want);
  EXPECT_EQ(e.err, "done\n");
  // It was resumed; left alone it is suspended again.
  EXPECT_TRUE(WaitUntil([] { return State("i1") == "paused"; }, 30s)) << State("i1");
  EXPECT_EQ(home_->Banger({"vm", "delete", "i1"}).code, 0);
}

// --idle-suspend-to disk: the idle VM is saved and its VMM exits ("stopped
// (suspended)"); exec starts it from the saved state (same boot, a file
// written before is there) and answers with its output intact.
TEST_F(PauseE2E, AVmIdleSuspendedToDiskIsContinuedByExec) {
  CliRun c =
      home_->Banger({"vm", "create", "--name", "s1", "--idle-suspend", "2s", "--idle-suspend-to", "disk"});
  ASSERT_EQ(c.code, 0) << c.err;
  CliRun before = home_->Banger(
      {"vm", "exec", "s1", "--", "sh", "-c", "echo kept > /root/mark; cat /proc/sys/kernel/random/boot_id"});
  ASSERT_EQ(before.code, 0) << before.err;
  EXPECT_TRUE(WaitUntil([] { return State("s1") == "stopped"; }, 60s)) << State("s1");
  CliRun list = home_->Banger({"vm", "list"});
  EXPECT_NE(list.out.find("stopped (suspended)"), std::string::npos) << list.out;
  Json saved = home_->BangerJson({"vm", "show", "s1"});
  EXPECT_FALSE(saved["runtime"]["saved_snapshot"].get<std::string>().empty()) << saved.dump();
  EXPECT_EQ(saved["runtime"]["idle_saved"], true) << saved.dump();
  EXPECT_FALSE(saved.contains("handles")) << "its VMM is gone: " << saved.dump();

  CliRun e = home_->Banger({"vm", "exec", "s1", "--", "sh", "-c",
                            "cat /root/mark; cat /proc/sys/kernel/random/boot_id; seq 1 20000 | tail -n 1"});
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_EQ(e.out, "kept\n" + before.out + "20000\n") << "the same boot continued, not a new one";
  EXPECT_EQ(State("s1"), "running");
  EXPECT_EQ(home_->Banger({"vm", "delete", "s1"}).code, 0);
}

TEST_F(PauseE2E, AVmWhoseTtlExpiresWithDeleteIsGone) {
  Json vm = home_->BangerJson({"vm", "create", "--name", "d1", "--ttl", "3s", "--ttl-action", "delete"});
  ASSERT_EQ(vm["spec"]["ttl_action"], "delete") << vm.dump();
  ASSERT_FALSE(vm["runtime"]["expires_at"].get<std::string>().empty()) << vm.dump();
  std::string dir = vm["runtime"]["vm_dir"];
  EXPECT_TRUE(WaitUntil([] { return home_->Banger({"vm", "show", "d1"}).code != 0; }, 30s));
  CliRun show = home_->Banger({"vm", "show", "d1"});
  EXPECT_NE(show.err.find("not found"), std::string::npos) << show.err;
  // The row goes first, then the files (a crash in between leaves an orphan the reconcile removes).
  EXPECT_TRUE(WaitUntil([&] { return !PathExists(dir); }, 10s)) << dir;
  auto vmm_of_d1 = [&] {
    for (pid_t p : home_->Vmms()) {
      for (const auto& arg : RealProcessOps().Cmdline(p)) {
        if (arg.find(dir) != std::string::npos) return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(WaitUntil([&] { return !vmm_of_d1(); }, 10s)) << "its VMM is gone";
}

}  // namespace
}  // namespace banger::e2e
