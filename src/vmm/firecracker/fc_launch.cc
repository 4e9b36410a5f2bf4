#include "vmm/firecracker/fc_launch.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "base/fs.h"
#include "base/unique_fd.h"
#include "vmm/firecracker/fc_client.h"

namespace banger {
namespace {

// One readiness probe while FC starts: it answers in microseconds once up.
constexpr std::chrono::milliseconds kProbeTimeout{200};

// The name FC is given for `path`, running in `vm_dir`: a file directly in
// it by its base name, any other under `link_name` (a hard link with a VMM
// user, which also gets group read on read-only inputs; a symlink without
// one). `owned`: a file FC writes, given to the VMM user.
Result<std::string> Expose(const std::string& vm_dir, const std::string& path, const std::string& link_name,
                           const UserAccount* user, bool owned) {
  if (path.empty()) return std::string();
  const std::string dir = vm_dir + "/";
  std::string name;
  if (path.compare(0, dir.size(), dir) == 0 && path.find('/', dir.size()) == std::string::npos) {
    name = path.substr(dir.size());
  } else {
    name = link_name;
    const std::string dst = dir + name;
    (void)::unlink(dst.c_str());
    if (!user) {
      if (::symlink(path.c_str(), dst.c_str()) != 0)
        return Error::FromErrno("symlinking " + dst + " to " + path);
      return name;
    }
    if (::link(path.c_str(), dst.c_str()) != 0) {
      return Error::FromErrno("hard-linking " + path + " into " + vm_dir +
                              " for the vmm user (the image must be on the same filesystem as the vm)");
    }
    if (!owned) BANGER_RETURN_IF_ERROR(GrantGroupRead(dst, user->gid));
  }
  if (user && owned && PathExists(dir + name) && ::chown((dir + name).c_str(), user->uid, user->gid) != 0) {
    return Error::FromErrno("chown " + dir + name + " to " + user->name);
  }
  return name;
}

// The spec with every path FC opens relative to the VM directory (its
// working directory). With a VMM user the directory and the VM's writable
// files become that user's and read-only inputs are hard-linked in.
Result<LaunchSpec> InVmDir(const LaunchSpec& spec, const UserAccount* user) {
  if (spec.vm_dir.empty()) return Error::Invalid("firecracker launch: no vm directory");
  LaunchSpec r = spec;
  const std::string& d = spec.vm_dir;
  if (user && (::chown(d.c_str(), user->uid, user->gid) != 0 || ::chmod(d.c_str(), 0700) != 0)) {
    return Error::FromErrno("giving " + d + " to " + user->name);
  }
  for (const std::string* log : {&spec.vmm_log_path, &spec.metrics_path}) {
    if (!log->empty()) BANGER_RETURN_IF_ERROR(CreateFcFileIfMissing(*log));
  }
  // Links a load made to a snapshot's files (fc_snapshot.cc) and a daemon
  // killed during it left behind: they would keep the files' blocks.
  RemovePaths({d + "/" + kFcSnapshotStateName, d + "/" + kFcSnapshotMemoryName});
  if (user) {
    BANGER_ASSIGN_OR_RETURN(r.control_sock_path, Expose(d, spec.control_sock_path, "api.sock", user, false));
  }
  BANGER_ASSIGN_OR_RETURN(r.vsock_path, Expose(d, spec.vsock_path, "v.sock", user, false));
  BANGER_ASSIGN_OR_RETURN(r.kernel_path, Expose(d, spec.kernel_path, "fc-kernel", user, false));
  BANGER_ASSIGN_OR_RETURN(r.initrd_path, Expose(d, spec.initrd_path, "fc-initrd", user, false));
  BANGER_ASSIGN_OR_RETURN(r.vmm_log_path, Expose(d, spec.vmm_log_path, "vmm.log", user, true));
  BANGER_ASSIGN_OR_RETURN(r.metrics_path, Expose(d, spec.metrics_path, "metrics.json", user, true));
  for (auto& drive : r.drives) {
    BANGER_ASSIGN_OR_RETURN(drive.path, Expose(d, drive.path, "fc-" + drive.id, user, !drive.read_only));
  }
  return r;
}

}  // namespace

uid_t FcJailUid(const BackendOptions& opts) { return opts.vmm_user ? opts.vmm_user->uid : 0; }
gid_t FcJailGid(const BackendOptions& opts) { return opts.vmm_user ? opts.vmm_user->gid : 0; }

Status CreateFcFileIfMissing(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
  if (!fd.valid()) return Error::FromErrno("create " + path);
  return OkStatus();
}

Result<FcPlacement> PlaceFirecracker(const BackendOptions& opts, const LaunchSpec& spec) {
  FcPlacement p;
  if (!opts.jailer_bin.empty()) {
    auto exec_file = FindExecutable(opts.firecracker_bin);
    if (!exec_file.ok()) return std::move(exec_file).error().Wrap("firecracker_bin");
    p.jail = JailLayoutFor(spec, AbsolutePath(*exec_file));
    auto jailed = PrepareJail(spec, *p.jail, FcJailUid(opts), FcJailGid(opts));
    if (!jailed.ok()) return std::move(jailed).error().Wrap("preparing the firecracker jail");
    p.fc = std::move(*jailed);
    p.root = p.jail->root;
    return p;
  }
  auto relative = InVmDir(spec, opts.vmm_user ? &*opts.vmm_user : nullptr);
  if (!relative.ok()) return std::move(relative).error().Wrap("preparing the vm directory for firecracker");
  p.fc = std::move(*relative);
  p.root = spec.vm_dir;
  return p;
}

SpawnOptions FirecrackerSpawnOptions(const BackendOptions& opts, const LaunchSpec& spec,
                                     const FcPlacement& p) {
  SpawnOptions so;
  so.argv = {opts.firecracker_bin, "--api-sock", p.fc.control_sock_path};
  const std::string& id = spec.vm_name.empty() ? spec.vm_id : spec.vm_name;
  if (!id.empty()) so.argv.insert(so.argv.end(), {"--id", id});
  // FC writes the guest serial console, and its own messages until the
  // logger is configured, to stdout.
  so.stdout_path = spec.console_log_path;
  if (p.jail) {
    // The jailer passes its --id on to firecracker and chroots it.
    so.argv = JailerArgv(opts.jailer_bin, *p.jail, FcJailUid(opts), FcJailGid(opts),
                         {"--api-sock", p.fc.control_sock_path});
  } else {
    so.cwd = spec.vm_dir;
    if (opts.vmm_user) so.run_as = Credentials{opts.vmm_user->uid, opts.vmm_user->gid, opts.vmm_user->groups};
  }
  so.no_new_privs = true;
  so.cgroup_procs_files = spec.cgroup_procs_files;
  return so;
}

Result<ProcIdentity> IdentifyFirecracker(const BackendOptions& opts, ProcessOps& ops, pid_t pid,
                                         const FcPlacement& p, const Deadline& deadline) {
  if (p.jail) return WaitForJailedExec(ops, pid, *p.jail, FcJailUid(opts), deadline.Remaining());
  return IdentifySpawned(ops, pid, VmmUid(opts));
}

Status WaitForFcApi(ProcessOps& ops, const ProcIdentity& who, const std::string& sock,
                    const Deadline& deadline) {
  FcClient probe(sock, kProbeTimeout, deadline);
  while (true) {
    if (!IsSameProcess(ops, who)) return Error::Unavailable("firecracker exited before its API came up");
    if (PathExists(sock) && probe.DescribeInstance().ok()) return OkStatus();
    if (deadline.Expired()) return Error::Timeout("firecracker API on " + sock + " did not come up in time");
    std::this_thread::sleep_for(kVmmPollInterval);
  }
}

}  // namespace banger
