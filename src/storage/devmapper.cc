#include "storage/devmapper.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "base/fs.h"
#include "base/log.h"
#include "base/scope_guard.h"
#include "base/strings.h"
#include "base/unique_fd.h"
#include "storage/disk.h"

namespace banger {
namespace {

constexpr std::chrono::seconds kToolTimeout{60};

std::string LastLine(const CommandResult& r) { return banger::LastLine(r.err.empty() ? r.out : r.err); }

Error ToolFailed(const std::vector<std::string>& argv, const CommandResult& r) {
  std::string why = LastLine(r);
  std::string status = r.exit_code >= 0 ? "exit status " + std::to_string(r.exit_code)
                                        : "signal " + std::to_string(r.term_signal);
  return Error::Internal(argv[0] + " " + argv[1] + " failed (" + status + ")" +
                         (why.empty() ? "" : ": " + why));
}

bool Mentions(const CommandResult& r, std::initializer_list<const char*> needles) {
  for (const char* n : needles) {
    if (r.err.find(n) != std::string::npos || r.out.find(n) != std::string::npos) return true;
  }
  return false;
}

// "/dev/loop12" and nothing else: what we hand to other tools must be a loop.
bool IsLoopDevice(const std::string& dev) {
  const std::string prefix = "/dev/loop";
  if (dev.size() <= prefix.size() || dev.compare(0, prefix.size(), prefix) != 0) return false;
  return dev.find_first_not_of("0123456789", prefix.size()) == std::string::npos;
}

bool IsValidDmName(const std::string& name) {
  if (name.empty() || name.size() > 127) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

namespace impl {

class RealDeviceMapperOps final : public DeviceMapperOps {
 public:
  RealDeviceMapperOps(CommandRunner run, std::string control_path, std::string modules_dir)
      : run_(std::move(run)), control_(std::move(control_path)), modules_dir_(std::move(modules_dir)) {}

  Status Available() override {
    if (!PathExists(control_)) return Error::Unavailable("no " + control_);
    std::vector<std::string> argv = {"dmsetup", "targets"};
    auto r = run_(argv);
    if (!r.ok()) return Error::Unavailable("dmsetup: " + r.error().message() + " (apt-get install dmsetup)");
    if (r->exit_code != 0) return Error::Unavailable(ToolFailed(argv, *r).message());
    std::istringstream lines(r->out);
    for (std::string line; std::getline(lines, line);) {
      std::istringstream words(line);
      std::string target;
      if (words >> target && target == "snapshot") return OkStatus();
    }
    // Not loaded yet: the kernel autoloads it on the first snapshot table.
    for (const char* ext : {"", ".xz", ".zst", ".gz"}) {
      if (PathExists(modules_dir_ + "/kernel/drivers/md/dm-snapshot.ko" + ext)) return OkStatus();
    }
    return Error::Unavailable("the kernel has no dm snapshot target (modprobe dm_snapshot)");
  }

  Result<std::string> AttachLoop(const std::string& file, bool read_only) override {
    std::vector<std::string> argv = {"losetup", "--find", "--show"};
    if (read_only) argv.push_back("-r");
    argv.push_back("--");
    argv.push_back(file);
    BANGER_ASSIGN_OR_RETURN(CommandResult r, run_(argv));
    if (r.exit_code != 0) return ToolFailed(argv, r).Wrap("attaching " + file);
    std::string dev = Trim(r.out);
    if (!IsLoopDevice(dev)) {
      return Error::Internal("losetup --show printed \"" + dev + "\", not a loop device, for " + file);
    }
    return dev;
  }

  Status DetachLoop(const std::string& dev) override {
    if (!IsLoopDevice(dev)) return Error::Invalid("not a loop device: \"" + dev + "\"");
    std::vector<std::string> argv = {"losetup", "-d", dev};
    BANGER_ASSIGN_OR_RETURN(CommandResult r, run_(argv));
    if (r.exit_code == 0) return OkStatus();
    // ENXIO: nothing attached; ENOENT: no such node. Both mean "already gone".
    if (Mentions(r, {"No such device", "No such file or directory"})) return OkStatus();
    return ToolFailed(argv, r).Wrap("detaching " + dev);
  }

  Result<std::string> CreateSnapshot(const std::string& name, const std::string& base_dev,
                                     const std::string& cow_dev, uint64_t sectors) override {
    if (!IsValidDmName(name)) return Error::Invalid("bad device-mapper name \"" + name + "\"");
    if (base_dev.empty() || cow_dev.empty() || base_dev.find(' ') != std::string::npos ||
        cow_dev.find(' ') != std::string::npos) {
      return Error::Invalid("bad snapshot devices \"" + base_dev + "\", \"" + cow_dev + "\"");
    }
    if (sectors == 0) return Error::Invalid("snapshot " + name + " of zero sectors");
    std::string table = "0 " + std::to_string(sectors) + " snapshot " + base_dev + " " + cow_dev + " P 8";
    std::vector<std::string> argv = {"dmsetup", "create", name, "--table", table};
    BANGER_ASSIGN_OR_RETURN(CommandResult r, run_(argv));
    if (r.exit_code != 0) {
      Error e = ToolFailed(argv, r).Wrap("creating dm snapshot " + name);
      // dmsetup create can fail after the (empty) device exists, e.g. when
      // the table load is refused: leave nothing behind.
      if (!Mentions(r, {"already exists"})) Remove(name).ok();
      return e;
    }
    return "/dev/mapper/" + name;
  }

  Status Remove(const std::string& name) override {
    if (!IsValidDmName(name)) return Error::Invalid("bad device-mapper name \"" + name + "\"");
    std::vector<std::string> argv = {"dmsetup", "remove", "--retry", name};
    BANGER_ASSIGN_OR_RETURN(CommandResult r, run_(argv));
    if (r.exit_code == 0) return OkStatus();
    if (Mentions(r, {"No such device", "not found"})) return OkStatus();
    return ToolFailed(argv, r).Wrap("removing dm device " + name);
  }

  Result<std::vector<std::string>> LoopsBackedBy(const std::string& file) override {
    std::vector<std::string> argv = {"losetup", "-j", file};
    BANGER_ASSIGN_OR_RETURN(CommandResult r, run_(argv));
    if (r.exit_code != 0) return ToolFailed(argv, r).Wrap("listing loops of " + file);
    // "/dev/loop3: [2049]:131 (/path/to/file)", one per line.
    std::vector<std::string> out;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      std::string dev = line.substr(0, line.find(':'));
      if (IsLoopDevice(dev)) out.push_back(dev);
    }
    return out;
  }

 private:
  CommandRunner run_;
  std::string control_;
  std::string modules_dir_;
};

}  // namespace impl
}  // namespace

DeviceMapperOps& RealDeviceMapperOps() {
  static impl::RealDeviceMapperOps* ops = [] {
    utsname u{};
    ::uname(&u);
    return new impl::RealDeviceMapperOps(
        [](const std::vector<std::string>& argv) { return RunCommand(argv, kToolTimeout); },
        "/dev/mapper/control", std::string("/lib/modules/") + u.release);
  }();
  return *ops;
}

std::unique_ptr<DeviceMapperOps> MakeDeviceMapperOps(CommandRunner run, std::string control_path,
                                                     std::string modules_dir) {
  return std::make_unique<impl::RealDeviceMapperOps>(std::move(run), std::move(control_path),
                                                     std::move(modules_dir));
}

std::string DmNameFor(const std::string& vm_id) { return "banger-" + vm_id.substr(0, 16); }

Result<VmHandles> SetUpDmRoot(DeviceMapperOps& ops, const std::string& vm_id, const std::string& base_rootfs,
                              const std::string& cow_file) {
  struct stat sb {};
  if (::stat(base_rootfs.c_str(), &sb) != 0) return Error::FromErrno("stat " + base_rootfs);
  // The snapshot is exactly as large as the loop over the base: its size in
  // whole 512-byte sectors.
  uint64_t sectors = static_cast<uint64_t>(sb.st_size) / 512;
  if (sectors == 0) return Error::Invalid("image rootfs " + base_rootfs + " is empty");
  if (!IsRegularFile(cow_file)) return Error::NotFound("COW file " + cow_file + " is missing");

  VmHandles h;
  BANGER_ASSIGN_OR_RETURN(
      h.base_loop, Annotate(ops.AttachLoop(base_rootfs, /*read_only=*/true), "attaching the image rootfs"));
  ScopeGuard undo_base([&] {
    if (auto st = ops.DetachLoop(h.base_loop); !st.ok()) spdlog::warn("rollback: {}", st.error().message());
  });
  BANGER_ASSIGN_OR_RETURN(h.cow_loop,
                          Annotate(ops.AttachLoop(cow_file, /*read_only=*/false), "attaching the COW file"));
  ScopeGuard undo_cow([&] {
    if (auto st = ops.DetachLoop(h.cow_loop); !st.ok()) spdlog::warn("rollback: {}", st.error().message());
  });
  h.dm_name = DmNameFor(vm_id);
  BANGER_ASSIGN_OR_RETURN(h.dm_dev, ops.CreateSnapshot(h.dm_name, h.base_loop, h.cow_loop, sectors));
  undo_cow.Dismiss();
  undo_base.Dismiss();
  return h;
}

Status TearDownDm(DeviceMapperOps& ops, VmHandles& h, const DmBackingFiles& expect) {
  Status first;
  auto note = [&first](Status st) {
    if (!st.ok()) {
      spdlog::warn("dm teardown: {}", st.error().message());
      if (first.ok()) first = std::move(st);
    }
  };
  if (!h.dm_name.empty()) {
    Status st = ops.Remove(h.dm_name);
    if (st.ok()) {
      h.dm_name.clear();
      h.dm_dev.clear();
    }
    note(std::move(st));
  } else {
    h.dm_dev.clear();  // a path without its name cannot be removed by us
  }
  // The snapshot held both loops open; once it is gone they detach. Were it
  // still there (busy), `losetup -d` only marks them autoclear.
  auto detach = [&](std::string& dev, const std::string& backing) {
    if (dev.empty()) return;
    if (!backing.empty() && PathExists(backing)) {
      auto loops = ops.LoopsBackedBy(backing);
      if (!loops.ok()) return note(std::move(loops).error());
      if (std::find(loops->begin(), loops->end(), dev) == loops->end()) {
        // Already detached, or its number now belongs to another file.
        spdlog::info("dm teardown: {} is no longer backed by {}; leaving it alone", dev, backing);
        dev.clear();
        return;
      }
    }
    Status st = ops.DetachLoop(dev);
    if (st.ok()) dev.clear();
    note(std::move(st));
  };
  detach(h.cow_loop, expect.cow_file);
  detach(h.base_loop, expect.base_rootfs);
  return first;
}

Status CreateCowFile(const std::string& path, int64_t size_bytes) {
  if (size_bytes <= 0) return Error::Invalid("COW file size must be positive");
  return CreateSparseFile(path, size_bytes);
}

DiskFormat ProbeDiskFormat(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return DiskFormat::kUnknown;
  unsigned char head[4] = {};
  // dm-snap-persistent.c: le32 SNAP_MAGIC 0x70416e53 at offset 0.
  if (::pread(fd.get(), head, sizeof head, 0) == static_cast<ssize_t>(sizeof head) && head[0] == 'S' &&
      head[1] == 'n' && head[2] == 'A' && head[3] == 'p') {
    return DiskFormat::kDmCow;
  }
  // ext2/3/4: le16 0xEF53 at 1024 (superblock) + 56 (s_magic).
  unsigned char magic[2] = {};
  if (::pread(fd.get(), magic, sizeof magic, 1024 + 56) == static_cast<ssize_t>(sizeof magic) &&
      magic[0] == 0x53 && magic[1] == 0xEF) {
    return DiskFormat::kExt4;
  }
  return DiskFormat::kUnknown;
}

}  // namespace banger
