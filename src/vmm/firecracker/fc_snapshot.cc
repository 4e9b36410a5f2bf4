#include "vmm/firecracker/fc_snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "base/fs.h"
#include "base/unique_fd.h"
#include "vmm/firecracker/fc_client.h"
#include "vmm/firecracker/fc_launch.h"
#include "vmm/launch_util.h"

namespace banger {
namespace {

// The guest NIC's id in FC's API (as fc_backend.cc configures it).
constexpr const char* kFcNicId = "eth0";
constexpr const char* kStateLink = kFcSnapshotStateName;
constexpr const char* kMemoryLink = kFcSnapshotMemoryName;
// network_overrides (a snapshot continued on another tap) came with 1.12.
constexpr int kNetworkOverridesMinor = 12;

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? std::string("/") : path.substr(0, slash);
}

// The name FC is given for `path`: as is, or (running as the VMM user in
// `vm_dir`) relative to that directory, which it must then lie in.
Result<std::string> FcPath(const BackendOptions& opts, const std::string& vm_dir, const std::string& path) {
  if (!opts.vmm_user || path.empty()) return path;
  const std::string prefix = vm_dir + "/";
  if (path.compare(0, prefix.size(), prefix) != 0) {
    return Error::Invalid("firecracker snapshot file " + path + " is outside the vm directory " + vm_dir);
  }
  return path.substr(prefix.size());
}

// Running as the VMM user, FC must traverse from `vm_dir` down to `file`'s
// directory and write `file`: those directories and the (new, empty) file
// are given to that user.
Status GiveToVmmUser(const UserAccount& user, const std::string& vm_dir, const std::string& file) {
  UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return Error::FromErrno("creating " + file);
  if (::fchown(fd.get(), user.uid, user.gid) != 0) return Error::FromErrno("chown " + file);
  for (std::string dir = DirOf(file); dir.size() > vm_dir.size(); dir = DirOf(dir)) {
    if (::chown(dir.c_str(), user.uid, user.gid) != 0) return Error::FromErrno("chown " + dir);
  }
  return OkStatus();
}

Status SyncFile(const std::string& f) {
  UniqueFd fd(::open(f.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid() || ::fsync(fd.get()) != 0) return Error::FromErrno("syncing " + f);
  return OkStatus();
}

// Moves what FC wrote in the chroot (a directory its user owns) to `to`
// without overwriting: a regular file only, never a link the jail put there.
Status MoveOutOfJail(const std::string& from, const std::string& to) {
  struct stat st {};
  if (::lstat(from.c_str(), &st) != 0) return Error::FromErrno("firecracker wrote no " + from);
  if (!S_ISREG(st.st_mode)) return Error::Invalid(from + " in the firecracker jail is not a regular file");
  if (::link(from.c_str(), to.c_str()) != 0) return Error::FromErrno("moving " + from + " to " + to);
  (void)::unlink(from.c_str());
  return OkStatus();
}

// Under the jailer FC writes the snapshot inside its chroot (it can reach
// nothing else); the files are then moved to `out` (same filesystem: the
// jail is inside the VM directory).
Status SaveJailed(const VmmProcess& p, const SnapshotPaths& out, std::chrono::milliseconds timeout,
                  const Deadline& deadline) {
  // <vm_dir>/api.sock is a symlink to <chroot>/api.sock (PrepareJail).
  std::error_code ec;
  const std::string target = std::filesystem::read_symlink(p.control_sock_path, ec).string();
  if (ec || target.empty() || target[0] != '/') {
    return Error::Internal("firecracker snapshot: " + p.control_sock_path + " does not lead into a jail");
  }
  const std::string root = DirOf(target);
  const std::string state = root + "/" + kStateLink;
  const std::string memory = root + "/" + kMemoryLink;
  RemovePaths({state, memory});
  FcClient fc(p.control_sock_path, timeout, deadline);
  auto paused = fc.PauseVm();
  if (!paused.ok()) return std::move(paused).error().Wrap("pausing the vm");
  auto created = fc.CreateSnapshot(kStateLink, kMemoryLink);
  Status st = created.ok() ? MoveOutOfJail(state, out.state_path)
                           : std::move(created).error().Wrap("firecracker could not write the snapshot");
  if (st.ok()) st = MoveOutOfJail(memory, out.memory_path);
  RemovePaths({state, memory});
  if (!st.ok()) RemovePaths({out.state_path, out.memory_path});
  return st;
}

// The names FC reads a snapshot's files by. Unjailed without a VMM user:
// the paths as they are. Otherwise hard links in FC's directory (the chroot,
// or the VM directory, whose parents the VMM user cannot traverse), removed
// when this goes (FC has the memory file mapped by then).
class SnapshotLinks {
 public:
  SnapshotLinks() = default;
  SnapshotLinks(const SnapshotLinks&) = delete;
  SnapshotLinks& operator=(const SnapshotLinks&) = delete;
  ~SnapshotLinks() { RemovePaths(links_); }

  Result<std::string> Name(const BackendOptions& opts, const FcPlacement& p, const std::string& file,
                           const std::string& link_name) {
    if (!p.jail && !opts.vmm_user) return file;
    const std::string dst = p.root + "/" + link_name;
    (void)::unlink(dst.c_str());
    if (::link(file.c_str(), dst.c_str()) != 0) {
      if (errno != EXDEV) return Error::FromErrno("hard-linking " + file + " to " + dst);
      std::error_code ec;
      std::filesystem::copy_file(file, dst, ec);
      if (ec) return Error::Unavailable("copying " + file + " to " + dst + ": " + ec.message());
    }
    links_.push_back(dst);
    struct stat st {};
    if (::stat(dst.c_str(), &st) == 0 && st.st_uid != FcJailUid(opts)) {
      BANGER_RETURN_IF_ERROR(GrantGroupRead(dst, FcJailGid(opts)));
    }
    return link_name;
  }

 private:
  std::vector<std::string> links_;
};

// network_overrides needs FC >= 1.12: an older one answers 400 to the load.
Status CheckNetworkOverrides(FcClient& fc) {
  BANGER_ASSIGN_OR_RETURN(FcInstanceInfo info, fc.DescribeInstance());
  int major = 0;
  int minor = 0;
  std::string v = info.vmm_version;
  if (!v.empty() && v[0] == 'v') v.erase(0, 1);
  if (std::sscanf(v.c_str(), "%d.%d", &major, &minor) == 2 &&
      (major < 1 || (major == 1 && minor < kNetworkOverridesMinor))) {
    return Error::Unavailable(
        "firecracker " + info.vmm_version +
        " cannot give a restored vm its new tap (network_overrides needs firecracker 1." +
        std::to_string(kNetworkOverridesMinor) + " or newer)");
  }
  return OkStatus();
}

// After the load (still paused): every drive FC opened must be one of this
// VM's, by the name this launch gives it (relative: resolved in this VM's
// directory or chroot) or by its own absolute path (a snapshot of this VM
// taken before names were relative). Anything else would be another VM's
// disk.
Status CheckDrivesAreOurs(FcClient& fc, const LaunchSpec& spec, const FcPlacement& p) {
  BANGER_ASSIGN_OR_RETURN(Json cfg, fc.GetVmConfig());
  const Json* drives = cfg.contains("drives") ? &cfg["drives"] : nullptr;
  if (!drives || !drives->is_array()) {
    if (spec.drives.empty()) return OkStatus();
    return Error::Internal("GET /vm/config after the load names no drives");
  }
  for (const auto& d : *drives) {
    const std::string id = d.is_object() && d.contains("drive_id") && d["drive_id"].is_string()
                               ? d["drive_id"].get<std::string>()
                               : "";
    const std::string path = d.is_object() && d.contains("path_on_host") && d["path_on_host"].is_string()
                                 ? d["path_on_host"].get<std::string>()
                                 : "";
    bool ours = false;
    for (size_t i = 0; i < spec.drives.size() && i < p.fc.drives.size(); ++i) {
      if (spec.drives[i].id == id && (path == p.fc.drives[i].path || path == spec.drives[i].path))
        ours = true;
    }
    if (!ours) {
      return Error::Conflict("the snapshot's drive \"" + id + "\" is " + path + ", not a disk of this vm (" +
                             spec.vm_dir +
                             "): it can only be restored into the vm it was taken from (one an older "
                             "banger started: stop and start it to snapshot it for another vm)");
    }
  }
  return OkStatus();
}

}  // namespace

Status FcSaveSnapshot(const BackendOptions& opts, const VmmProcess& p, const SnapshotPaths& out,
                      std::chrono::milliseconds timeout) {
  if (out.state_path.empty() || out.memory_path.empty()) {
    return Error::Invalid("firecracker snapshot: both a state and a memory path are needed");
  }
  Deadline deadline(timeout);
  if (PathExists(out.state_path) || PathExists(out.memory_path)) {
    return Error::Conflict("firecracker snapshot: " + out.state_path + " already exists");
  }
  // Snapshot creation takes as long as writing the guest's memory: one call
  // may use the whole budget.
  if (!opts.jailer_bin.empty()) BANGER_RETURN_IF_ERROR(SaveJailed(p, out, timeout, deadline));
  if (opts.jailer_bin.empty()) {
    // The daemon keeps the control socket in the VM directory.
    const std::string vm_dir = DirOf(p.control_sock_path);
    BANGER_ASSIGN_OR_RETURN(std::string state, FcPath(opts, vm_dir, out.state_path));
    BANGER_ASSIGN_OR_RETURN(std::string memory, FcPath(opts, vm_dir, out.memory_path));
    if (opts.vmm_user) {
      BANGER_RETURN_IF_ERROR(GiveToVmmUser(*opts.vmm_user, vm_dir, out.state_path));
      BANGER_RETURN_IF_ERROR(GiveToVmmUser(*opts.vmm_user, vm_dir, out.memory_path));
    }
    FcClient fc(p.control_sock_path, timeout, deadline);
    auto paused = fc.PauseVm();
    if (!paused.ok()) return std::move(paused).error().Wrap("pausing the vm");
    auto created = fc.CreateSnapshot(state, memory);
    if (!created.ok()) return std::move(created).error().Wrap("firecracker could not write the snapshot");
  }
  for (const auto& f : {out.state_path, out.memory_path}) BANGER_RETURN_IF_ERROR(SyncFile(f));
  return OkStatus();
}

Result<VmmProcess> FcLaunchFromSnapshot(const BackendOptions& opts, ProcessOps& ops, const LaunchSpec& spec,
                                        const SnapshotPaths& in, bool resume,
                                        std::chrono::milliseconds timeout) {
  Deadline deadline(timeout);
  BANGER_RETURN_IF_ERROR(CheckSocketPath("firecracker API socket", spec.control_sock_path));
  for (const auto& f : {in.state_path, in.memory_path}) {
    if (!IsRegularFile(f)) return Error::NotFound("snapshot file " + f + " is missing");
  }
  // FC binds the API socket, and during the load the vsock socket again.
  const std::vector<std::string> sockets = {spec.control_sock_path, spec.vsock_path};
  RemovePaths(sockets);
  BANGER_RETURN_IF_ERROR(CheckFirecrackerDevices(opts, !spec.tap_device.empty()));

  // The VM directory (or a fresh jail) as for a cold launch: the names the
  // snapshot recorded resolve to this VM's disks and sockets.
  JailGuard jail_guard(opts.jailer_bin.empty() ? "" : spec.vm_dir);
  BANGER_ASSIGN_OR_RETURN(FcPlacement place, PlaceFirecracker(opts, spec));
  SnapshotLinks links;
  BANGER_ASSIGN_OR_RETURN(std::string state, links.Name(opts, place, in.state_path, kStateLink));
  BANGER_ASSIGN_OR_RETURN(std::string memory, links.Name(opts, place, in.memory_path, kMemoryLink));

  std::vector<LogMark> logs = {LogMark(spec.console_log_path), LogMark(spec.vmm_log_path)};
  auto pid = SpawnDetached(FirecrackerSpawnOptions(opts, spec, place));
  if (!pid.ok()) return std::move(pid).error().Wrap("spawning firecracker");
  auto who = IdentifyFirecracker(opts, ops, *pid, place, deadline);
  if (!who.ok()) {
    RemovePaths(sockets);
    return WithExitOutput(std::move(who).error(), ops, ProcIdentity{}, logs);
  }
  LaunchGuard guard(ops, *who, sockets);
  if (spec.on_spawn) BANGER_RETURN_IF_ERROR(spec.on_spawn(*who));

  Status st = WaitForFcApi(ops, *who, spec.control_sock_path, deadline);
  if (st.ok()) {
    FcClient fc(spec.control_sock_path, timeout, deadline);
    // Logger and metrics are not part of a snapshot.
    if (!place.fc.vmm_log_path.empty()) st = fc.PutLogger(place.fc.vmm_log_path, "Info");
    if (st.ok() && !place.fc.metrics_path.empty()) st = fc.PutMetrics(place.fc.metrics_path);
    if (st.ok() && !spec.tap_device.empty()) st = CheckNetworkOverrides(fc);
    // Loaded paused: the drives are checked before the guest runs a cycle.
    if (st.ok()) st = fc.LoadSnapshot(state, memory, false, kFcNicId, spec.tap_device);
    if (st.ok()) st = CheckDrivesAreOurs(fc, spec, place);
    if (st.ok() && resume) st = fc.ResumeVm();
    if (!st.ok()) st = std::move(st).error().Wrap("loading the firecracker snapshot");
  }
  if (!st.ok()) return WithExitOutput(std::move(st).error(), ops, *who, logs);
  guard.Release();
  jail_guard.Release();
  return VmmProcess{*pid, spec.control_sock_path, *who, ""};
}

}  // namespace banger
