// cow_mode = "dm-snapshot" against the real kernel: real losetup, real
// dmsetup, a real persistent snapshot over a loop-attached image. Checks
// what the scheme promises: the VM's root reads as the image, writes land
// in the COW file and never in the shared image, they survive a tear-down
// and a new set-up from the same COW file, and tear-down leaves no loop or
// dm device behind.
//
// Skips, saying why, where it cannot run: not root, or no device-mapper in
// the kernel (RealDeviceMapperOps().Available(): the reason it gives, e.g.
// "no /dev/mapper/control" on hosts whose kernel has none).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/fs.h"
#include "base/process.h"
#include "storage/devmapper.h"

namespace banger {
namespace {

namespace fs = std::filesystem;

std::string Sha256(const std::string& path) {
  auto r = RunCommand({"sha256sum", path});
  return r.ok() && r->exit_code == 0 ? r->out.substr(0, 64) : "";
}

// Reads `n` bytes at `offset` of a file or block device.
std::string ReadAt(const std::string& path, int64_t offset, size_t n) {
  std::ifstream f(path, std::ios::binary);
  f.seekg(offset);
  std::string buf(n, '\0');
  f.read(buf.data(), static_cast<std::streamsize>(n));
  return f ? buf : "";
}

bool WriteAt(const std::string& path, int64_t offset, const std::string& data) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(offset);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  f.flush();
  return static_cast<bool>(f);
}

class DeviceMapperRealTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (losetup, dmsetup); skipping";
    if (auto st = RealDeviceMapperOps().Available(); !st.ok()) {
      GTEST_SKIP() << "device-mapper is not available on this host (" << st.error().message()
                   << "); cow_mode = \"dm-snapshot\" cannot run here; skipping";
    }
    dir_ = "/tmp/banger-dm-" + std::to_string(::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    base_ = dir_ + "/rootfs.img";
    cow_ = dir_ + "/cow.raw";
    vm_id_ = NewId();
    // A 16 MiB "image": a recognisable pattern at known offsets.
    {
      std::ofstream f(base_, std::ios::binary);
      f.seekp(16 << 20);
      f.put('\0');
    }
    fs::resize_file(base_, 16 << 20);
    ASSERT_TRUE(WriteAt(base_, 0, "image-block-zero"));
    ASSERT_TRUE(WriteAt(base_, 8 << 20, "image-middle"));
    ASSERT_TRUE(CreateCowFile(cow_, 8 << 20).ok());
  }
  void TearDown() override {
    if (dir_.empty()) return;
    TearDownDm(RealDeviceMapperOps(), handles_).ok();
    fs::remove_all(dir_);
  }
  std::string dir_, base_, cow_, vm_id_;
  VmHandles handles_;
};

TEST_F(DeviceMapperRealTest, SnapshotIsPrivateWritableAndPersistent) {
  DeviceMapperOps& ops = RealDeviceMapperOps();
  std::string image_sum = Sha256(base_);
  ASSERT_FALSE(image_sum.empty());

  auto h = SetUpDmRoot(ops, vm_id_, base_, cow_);
  ASSERT_TRUE(h.ok()) << h.error().message();
  handles_ = *h;
  EXPECT_EQ(handles_.dm_name, DmNameFor(vm_id_));
  EXPECT_EQ(handles_.dm_dev, "/dev/mapper/" + handles_.dm_name);
  ASSERT_TRUE(PathExists(handles_.dm_dev));
  auto size = RunCommand({"blockdev", "--getsize64", handles_.dm_dev});
  ASSERT_TRUE(size.ok() && size->exit_code == 0);
  EXPECT_EQ(std::stoll(size->out), 16ll << 20) << "the snapshot is as large as the image";
  auto base_loops = ops.LoopsBackedBy(base_);
  ASSERT_TRUE(base_loops.ok());
  EXPECT_EQ(*base_loops, std::vector<std::string>{handles_.base_loop});

  // Reads through the snapshot see the image; writes go to the COW only.
  EXPECT_EQ(ReadAt(handles_.dm_dev, 0, 16), "image-block-zero");
  EXPECT_EQ(ReadAt(handles_.dm_dev, 8 << 20, 12), "image-middle");
  ASSERT_TRUE(WriteAt(handles_.dm_dev, 8 << 20, "vm-wrote-this"));
  ASSERT_TRUE(RunChecked({"sync"}).ok());
  EXPECT_EQ(ReadAt(handles_.dm_dev, 8 << 20, 13), "vm-wrote-this");
  EXPECT_EQ(Sha256(base_), image_sum) << "the shared image never changes";
  EXPECT_EQ(ProbeDiskFormat(cow_), DiskFormat::kDmCow);

  // Tear down: nothing left in the kernel.
  ASSERT_TRUE(TearDownDm(ops, handles_, DmBackingFiles{base_, cow_}).ok());
  EXPECT_TRUE(handles_.dm_name.empty() && handles_.base_loop.empty() && handles_.cow_loop.empty());
  EXPECT_FALSE(PathExists("/dev/mapper/" + DmNameFor(vm_id_)));
  for (const auto& f : {base_, cow_}) {
    auto loops = ops.LoopsBackedBy(f);
    ASSERT_TRUE(loops.ok());
    EXPECT_TRUE(loops->empty()) << f << " still has a loop";
  }

  // A new set-up from the same COW file (the VM's next boot) keeps the write.
  auto again = SetUpDmRoot(ops, vm_id_, base_, cow_);
  ASSERT_TRUE(again.ok()) << again.error().message();
  handles_ = *again;
  EXPECT_EQ(ReadAt(handles_.dm_dev, 8 << 20, 13), "vm-wrote-this");
  EXPECT_EQ(ReadAt(handles_.dm_dev, 0, 16), "image-block-zero");
  ASSERT_TRUE(TearDownDm(ops, handles_).ok());
  // Idempotent: a second tear-down of what is gone is fine.
  VmHandles gone;
  gone.dm_name = DmNameFor(vm_id_);
  EXPECT_TRUE(TearDownDm(ops, gone).ok());
}

TEST_F(DeviceMapperRealTest, FailedCreateLeavesNoLoops) {
  DeviceMapperOps& ops = RealDeviceMapperOps();
  // A second snapshot under the same name fails; its loops are rolled back.
  auto first = SetUpDmRoot(ops, vm_id_, base_, cow_);
  ASSERT_TRUE(first.ok()) << first.error().message();
  handles_ = *first;
  std::string cow2 = dir_ + "/cow2.raw";
  ASSERT_TRUE(CreateCowFile(cow2, 8 << 20).ok());
  auto second = SetUpDmRoot(ops, vm_id_, base_, cow2);
  EXPECT_FALSE(second.ok());
  auto loops = ops.LoopsBackedBy(cow2);
  ASSERT_TRUE(loops.ok());
  EXPECT_TRUE(loops->empty()) << "rolled back";
  auto base_loops = ops.LoopsBackedBy(base_);
  ASSERT_TRUE(base_loops.ok());
  EXPECT_EQ(base_loops->size(), 1u) << "only the first snapshot's base loop";
}

}  // namespace
}  // namespace banger
