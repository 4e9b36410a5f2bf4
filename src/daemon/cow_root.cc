#include "daemon/cow_root.h"

#include "base/fs.h"
#include "base/log.h"
#include "config/config.h"

namespace banger {
namespace {

VmHandles DmPart(const std::optional<VmHandles>& handles) {
  VmHandles h;
  if (handles) {
    h.base_loop = handles->base_loop;
    h.cow_loop = handles->cow_loop;
    h.dm_name = handles->dm_name;
    h.dm_dev = handles->dm_dev;
  }
  return h;
}

// Tears down what `h` names (plus `extra_cow_loops`); returns what is left.
VmHandles TearDown(DeviceMapperOps& dm, Store& store, const VmRecord& vm, VmHandles h,
                   const std::vector<std::string>& extra_cow_loops) {
  DmBackingFiles expect;
  expect.cow_file = vm.runtime.system_overlay_path;
  if (!h.base_loop.empty() && !vm.image_id.empty()) {
    if (auto img = store.GetImage(vm.image_id); img.ok()) expect.base_rootfs = img->rootfs_path;
  }
  if (auto st = TearDownDm(dm, h, expect); !st.ok()) {
    spdlog::warn("vm {}: tearing down its dm-snapshot root: {}", vm.name, st.error().message());
  }
  for (const auto& l : extra_cow_loops) {
    if (auto st = dm.DetachLoop(l); !st.ok()) spdlog::warn("vm {}: {}", vm.name, st.error().message());
  }
  return h;
}

class OverlayCowRoot final : public CowRoot {
 public:
  OverlayCowRoot(DeviceMapperOps* dm, DiskOps& disks, Store& store) : dm_(dm), disks_(disks), store_(store) {}

  Status PrepareStore(const VmRecord& vm) override {
    const std::string& overlay = vm.runtime.system_overlay_path;
    if (!PathExists(overlay))
      return disks_.CreateExt4(overlay, vm.spec.system_overlay_size_bytes, "banger-overlay");
    if (ProbeDiskFormat(overlay) == DiskFormat::kDmCow) {
      return Error::Conflict(
          "the system overlay " + overlay + " of vm " + vm.name +
          " is a dm-snapshot COW store made under cow_mode = \"dm-snapshot\"; set cow_mode = "
          "\"dm-snapshot\" again, or recreate the vm");
    }
    return OkStatus();
  }
  Status CheckAvailable() override { return OkStatus(); }
  Result<VmHandles> Attach(const VmRecord&, const Image&, std::string& root_dev) override {
    root_dev.clear();
    return VmHandles{};
  }
  // Never touches device-mapper unless the handles name some (a VM started
  // under the other mode).
  VmHandles Release(const VmRecord& vm, const std::optional<VmHandles>& handles) override {
    VmHandles h = DmPart(handles);
    if (!dm_ || h.empty()) return h;
    return TearDown(*dm_, store_, vm, std::move(h), {});
  }

 private:
  DeviceMapperOps* dm_;
  DiskOps& disks_;
  Store& store_;
};

class DmSnapshotCowRoot final : public CowRoot {
 public:
  DmSnapshotCowRoot(DeviceMapperOps* dm, Store& store) : dm_(dm), store_(store) {}

  Status PrepareStore(const VmRecord& vm) override {
    const std::string& overlay = vm.runtime.system_overlay_path;
    // The snapshot's COW store: raw and sparse; the kernel writes its header.
    if (!PathExists(overlay)) return CreateCowFile(overlay, vm.spec.system_overlay_size_bytes);
    if (ProbeDiskFormat(overlay) == DiskFormat::kExt4) {
      // Used as a COW store, the ext4 would be overwritten.
      return Error::Conflict("the system overlay " + overlay + " of vm " + vm.name +
                             " is an ext4 disk made under cow_mode = \"overlay\"; set cow_mode = \"overlay\" "
                             "again, or recreate the vm");
    }
    return OkStatus();
  }
  Status CheckAvailable() override {
    Status avail =
        dm_ ? dm_->Available() : Status(Error::Unavailable("device-mapper support is not configured"));
    if (avail.ok()) return avail;
    return Error::Unavailable("cow_mode = dm-snapshot but device-mapper is not available on this host (" +
                              avail.error().message() + "); use cow_mode = \"overlay\"");
  }
  Result<VmHandles> Attach(const VmRecord& vm, const Image& img, std::string& root_dev) override {
    if (!dm_) return Error::Unavailable("device-mapper support is not configured");
    auto h = SetUpDmRoot(*dm_, vm.id, img.rootfs_path, vm.runtime.system_overlay_path);
    if (!h.ok()) return std::move(h).error().Wrap("setting up the dm-snapshot root");
    root_dev = h->dm_dev;
    return h;
  }
  VmHandles Release(const VmRecord& vm, const std::optional<VmHandles>& handles) override {
    VmHandles h = DmPart(handles);
    if (!dm_) return h;
    // Rediscovery, for handles lost with a crash: the dm name is derived
    // from the id and the COW file is private to this VM.
    if (h.dm_name.empty() && !vm.id.empty()) h.dm_name = DmNameFor(vm.id);
    std::vector<std::string> extra_cow_loops;
    const std::string& cow = vm.runtime.system_overlay_path;
    if (!cow.empty() && PathExists(cow)) {
      if (auto loops = dm_->LoopsBackedBy(cow); loops.ok()) {
        for (const auto& l : *loops) {
          if (h.cow_loop.empty()) {
            h.cow_loop = l;
          } else if (l != h.cow_loop) {
            extra_cow_loops.push_back(l);
          }
        }
      }
    }
    return TearDown(*dm_, store_, vm, std::move(h), extra_cow_loops);
  }

 private:
  DeviceMapperOps* dm_;
  Store& store_;
};

}  // namespace

std::unique_ptr<CowRoot> MakeCowRoot(const std::string& cow_mode, DeviceMapperOps* dm, DiskOps& disks,
                                     Store& store) {
  if (cow_mode == kCowModeDmSnapshot) return std::make_unique<DmSnapshotCowRoot>(dm, store);
  return std::make_unique<OverlayCowRoot>(dm, disks, store);
}

}  // namespace banger
