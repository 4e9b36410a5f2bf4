#include "vmm/firecracker/fc_snapshot.h"

#include <fcntl.h>
#include <unistd.h>

#include <thread>

#include "base/fs.h"
#include "base/unique_fd.h"
#include "vmm/firecracker/fc_client.h"
#include "vmm/launch_util.h"

namespace banger {
namespace {

// The guest NIC's id in FC's API (as fc_backend.cc configures it).
constexpr const char* kFcNicId = "eth0";
// One readiness probe while FC starts.
constexpr std::chrono::milliseconds kProbeTimeout{200};

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? std::string("/") : path.substr(0, slash);
}

Status RefuseJailer(const BackendOptions& opts) {
  if (!opts.jailer_bin.empty()) {
    return Error::Unavailable("firecracker snapshots are not supported under the jailer (jailer_bin is set)");
  }
  return OkStatus();
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

Status WaitForApi(ProcessOps& ops, const ProcIdentity& who, const std::string& sock,
                  const Deadline& deadline) {
  FcClient probe(sock, kProbeTimeout, deadline);
  while (true) {
    if (!IsSameProcess(ops, who)) return Error::Unavailable("firecracker exited before its API came up");
    if (PathExists(sock) && probe.DescribeInstance().ok()) return OkStatus();
    if (deadline.Expired()) return Error::Timeout("firecracker API on " + sock + " did not come up in time");
    std::this_thread::sleep_for(kVmmPollInterval);
  }
}

}  // namespace

Status FcSaveSnapshot(const BackendOptions& opts, const VmmProcess& p, const SnapshotPaths& out,
                      std::chrono::milliseconds timeout) {
  BANGER_RETURN_IF_ERROR(RefuseJailer(opts));
  if (out.state_path.empty() || out.memory_path.empty()) {
    return Error::Invalid("firecracker snapshot: both a state and a memory path are needed");
  }
  Deadline deadline(timeout);
  // The daemon keeps the control socket in the VM directory.
  const std::string vm_dir = DirOf(p.control_sock_path);
  BANGER_ASSIGN_OR_RETURN(std::string state, FcPath(opts, vm_dir, out.state_path));
  BANGER_ASSIGN_OR_RETURN(std::string memory, FcPath(opts, vm_dir, out.memory_path));
  if (opts.vmm_user) {
    BANGER_RETURN_IF_ERROR(GiveToVmmUser(*opts.vmm_user, vm_dir, out.state_path));
    BANGER_RETURN_IF_ERROR(GiveToVmmUser(*opts.vmm_user, vm_dir, out.memory_path));
  } else if (PathExists(out.state_path) || PathExists(out.memory_path)) {
    return Error::Conflict("firecracker snapshot: " + out.state_path + " already exists");
  }
  // Snapshot creation takes as long as writing the guest's memory: one call
  // may use the whole budget.
  FcClient fc(p.control_sock_path, timeout, deadline);
  auto paused = fc.PauseVm();
  if (!paused.ok()) return std::move(paused).error().Wrap("pausing the vm");
  auto created = fc.CreateSnapshot(state, memory);
  if (!created.ok()) return std::move(created).error().Wrap("firecracker could not write the snapshot");
  for (const auto& f : {out.state_path, out.memory_path}) {
    UniqueFd fd(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid() || ::fsync(fd.get()) != 0) return Error::FromErrno("syncing " + f);
  }
  return OkStatus();
}

Result<VmmProcess> FcLaunchFromSnapshot(const BackendOptions& opts, ProcessOps& ops, const LaunchSpec& spec,
                                        const SnapshotPaths& in, bool resume,
                                        std::chrono::milliseconds timeout) {
  BANGER_RETURN_IF_ERROR(RefuseJailer(opts));
  Deadline deadline(timeout);
  BANGER_RETURN_IF_ERROR(CheckSocketPath("firecracker API socket", spec.control_sock_path));
  for (const auto& f : {in.state_path, in.memory_path}) {
    if (!IsRegularFile(f)) return Error::NotFound("snapshot file " + f + " is missing");
  }
  const std::string& vm_dir = spec.vm_dir;
  BANGER_ASSIGN_OR_RETURN(std::string api_sock, FcPath(opts, vm_dir, spec.control_sock_path));
  BANGER_ASSIGN_OR_RETURN(std::string state, FcPath(opts, vm_dir, in.state_path));
  BANGER_ASSIGN_OR_RETURN(std::string memory, FcPath(opts, vm_dir, in.memory_path));
  BANGER_ASSIGN_OR_RETURN(std::string vmm_log, FcPath(opts, vm_dir, spec.vmm_log_path));
  // FC binds the API socket, and during the load the vsock socket again.
  const std::vector<std::string> sockets = {spec.control_sock_path, spec.vsock_path};
  RemovePaths(sockets);
  if (!spec.vmm_log_path.empty()) {
    BANGER_RETURN_IF_ERROR(CreateFileWithMode(spec.vmm_log_path, 0640));
    if (opts.vmm_user && ::chown(spec.vmm_log_path.c_str(), opts.vmm_user->uid, opts.vmm_user->gid) != 0) {
      return Error::FromErrno("chown " + spec.vmm_log_path);
    }
  }

  std::vector<LogMark> logs = {LogMark(spec.console_log_path), LogMark(spec.vmm_log_path)};
  SpawnOptions so;
  so.argv = {opts.firecracker_bin, "--api-sock", api_sock};
  const std::string& id = spec.vm_name.empty() ? spec.vm_id : spec.vm_name;
  if (!id.empty()) so.argv.insert(so.argv.end(), {"--id", id});
  so.stdout_path = spec.console_log_path;
  if (opts.vmm_user) {
    so.run_as = Credentials{opts.vmm_user->uid, opts.vmm_user->gid, opts.vmm_user->groups};
    so.cwd = vm_dir;
  }
  so.no_new_privs = true;
  so.cgroup_procs_files = spec.cgroup_procs_files;
  auto pid = SpawnDetached(so);
  if (!pid.ok()) return std::move(pid).error().Wrap("spawning firecracker");
  auto who = IdentifySpawned(ops, *pid, VmmUid(opts));
  if (!who.ok()) {
    RemovePaths(sockets);
    return WithExitOutput(std::move(who).error(), ops, ProcIdentity{}, logs);
  }
  LaunchGuard guard(ops, *who, sockets);
  if (spec.on_spawn) BANGER_RETURN_IF_ERROR(spec.on_spawn(*who));

  Status st = WaitForApi(ops, *who, spec.control_sock_path, deadline);
  if (st.ok()) {
    FcClient fc(spec.control_sock_path, timeout, deadline);
    if (!vmm_log.empty()) st = fc.PutLogger(vmm_log, "Info");
    if (st.ok()) st = fc.LoadSnapshot(state, memory, resume, kFcNicId, spec.tap_device);
    if (!st.ok()) st = std::move(st).error().Wrap("loading the firecracker snapshot");
  }
  if (!st.ok()) return WithExitOutput(std::move(st).error(), ops, *who, logs);
  guard.Release();
  return VmmProcess{*pid, spec.control_sock_path, *who, ""};
}

}  // namespace banger
