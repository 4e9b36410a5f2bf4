// The real DeviceMapperOps (argv, output parsing, tolerated errors) and
// SetUpDmRoot / TearDownDm, over a command runner that simulates losetup and
// dmsetup: no device-mapper or root needed. Whether the real tools and
// kernel agree is only checkable on a host with device-mapper.
#include "storage/devmapper.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include "base/fs.h"
#include "base/testing/temp_dir.h"

namespace banger {
namespace {

namespace fs = std::filesystem;

std::string Join(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

// losetup and dmsetup as far as banger uses them, with kernel state.
class SimTools {
 public:
  Result<CommandResult> Run(const std::vector<std::string>& argv) {
    std::string line = Join(argv);
    calls.push_back(line);
    for (const auto& f : fail) {
      if (line.rfind(f, 0) == 0) return Exit(1, "", argv[0] + ": injected failure");
    }
    if (line == "dmsetup targets") return Exit(0, targets, "");
    if (argv[0] == "losetup" && argv.size() >= 5 && argv[1] == "--find" && argv[2] == "--show") {
      bool ro = argv[3] == "-r";
      const std::string& file = argv.back();
      std::string dev = "/dev/loop" + std::to_string(next_loop++);
      loops[dev] = file;
      if (ro) read_only.insert(dev);
      return Exit(0, dev + "\n", "");
    }
    if (argv[0] == "losetup" && argv.size() == 3 && argv[1] == "-d") {
      if (!loops.erase(argv[2]))
        return Exit(1, "", "losetup: " + argv[2] + ": detach failed: No such device or address");
      read_only.erase(argv[2]);
      return Exit(0, "", "");
    }
    if (argv[0] == "losetup" && argv.size() == 3 && argv[1] == "-j") {
      std::string out;
      for (const auto& [dev, file] : loops) {
        if (file == argv[2]) out += dev + ": [2049]:1234 (" + file + ")\n";
      }
      return Exit(0, out, "");
    }
    if (argv[0] == "dmsetup" && argv.size() == 5 && argv[1] == "create" && argv[3] == "--table") {
      if (dm.count(argv[2]))
        return Exit(1, "", "device-mapper: create ioctl on " + argv[2] + " failed: Device or resource busy");
      dm[argv[2]] = argv[4];
      return Exit(0, "", "");
    }
    if (argv[0] == "dmsetup" && argv.size() == 4 && argv[1] == "remove" && argv[2] == "--retry") {
      if (!dm.erase(argv[3])) return Exit(1, "", "Device " + argv[3] + " not found\nCommand failed.");
      return Exit(0, "", "");
    }
    return Error::Internal("unexpected command: " + line);
  }
  CommandRunner Runner() {
    return [this](const std::vector<std::string>& argv) { return Run(argv); };
  }

  std::vector<std::string> calls;
  std::vector<std::string> fail;  // argv prefixes that exit 1
  std::string targets = "striped          v1.6.0\nsnapshot         v1.16.0\nlinear           v1.4.0\n";
  std::map<std::string, std::string> loops;  // dev -> backing file
  std::set<std::string> read_only;
  std::map<std::string, std::string> dm;  // name -> table
  int next_loop = 0;

 private:
  static Result<CommandResult> Exit(int code, std::string out, std::string err) {
    CommandResult r;
    r.exit_code = code;
    r.out = std::move(out);
    r.err = std::move(err);
    return r;
  }
};

class DevMapperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    control_ = dir_ + "/control";
    ASSERT_TRUE(WriteFileAtomic(control_, "").ok());
    base_ = dir_ + "/rootfs.ext4";
    cow_ = dir_ + "/system-overlay.ext4";
    ASSERT_TRUE(WriteFileAtomic(base_, std::string(4096 + 100, 'x')).ok());  // 8 whole sectors
    ASSERT_TRUE(CreateCowFile(cow_, 1 << 20).ok());
    ops_ = MakeDeviceMapperOps(sim_.Runner(), control_, dir_ + "/modules");
  }
  testing::TempDir tmp_{"bgdm", {"modules"}};
  std::string dir_ = tmp_.path(), control_, base_, cow_;
  SimTools sim_;
  std::unique_ptr<DeviceMapperOps> ops_;
};

const std::string kId = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST_F(DevMapperTest, AvailableNeedsControlAndSnapshotTarget) {
  EXPECT_TRUE(ops_->Available().ok());
  EXPECT_EQ(sim_.calls, (std::vector<std::string>{"dmsetup targets"}));

  sim_.targets = "linear           v1.4.0\n";
  auto no_target = ops_->Available();
  ASSERT_FALSE(no_target.ok());
  EXPECT_EQ(no_target.error().kind(), ErrorKind::kUnavailable);
  EXPECT_NE(no_target.error().message().find("dm_snapshot"), std::string::npos);
  // An unloaded module the kernel can autoload counts.
  fs::create_directories(dir_ + "/modules/kernel/drivers/md");
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/modules/kernel/drivers/md/dm-snapshot.ko.xz", "").ok());
  EXPECT_TRUE(ops_->Available().ok());

  sim_.fail = {"dmsetup targets"};
  EXPECT_FALSE(ops_->Available().ok());

  sim_.calls.clear();
  auto none = MakeDeviceMapperOps(sim_.Runner(), dir_ + "/no-control", dir_ + "/modules")->Available();
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message(), "no " + dir_ + "/no-control");
  EXPECT_TRUE(sim_.calls.empty()) << "no tool runs without /dev/mapper/control";
}

TEST_F(DevMapperTest, LoopArgvAndParsing) {
  auto ro = ops_->AttachLoop(base_, true);
  ASSERT_TRUE(ro.ok()) << ro.error().message();
  EXPECT_EQ(*ro, "/dev/loop0");
  auto rw = ops_->AttachLoop(cow_, false);
  ASSERT_TRUE(rw.ok());
  EXPECT_EQ(*rw, "/dev/loop1");
  EXPECT_EQ(sim_.calls[0], "losetup --find --show -r -- " + base_);
  EXPECT_EQ(sim_.calls[1], "losetup --find --show -- " + cow_);
  EXPECT_TRUE(sim_.read_only.count("/dev/loop0"));
  EXPECT_FALSE(sim_.read_only.count("/dev/loop1"));

  ASSERT_TRUE(ops_->AttachLoop(cow_, false).ok());
  auto backed = ops_->LoopsBackedBy(cow_);
  ASSERT_TRUE(backed.ok());
  EXPECT_EQ(*backed, (std::vector<std::string>{"/dev/loop1", "/dev/loop2"}));
  EXPECT_EQ(sim_.calls.back(), "losetup -j " + cow_);

  ASSERT_TRUE(ops_->DetachLoop("/dev/loop1").ok());
  EXPECT_EQ(sim_.calls.back(), "losetup -d /dev/loop1");
  EXPECT_TRUE(ops_->DetachLoop("/dev/loop1").ok()) << "not attached = already gone";
  EXPECT_EQ(ops_->DetachLoop("/dev/sda").error().kind(), ErrorKind::kInvalidArgument);
  sim_.fail = {"losetup -d"};
  EXPECT_FALSE(ops_->DetachLoop("/dev/loop2").ok());
  sim_.fail = {"losetup --find"};
  auto failed = ops_->AttachLoop(cow_, false);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message().find("injected failure"), std::string::npos);
}

TEST_F(DevMapperTest, SnapshotTableAndRemove) {
  auto dev = ops_->CreateSnapshot("banger-x", "/dev/loop0", "/dev/loop1", 2097152);
  ASSERT_TRUE(dev.ok()) << dev.error().message();
  EXPECT_EQ(*dev, "/dev/mapper/banger-x");
  EXPECT_EQ(sim_.calls.back(),
            "dmsetup create banger-x --table 0 2097152 snapshot /dev/loop0 /dev/loop1 P 8");
  EXPECT_EQ(sim_.dm["banger-x"], "0 2097152 snapshot /dev/loop0 /dev/loop1 P 8");

  ASSERT_TRUE(ops_->Remove("banger-x").ok());
  EXPECT_EQ(sim_.calls.back(), "dmsetup remove --retry banger-x");
  EXPECT_TRUE(ops_->Remove("banger-x").ok()) << "\"not found\" = already gone";
  EXPECT_EQ(ops_->Remove("bad name").error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(ops_->CreateSnapshot("banger-x", "/dev/loop0", "/dev/loop1", 0).error().kind(),
            ErrorKind::kInvalidArgument);

  // A refused create leaves no half-made device behind.
  sim_.fail = {"dmsetup create"};
  sim_.calls.clear();
  EXPECT_FALSE(ops_->CreateSnapshot("banger-y", "/dev/loop0", "/dev/loop1", 8).ok());
  EXPECT_EQ(sim_.calls.back(), "dmsetup remove --retry banger-y");
  sim_.fail = {"dmsetup remove"};
  EXPECT_FALSE(ops_->Remove("banger-y").ok());
}

TEST_F(DevMapperTest, SetUpDmRootRecordsEverything) {
  auto h = SetUpDmRoot(*ops_, kId, base_, cow_);
  ASSERT_TRUE(h.ok()) << h.error().message();
  EXPECT_EQ(h->pid, 0);
  EXPECT_EQ(h->base_loop, "/dev/loop0");
  EXPECT_EQ(h->cow_loop, "/dev/loop1");
  EXPECT_EQ(h->dm_name, "banger-0123456789abcdef");
  EXPECT_EQ(h->dm_dev, "/dev/mapper/banger-0123456789abcdef");
  EXPECT_EQ(sim_.calls,
            (std::vector<std::string>{
                "losetup --find --show -r -- " + base_,
                "losetup --find --show -- " + cow_,
                "dmsetup create banger-0123456789abcdef --table 0 8 snapshot /dev/loop0 /dev/loop1 P 8",
            }));
  EXPECT_EQ(sim_.loops.size(), 2u);
  EXPECT_EQ(sim_.dm.size(), 1u);
}

TEST_F(DevMapperTest, SetUpDmRootRollsBackInReverseOrder) {
  struct Case {
    std::string fail;
    std::vector<std::string> undo;  // the calls after the failing one
  };
  for (const auto& c : std::vector<Case>{
           {"losetup --find --show -r", {}},
           {"losetup --find --show --", {"losetup -d /dev/loop0"}},
           {"dmsetup create",
            {"dmsetup remove --retry banger-0123456789abcdef", "losetup -d /dev/loop1",
             "losetup -d /dev/loop0"}},
       }) {
    SimTools sim;
    sim.fail = {c.fail};
    auto ops = MakeDeviceMapperOps(sim.Runner(), control_, dir_ + "/modules");
    auto h = SetUpDmRoot(*ops, kId, base_, cow_);
    ASSERT_FALSE(h.ok()) << c.fail;
    EXPECT_NE(h.error().message().find("injected failure"), std::string::npos) << h.error().message();
    size_t at = 0;
    while (at < sim.calls.size() && sim.calls[at].rfind(c.fail, 0) != 0) ++at;
    ASSERT_LT(at, sim.calls.size()) << c.fail;
    EXPECT_EQ(std::vector<std::string>(sim.calls.begin() + at + 1, sim.calls.end()), c.undo) << c.fail;
    EXPECT_TRUE(sim.loops.empty()) << c.fail;
    EXPECT_TRUE(sim.dm.empty()) << c.fail;
  }
}

TEST_F(DevMapperTest, SetUpDmRootChecksItsInputs) {
  EXPECT_FALSE(SetUpDmRoot(*ops_, kId, dir_ + "/missing", cow_).ok());
  EXPECT_FALSE(SetUpDmRoot(*ops_, kId, base_, dir_ + "/missing").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/tiny", "abc").ok());
  EXPECT_FALSE(SetUpDmRoot(*ops_, kId, dir_ + "/tiny", cow_).ok());
  EXPECT_TRUE(sim_.calls.empty());
}

TEST_F(DevMapperTest, TearDownRemovesDmThenLoopsAndIsIdempotent) {
  auto h = SetUpDmRoot(*ops_, kId, base_, cow_);
  ASSERT_TRUE(h.ok());
  VmHandles left = *h;
  left.pid = 42;
  sim_.calls.clear();
  ASSERT_TRUE(TearDownDm(*ops_, left, {base_, cow_}).ok());
  EXPECT_EQ(sim_.calls, (std::vector<std::string>{
                            "dmsetup remove --retry banger-0123456789abcdef",
                            "losetup -j " + cow_,
                            "losetup -d /dev/loop1",
                            "losetup -j " + base_,
                            "losetup -d /dev/loop0",
                        }));
  EXPECT_TRUE(sim_.loops.empty());
  EXPECT_TRUE(sim_.dm.empty());
  EXPECT_EQ(left.pid, 42) << "only the dm part is torn down";
  EXPECT_TRUE(left.dm_name.empty() && left.dm_dev.empty() && left.cow_loop.empty() && left.base_loop.empty());

  // Again, with the original handles: everything is already gone.
  VmHandles again = *h;
  EXPECT_TRUE(TearDownDm(*ops_, again, {base_, cow_}).ok());
  EXPECT_TRUE(TearDownDm(*ops_, again).ok());
  VmHandles stale = *h;
  EXPECT_TRUE(TearDownDm(*ops_, stale).ok()) << "unchecked detach of gone loops is fine too";
}

TEST_F(DevMapperTest, TearDownOfPartialHandles) {
  auto base = ops_->AttachLoop(base_, true);
  ASSERT_TRUE(base.ok());
  VmHandles h;
  h.base_loop = *base;
  sim_.calls.clear();
  ASSERT_TRUE(TearDownDm(*ops_, h, {base_, cow_}).ok());
  EXPECT_EQ(sim_.calls, (std::vector<std::string>{"losetup -j " + base_, "losetup -d /dev/loop0"}));
  EXPECT_TRUE(sim_.loops.empty());
  VmHandles empty;
  sim_.calls.clear();
  EXPECT_TRUE(TearDownDm(*ops_, empty).ok());
  EXPECT_TRUE(sim_.calls.empty());
}

TEST_F(DevMapperTest, TearDownLeavesReusedLoopNumbersAlone) {
  // handles.json from before a host reboot names loop0 and loop1; loop0 now
  // belongs to someone else's file.
  std::string other = dir_ + "/other.img";
  ASSERT_TRUE(WriteFileAtomic(other, "x").ok());
  ASSERT_TRUE(ops_->AttachLoop(other, false).ok());  // /dev/loop0
  VmHandles h;
  h.base_loop = "/dev/loop0";
  h.cow_loop = "/dev/loop1";
  h.dm_name = "banger-0123456789abcdef";
  h.dm_dev = "/dev/mapper/banger-0123456789abcdef";
  ASSERT_TRUE(TearDownDm(*ops_, h, {base_, cow_}).ok());
  EXPECT_EQ(sim_.loops.count("/dev/loop0"), 1u) << "someone else's loop stays";
  EXPECT_TRUE(h.empty());
}

TEST_F(DevMapperTest, TearDownKeepsGoingAndReportsWhatIsLeft) {
  auto h = SetUpDmRoot(*ops_, kId, base_, cow_);
  ASSERT_TRUE(h.ok());
  sim_.fail = {"dmsetup remove"};
  VmHandles left = *h;
  auto st = TearDownDm(*ops_, left, {base_, cow_});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("banger-0123456789abcdef"), std::string::npos);
  EXPECT_EQ(left.dm_name, h->dm_name) << "still there: named for a retry";
  EXPECT_TRUE(left.cow_loop.empty());   // the kernel detaches them once the
  EXPECT_TRUE(left.base_loop.empty());  // snapshot goes (autoclear)
  sim_.fail.clear();
  ASSERT_TRUE(TearDownDm(*ops_, left, {base_, cow_}).ok());
  EXPECT_TRUE(sim_.dm.empty());
}

TEST_F(DevMapperTest, CowFileAndFormatProbe) {
  EXPECT_EQ(fs::file_size(cow_), 1u << 20);
  EXPECT_LT(AllocatedBytes(cow_), 64 * 1024) << "sparse";
  EXPECT_FALSE(CreateCowFile(cow_, 1 << 20).ok()) << "never overwrites";
  EXPECT_EQ(ProbeDiskFormat(cow_), DiskFormat::kUnknown);
  EXPECT_EQ(ProbeDiskFormat(dir_ + "/missing"), DiskFormat::kUnknown);

  std::string snap(8192, '\0');
  snap.replace(0, 4, "SnAp");
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/cow", snap).ok());
  EXPECT_EQ(ProbeDiskFormat(dir_ + "/cow"), DiskFormat::kDmCow);
  std::string ext4(8192, '\0');
  ext4[1080] = '\x53';
  ext4[1081] = '\xEF';
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/ext4", ext4).ok());
  EXPECT_EQ(ProbeDiskFormat(dir_ + "/ext4"), DiskFormat::kExt4);
}

TEST(DmNameTest, UsesTheDirectoryPrefix) {
  EXPECT_EQ(DmNameFor(kId), "banger-0123456789abcdef");
  EXPECT_EQ(DmNameFor(kId.substr(0, 16)), "banger-0123456789abcdef");
}

}  // namespace
}  // namespace banger
