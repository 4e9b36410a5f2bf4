// CowRoot: how a VM gets a private, writable root over its image's shared
// rootfs (config cow_mode). Chosen once at wiring (MakeCowRoot):
//   - OverlayCowRoot ("overlay", the default): the VM's system overlay file is
//     an ext4 disk; the guest init mounts an overlayfs of the image rootfs
//     (lower, read-only vda) and the overlay (upper, vdb). No host devices.
//   - DmSnapshotCowRoot ("dm-snapshot"): the overlay file is a raw COW store;
//     the host attaches both files to loops and builds a dm snapshot that the
//     guest mounts read-write as its root (storage/devmapper.h).
// The loops and dm device are transient handles (VmHandles), never stored.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "base/result.h"
#include "model/types.h"
#include "storage/devmapper.h"
#include "storage/disk.h"
#include "store/store.h"

namespace banger {

class CowRoot {
 public:
  virtual ~CowRoot() = default;
  // Creates the VM's system overlay file if missing (idempotent); refuses a
  // file made under the other mode (kConflict).
  virtual Status PrepareStore(const VmRecord& vm) = 0;
  // Cheap check, before anything is set up for a boot.
  virtual Status CheckAvailable() = 0;
  // Sets up the root for one boot. Returns the handles it holds (dm and
  // loops; empty for the overlay) and, in `root_dev`, the private root
  // device to boot from ("" = the overlay layout: image rootfs + overlay).
  virtual Result<VmHandles> Attach(const VmRecord& vm, const Image& img, std::string& root_dev) = 0;
  // Tears down the dm part of `handles` (and, in dm-snapshot mode, whatever
  // the VM's deterministic dm name and COW file still name). Returns what
  // could not be torn down (dm fields only; empty when all went).
  virtual VmHandles Release(const VmRecord& vm, const std::optional<VmHandles>& handles) = 0;
};

// cow_mode "overlay" or "dm-snapshot" (kCowModeDmSnapshot). `dm` may be null:
// the overlay then never touches device-mapper and dm-snapshot reports itself
// unavailable. `store` resolves a VM's image rootfs for teardown checks.
std::unique_ptr<CowRoot> MakeCowRoot(const std::string& cow_mode, DeviceMapperOps* dm, DiskOps& disks,
                                     Store& store);

}  // namespace banger
