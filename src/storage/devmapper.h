// DeviceMapperOps: loop devices and device-mapper snapshots, for the seed's
// copy-on-write scheme (config cow_mode = "dm-snapshot"):
//
//   image rootfs --losetup -r--> base loop --+
//                                            +--> dm "snapshot" (P, 8-sector
//   VM's raw COW file --losetup--> cow loop -+     chunks) = the VM's private,
//                                                  writable root: /dev/mapper/<name>
//
// The real implementation runs losetup and dmsetup with argv (never a
// shell); tests inject a command runner or use a fake
// (storage/testing/fake_disk_ops.h, test-only).
// Many hosts have no device-mapper at all (no /dev/mapper/control, no
// modules, no dmsetup): Available() says so, and the
// default scheme (overlayfs in the guest) needs none of this.
//
// The loops and the dm device are transient handles: they are recorded in
// VmHandles (handles.json and the daemon's cache), never in SQLite.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/process.h"
#include "base/result.h"
#include "model/types.h"

namespace banger {

class DeviceMapperOps {
 public:
  virtual ~DeviceMapperOps() = default;
  // OK when /dev/mapper/control exists and the snapshot target is usable
  // (`dmsetup targets` lists it, or its module can be autoloaded); else
  // kUnavailable with a short reason ("no /dev/mapper/control", ...).
  virtual Status Available() = 0;
  // `losetup --find --show [-r] FILE`: the new loop device ("/dev/loopN").
  virtual Result<std::string> AttachLoop(const std::string& file, bool read_only) = 0;
  // `losetup -d DEV`. A device that is not attached (or absent) is success.
  virtual Status DetachLoop(const std::string& dev) = 0;
  // `dmsetup create NAME --table "0 SECTORS snapshot BASE COW P 8"`:
  // returns "/dev/mapper/NAME". On failure no device of that name is left.
  virtual Result<std::string> CreateSnapshot(const std::string& name, const std::string& base_dev,
                                             const std::string& cow_dev, uint64_t sectors) = 0;
  // `dmsetup remove --retry NAME`. A device that does not exist is success.
  virtual Status Remove(const std::string& name) = 0;
  // `losetup -j FILE`: the loop devices currently backed by FILE.
  virtual Result<std::vector<std::string>> LoopsBackedBy(const std::string& file) = 0;
};

// Runs one helper tool to completion (RunCommand's shape).
using CommandRunner = std::function<Result<CommandResult>(const std::vector<std::string>& argv)>;

// The process-wide real implementation (RunCommand, /dev/mapper/control,
// /lib/modules/<release>).
DeviceMapperOps& RealDeviceMapperOps();
// The real implementation over an injected runner and paths (tests).
std::unique_ptr<DeviceMapperOps> MakeDeviceMapperOps(CommandRunner run, std::string control_path,
                                                     std::string modules_dir);

// The VM's dm device name: "banger-" + the id's first 16 hex digits (the
// same prefix that names its directory, so an orphan directory maps to it).
std::string DmNameFor(const std::string& vm_id);

// Attaches `base_rootfs` read-only and `cow_file` read-write to loops and
// creates the snapshot DmNameFor(vm_id) over them, sized to the base. Every
// completed step is rolled back, in reverse order, when a later one fails.
// Returns handles naming base_loop, cow_loop, dm_name and dm_dev (pid 0).
Result<VmHandles> SetUpDmRoot(DeviceMapperOps& ops, const std::string& vm_id, const std::string& base_rootfs,
                              const std::string& cow_file);

// The files the loops should still be backed by. A loop named in stale
// handles (say, from before a host reboot) whose number now belongs to some
// other file is left alone. Empty = do not check.
struct DmBackingFiles {
  std::string base_rootfs;
  std::string cow_file;
};

// Removes the dm device, then detaches the COW and base loops. Idempotent:
// partial handles and already-removed devices are fine. Every step is
// attempted; the first error is returned. On return `h` names only what is
// still there (dm_name/dm_dev, cow_loop, base_loop cleared as each goes; pid
// and tap_device untouched).
Status TearDownDm(DeviceMapperOps& ops, VmHandles& h, const DmBackingFiles& expect = {});

// The dm-snapshot COW store: a sparse raw file of `size_bytes` (no
// filesystem). Fails if it exists; on failure nothing is left.
Status CreateCowFile(const std::string& path, int64_t size_bytes);

// What a per-VM system overlay file holds, judged from its magic numbers.
enum class DiskFormat {
  kUnknown,  // neither below (a fresh, all-zero COW file; a missing file)
  kExt4,     // an ext4 filesystem (cow_mode = "overlay")
  kDmCow,    // a persistent dm-snapshot exception store (cow_mode = "dm-snapshot")
};
DiskFormat ProbeDiskFormat(const std::string& path);

}  // namespace banger
