// Fakes of this folder's OS wrappers, for unit tests here and above.
// Test-only (banger_storage_fakes).
//  - FakeDisks: DiskOps over plain sparse files (no mkfs);
//  - FakeDeviceMapper: DeviceMapperOps as in-memory kernel state (loops, dm
//    snapshots), with injectable failures.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "storage/devmapper.h"
#include "storage/disk.h"

namespace banger::testing {

// Disks as plain sparse files (no mkfs).
class FakeDisks : public DiskOps {
 public:
  Status CreateExt4(const std::string& path, int64_t size, const std::string&) override;
  Status CreateFromSeed(const std::string& seed, const std::string& path, int64_t size) override;
  Status GrowExt4(const std::string& path, int64_t size) override;
  int64_t SizeOf(const std::string& path) override;
  Error fail_create{ErrorKind::kInternal, ""};
  std::map<std::string, std::string> seeded_from;  // disk path -> seed
};

// Loops and dm snapshots as in-memory kernel state. `fail` makes one
// operation fail: "attach-ro", "attach-rw", "create", "remove", "detach".
class FakeDeviceMapper : public DeviceMapperOps {
 public:
  Status Available() override;
  Result<std::string> AttachLoop(const std::string& file, bool read_only) override;
  Status DetachLoop(const std::string& dev) override;
  Result<std::string> CreateSnapshot(const std::string& name, const std::string& base_dev,
                                     const std::string& cow_dev, uint64_t sectors) override;
  Status Remove(const std::string& name) override;
  Result<std::vector<std::string>> LoopsBackedBy(const std::string& file) override;

  struct Loop {
    std::string file;
    bool read_only = false;
  };
  struct Snapshot {
    std::string base, cow;
    uint64_t sectors = 0;
  };
  // Snapshots of the state, under the lock.
  std::map<std::string, Loop> Loops();
  std::map<std::string, Snapshot> Snapshots();
  std::vector<std::string> Calls();

  Status available;
  std::map<std::string, Error> fail;

 private:
  Status Injected(const std::string& op);
  // Records "op arg", fails if `op` is injected, else applies; under mu_.
  Status Step(const std::string& op, const std::string& arg, const std::function<void()>& apply);
  std::mutex mu_;
  int next_loop_ = 0;
  std::map<std::string, Loop> loops_;          // Guarded by mu_.
  std::map<std::string, Snapshot> snapshots_;  // Guarded by mu_.
  std::vector<std::string> calls_;             // Guarded by mu_.
};

}  // namespace banger::testing
