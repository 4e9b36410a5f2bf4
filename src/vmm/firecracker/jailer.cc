#include "vmm/firecracker/jailer.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <thread>

#include "base/fs.h"
#include "base/log.h"
#include "base/unique_fd.h"
#include "vmm/launch_util.h"

namespace banger {
namespace {

bool ValidJailId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Puts `src` into the chroot as `name`: a hard link, so what FC writes lands
// in the VM's own file. A read-only input on another filesystem is copied.
// Read-only inputs (root's) become readable by the jail's group.
Status Place(const std::string& src, const std::string& root, const std::string& name, bool read_only,
             gid_t gid) {
  std::string dst = root + "/" + name;
  if (::link(src.c_str(), dst.c_str()) != 0) {
    if (errno != EXDEV || !read_only) {
      return Error::FromErrno(
          "hard-linking " + src + " into the firecracker jail " + root +
          (read_only ? "" : " (a writable disk must be on the filesystem of the vm directory)"));
    }
    std::error_code ec;
    std::filesystem::copy_file(src, dst, ec);
    if (ec) return Error::Unavailable("copying " + src + " into the firecracker jail: " + ec.message());
  }
  return read_only ? GrantGroupRead(dst, gid) : OkStatus();
}

// FC before 1.14 refuses log and metrics paths that do not exist yet.
Status CreateIfMissing(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
  if (!fd.valid()) return Error::FromErrno("create " + path);
  return OkStatus();
}

}  // namespace

JailLayout JailLayoutFor(const LaunchSpec& spec, const std::string& exec_file) {
  JailLayout j;
  j.base = spec.vm_dir + "/" + kJailDirName;
  j.id = ValidJailId(spec.vm_name) ? spec.vm_name : spec.vm_id;
  j.exec_file = exec_file;
  const std::string exec_name = BaseName(exec_file);
  j.dir = j.base + "/" + exec_name + "/" + j.id;
  j.root = j.dir + "/root";
  j.exe = j.root + "/" + exec_name;
  return j;
}

std::vector<std::string> JailerArgv(const std::string& jailer_bin, const JailLayout& jail, uid_t uid,
                                    gid_t gid, const std::vector<std::string>& fc_args) {
  std::vector<std::string> argv = {jailer_bin,          "--id",         jail.id,
                                   "--exec-file",       jail.exec_file, "--uid",
                                   std::to_string(uid), "--gid",        std::to_string(gid),
                                   "--chroot-base-dir", jail.base,      "--"};
  argv.insert(argv.end(), fc_args.begin(), fc_args.end());
  return argv;
}

Result<LaunchSpec> PrepareJail(const LaunchSpec& spec, const JailLayout& jail, uid_t uid, gid_t gid) {
  if (spec.vm_dir.empty()) return Error::Invalid("firecracker launch: no vm directory");
  if (!ValidJailId(jail.id))
    return Error::Invalid("firecracker jail id \"" + jail.id + "\" is not [A-Za-z0-9-]{1,64}");
  // The jailer runs as root below the VM directory: it must be the daemon's
  // alone (an unjailed run earlier gave it to the VMM user).
  if (::chown(spec.vm_dir.c_str(), ::geteuid(), ::getegid()) != 0 ||
      ::chmod(spec.vm_dir.c_str(), 0700) != 0) {
    return Error::FromErrno("taking back " + spec.vm_dir);
  }
  BANGER_RETURN_IF_ERROR(RemoveJail(spec.vm_dir));
  BANGER_RETURN_IF_ERROR(MakeDirs(jail.root, 0700));

  LaunchSpec r = spec;
  auto chown_in_jail = [&](const std::string& name) -> Status {
    std::string p = jail.root + "/" + name;
    if (::lchown(p.c_str(), uid, gid) != 0) return Error::FromErrno("chown " + p);
    return OkStatus();
  };
  // Read-only inputs: root's files, readable by the jail's user.
  if (spec.kernel_path.empty()) return Error::Invalid("firecracker launch: no kernel path");
  BANGER_RETURN_IF_ERROR(Place(spec.kernel_path, jail.root, "kernel", true, gid));
  r.kernel_path = "kernel";
  if (!spec.initrd_path.empty()) {
    BANGER_RETURN_IF_ERROR(Place(spec.initrd_path, jail.root, "initrd", true, gid));
    r.initrd_path = "initrd";
  }
  for (auto& drive : r.drives) {
    std::string name = drive.id + ".img";
    BANGER_RETURN_IF_ERROR(Place(drive.path, jail.root, name, drive.read_only, gid));
    if (!drive.read_only) BANGER_RETURN_IF_ERROR(chown_in_jail(name));
    drive.path = name;
  }
  // FC's own files, written by it: the VM's files, linked in.
  for (auto [path, name] : {std::pair<std::string*, const char*>{&r.vmm_log_path, "vmm.log"},
                            {&r.metrics_path, "metrics.json"}}) {
    if (path->empty()) continue;
    BANGER_RETURN_IF_ERROR(CreateIfMissing(*path));
    BANGER_RETURN_IF_ERROR(Place(*path, jail.root, name, false, gid));
    BANGER_RETURN_IF_ERROR(chown_in_jail(name));
    *path = name;
  }
  // Sockets: FC binds them inside; the daemon reaches them through the VM's
  // usual paths, which point into the jail.
  for (auto [path, name] :
       {std::pair<std::string*, const char*>{&r.control_sock_path, "api.sock"}, {&r.vsock_path, "v.sock"}}) {
    if (path->empty()) continue;
    (void)::unlink(path->c_str());
    std::string target = jail.root + "/" + name;
    if (::symlink(target.c_str(), path->c_str()) != 0) {
      return Error::FromErrno("symlinking " + *path + " to " + target);
    }
    *path = name;
  }
  return r;
}

Result<ProcIdentity> WaitForJailedExec(ProcessOps& ops, pid_t pid, const JailLayout& jail, uid_t uid,
                                       std::chrono::milliseconds timeout) {
  Deadline deadline(timeout);
  auto jailer = ops.Identify(pid);
  if (!jailer.ok()) return Error::Unavailable("the jailer exited right after it started");
  while (true) {
    auto now = ops.Identify(pid);
    if (!now.ok() || now->start_time != jailer->start_time) {
      return Error::Unavailable("the jailer exited before it started firecracker");
    }
    struct stat st {};
    if (::stat(jail.exe.c_str(), &st) == 0 && now->exe_dev == static_cast<uint64_t>(st.st_dev) &&
        now->exe_ino == static_cast<uint64_t>(st.st_ino)) {
      now->uid = uid;
      return *now;
    }
    if (deadline.Expired()) {
      (void)KillAndWait(ops, *jailer, kVmmKillWait);
      return Error::Timeout("the jailer did not start firecracker in time");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

Status RemoveJail(const std::string& vm_dir) {
  if (vm_dir.empty()) return OkStatus();
  return RemoveAll(vm_dir + "/" + kJailDirName);
}

JailGuard::~JailGuard() {
  if (vm_dir_.empty()) return;
  if (auto st = RemoveJail(vm_dir_); !st.ok()) spdlog::warn("vmm: removing jail: {}", st.error().message());
}

}  // namespace banger
