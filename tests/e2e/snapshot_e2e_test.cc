// Snapshots on disk end to end (QEMU TCG, network off, the minimal image with
// the agent): a VM with a file in /root and a counter process is snapshotted,
// loses the file and stops, is restored (file back, counter continuing, the
// same guest boot); `vm stop --save` + `vm start` continue it too; bad input
// is refused with one line and leaves the VM as it was.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "agent_guest_fixture.h"

namespace banger::e2e {
namespace {

using namespace std::chrono_literals;

using SnapshotE2E = AgentGuestE2E;

TEST_F(SnapshotE2E, SnapshotRestoreAndStopSaveContinueTheGuest) {
  const std::string vm = "snap";
  ASSERT_EQ(h_.Banger({"vm", "create", "--name", vm}, 300s).code, 0);
  Exec(vm, "echo hello > /root/f && sync");
  ASSERT_NO_FATAL_FAILURE(StartCounter(vm));
  ASSERT_TRUE(WaitUntil([&] { return Counter(vm) >= 3; }, 60s));
  const std::string boot = Exec(vm, "cat /proc/sys/kernel/random/boot_id");

  // Snapshot while running: the VM runs on.
  auto t0 = std::chrono::steady_clock::now();
  CliRun snap = h_.Banger({"vm", "snapshot", "create", vm, "--name", "one"}, 300s);
  ASSERT_EQ(snap.code, 0) << snap.err;
  std::printf("snapshot create took %lld ms\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
                      .count()));
  const int64_t at_snapshot = Counter(vm);
  ExpectCounting(vm, at_snapshot);
  Json list = h_.BangerJson({"vm", "snapshot", "list", vm});
  ASSERT_EQ(list.size(), 1u) << list.dump();
  EXPECT_EQ(list[0]["name"], "one");
  EXPECT_GT(list[0]["bytes_on_disk"].get<int64_t>(), 0);

  // Bad input: each one line, the VM untouched and running.
  ExpectRefused({"vm", "snapshot", "create", vm, "--name", "one"}, "already has a snapshot named");
  ExpectRefused({"vm", "restore", vm}, "is running");
  EXPECT_EQ(h_.BangerJson({"vm", "show", vm})["state"], "running");

  // Lose the file, stop, restore.
  Exec(vm, "rm /root/f && sync");
  ASSERT_EQ(h_.Banger({"vm", "stop", vm}, 120s).code, 0);
  ExpectRefused({"vm", "snapshot", "create", vm}, "a snapshot needs it running");
  ExpectRefused({"vm", "restore", vm, "--snapshot", "nope"}, "has no snapshot \"nope\"");
  t0 = std::chrono::steady_clock::now();
  CliRun restored = h_.Banger({"vm", "restore", vm}, 300s);
  ASSERT_EQ(restored.code, 0) << restored.err;
  std::printf("restore took %lld ms\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
                      .count()));
  EXPECT_EQ(h_.BangerJson({"vm", "show", vm})["state"], "running");
  EXPECT_EQ(Exec(vm, "cat /root/f"), "hello\n");
  EXPECT_EQ(Exec(vm, "cat /proc/sys/kernel/random/boot_id"), boot) << "restored, not booted again";
  ExpectCounting(vm, at_snapshot);

  // Suspend to disk and resume with a plain start.
  ASSERT_EQ(h_.Banger({"vm", "stop", vm, "--save"}, 300s).code, 0);
  Json saved = h_.BangerJson({"vm", "show", vm});
  EXPECT_EQ(saved["state"], "stopped");
  EXPECT_FALSE(saved["runtime"].value("saved_snapshot", "").empty()) << saved.dump();
  EXPECT_NE(h_.Banger({"vm", "list"}).out.find("stopped (saved)"), std::string::npos);
  EXPECT_TRUE(h_.Vmms().empty()) << "the VMM exits on stop --save";
  ASSERT_EQ(h_.Banger({"vm", "start", vm}, 300s).code, 0);
  EXPECT_EQ(Exec(vm, "cat /proc/sys/kernel/random/boot_id"), boot) << "resumed, not booted again";
  ExpectCounting(vm, at_snapshot);
  Json after = h_.BangerJson({"vm", "show", vm});
  EXPECT_TRUE(after["runtime"].value("saved_snapshot", "").empty()) << "the saved state is consumed";
  EXPECT_EQ(h_.BangerJson({"vm", "snapshot", "list", vm}).size(), 1u);

  // A memory stream truncated by hand: refused, the VM stays stopped.
  ASSERT_EQ(h_.Banger({"vm", "stop", vm}, 120s).code, 0);
  const std::string dir = after["runtime"]["vm_dir"].get<std::string>() + "/snapshots/" +
                          list[0]["id"].get<std::string>().substr(0, 16);
  ASSERT_TRUE(IsRegularFile(dir + "/vmstate")) << dir;
  std::filesystem::resize_file(dir + "/vmstate", 4096);
  ExpectRefused({"vm", "restore", vm, "--snapshot", "one"}, "is damaged");
  EXPECT_EQ(h_.BangerJson({"vm", "show", vm})["state"], "stopped");

  // Delete removes it; the VM's delete removes the rest.
  ASSERT_EQ(h_.Banger({"vm", "snapshot", "delete", vm, "one"}).code, 0);
  EXPECT_FALSE(PathExists(dir));
  EXPECT_TRUE(h_.BangerJson({"vm", "snapshot", "list", vm}).empty());
  ASSERT_EQ(h_.Banger({"vm", "delete", vm}, 120s).code, 0);
}

}  // namespace
}  // namespace banger::e2e
