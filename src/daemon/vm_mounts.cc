#include "daemon/vm_mounts.h"

#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "image/kernel_info.h"
#include "model/mounts.h"

namespace banger {
namespace {

Result<std::string> RealResolve(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> resolved(::realpath(path.c_str(), nullptr), &std::free);
  if (!resolved) return Error::FromErrno(path);
  return std::string(resolved.get());
}

bool RealIsDirectory(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<int> RealAccessAs(const std::string& path, const Credentials& who, int mode) {
  // Without root the daemon cannot take another uid: then the caller is the
  // daemon's own user (anyone else cannot reach its socket) and access(2)
  // answers for it directly.
  if (::geteuid() != 0) {
    if (who.uid != ::geteuid())
      return Error::Invalid("cannot check access for uid " + std::to_string(who.uid));
    return ::access(path.c_str(), mode) == 0 ? 0 : errno;
  }
  // access(2) checks the real ids, which are the caller's in the probe.
  return ProbeErrnoAs(
      who, path, [](const char* p, int m) { return ::access(p, m) == 0 ? 0 : errno; }, mode);
}

}  // namespace

const MountOps& RealMountOps() {
  static const MountOps ops{RealResolve, RealIsDirectory, RealAccessAs};
  return ops;
}

Result<std::vector<VmMount>> CheckMountsForCaller(const std::vector<VmMount>& mounts,
                                                  const std::optional<Credentials>& caller,
                                                  const MountOps& ops) {
  if (mounts.empty()) return mounts;
  BANGER_RETURN_IF_ERROR(ValidateMounts(mounts));
  if (!caller) {
    return Error::Invalid(
        "--mount needs the local API socket: the caller's identity decides which folders it may share");
  }
  std::vector<VmMount> out;
  for (const VmMount& m : mounts) {
    auto resolved = ops.resolve(m.host_path);
    if (!resolved.ok())
      return Error::Invalid("host folder " + m.host_path + ": " + resolved.error().message());
    if (!ops.is_directory(*resolved))
      return Error::Invalid("host folder " + m.host_path + " is not a directory");
    const int mode = m.read_only ? (R_OK | X_OK) : (R_OK | W_OK | X_OK);
    BANGER_ASSIGN_OR_RETURN(int err, ops.access_as(*resolved, *caller, mode));
    if (err != 0) {
      return Error::Invalid("host folder " + m.host_path + ": uid " + std::to_string(caller->uid) +
                            " may not " + (m.read_only ? "read" : "read and write") + " it (" +
                            std::strerror(err) + ")");
    }
    out.push_back({*resolved, m.guest_path, m.read_only});
  }
  return out;
}

Status CheckMountsAtBoot(const std::vector<VmMount>& mounts, const MountOps& ops) {
  for (const VmMount& m : mounts) {
    auto resolved = ops.resolve(m.host_path);
    if (!resolved.ok())
      return Error::Unavailable("host folder " + m.host_path + ": " + resolved.error().message());
    if (*resolved != m.host_path) {
      return Error::Unavailable("host folder " + m.host_path + " now resolves to " + *resolved +
                                " (a symlink appeared in its path); recreate the vm to share it");
    }
    if (!ops.is_directory(m.host_path))
      return Error::Unavailable("host folder " + m.host_path + " is not a directory");
  }
  return OkStatus();
}

Status CheckImageMounts(const Image& img, const std::vector<VmMount>& mounts) {
  if (mounts.empty()) return OkStatus();
  auto info = InspectKernelModules(img.modules_dir);
  const std::string fix = "build one that has 9p with `banger image build NAME --kernel-flavour generic`";
  if (!info.ok()) {
    return Error::Invalid("--mount needs a kernel with 9p, and image " + img.name +
                          " has no module tree to tell (" + info.error().message() + "): " + fix);
  }
  if (!info->has_9p) {
    return Error::Invalid("--mount needs a kernel with 9p, and image " + img.name + "'s kernel " +
                          info->version + " has none: " + fix);
  }
  return OkStatus();
}

std::vector<ShareSpec> SharesOf(const std::vector<VmMount>& mounts) {
  std::vector<ShareSpec> out;
  for (size_t i = 0; i < mounts.size(); ++i)
    out.push_back({MountTag(i), mounts[i].host_path, mounts[i].read_only});
  return out;
}

Status CheckSavable(const VmRecord& vm) {
  if (vm.spec.mounts.empty()) return OkStatus();
  return Error::Conflict("vm " + vm.name +
                         " has host folders (--mount): QEMU cannot save a VM with a mounted 9p share, so it "
                         "cannot be snapshotted, saved (stop --save), forked or made a template");
}

}  // namespace banger
