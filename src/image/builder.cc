#include "image/builder.h"

#include <unistd.h>

#include <algorithm>
#include <optional>

#include "banger/init_script.h"
#include "base/fault.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/scope_guard.h"
#include "image/initramfs.h"
#include "image/kernel_info.h"
#include "image/kernel_package.h"
#include "image/modules.h"
#include "image/rootfs.h"
#include "model/types.h"

namespace banger {
namespace {

constexpr int64_t kMinRootfsBytes = int64_t{64} << 20;

Status CheckCancel(const std::atomic<bool>& cancel) {
  if (cancel.load()) return Error::Internal("interrupted");
  return OkStatus();
}

std::string TrimmedKey(const std::string& key) {
  size_t b = key.find_first_not_of(" \t\r\n");
  size_t e = key.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : key.substr(b, e - b + 1);
}

Result<ModuleIndex> LoadModuleIndex(const std::string& modules_root, const std::string& kver) {
  const std::string dir = modules_root + "/lib/modules/" + kver;
  BANGER_ASSIGN_OR_RETURN(std::string dep, ReadFile(dir + "/modules.dep"));
  // Some kernel packages do not ship it; then a built-in root reads as missing.
  std::string builtin;
  if (PathExists(dir + "/modules.builtin")) {
    BANGER_ASSIGN_OR_RETURN(builtin, ReadFile(dir + "/modules.builtin"));
  }
  return ModuleIndex::Parse(dep, builtin);
}

Status BuildRootfs(const ImageBuildRequest& req, const ImageBuildEnv& env, const FetchedKernel& kernel,
                   const ModuleIndex& modules, const std::string& rootfs_path, int64_t size,
                   const std::atomic<bool>& cancel) {
  if (req.profile == "oci") {
    const std::string& tree = req.oci_rootfs_dir;
    ScopeGuard remove_tree([&tree, keep = req.keep_oci_rootfs_dir] {
      if (!keep) (void)RemoveAll(tree);
    });
    Ext4Spec spec{rootfs_path, size, "banger-root", tree, /*journal=*/false};
    if (req.rootfs_size_bytes == 0) spec.inodes = Ext4FitFor(0, TreeEntryCount(tree)).inodes;
    return MakeExt4(spec);
  }
  const std::string staging = env.artifact_dir + "/.rootfs";
  BANGER_RETURN_IF_ERROR(RemoveAll(staging));
  ScopeGuard remove_staging([&staging] { (void)RemoveAll(staging); });
  BANGER_RETURN_IF_ERROR(MakeDirs(staging));
  if (req.profile == "minimal") {
    BANGER_RETURN_IF_ERROR(StageMinimalRootfs(staging, env.busybox, env.agent_binary));
  } else {
    DebianRootfsSpec spec;
    spec.staging = staging;
    spec.agent = env.agent_binary;
    spec.docker = req.docker;
    spec.modules_root = kernel.modules_root;
    spec.kernel_version = kernel.kernel_version;
    spec.modules = &modules;
    BANGER_RETURN_IF_ERROR(StageDebianRootfs(spec, cancel));
  }
  BANGER_RETURN_IF_ERROR(CheckCancel(cancel));
  // Only ever mounted read-only (each VM writes to its own overlay), so a
  // journal would be dead weight.
  return MakeExt4({rootfs_path, size, "banger-root", staging, /*journal=*/false});
}

// The work disk template: the filesystem's root becomes the guest's /root.
Status BuildWorkSeed(const ImageBuildEnv& env, const std::string& path) {
  const std::string staging = env.artifact_dir + "/.work-seed";
  BANGER_RETURN_IF_ERROR(RemoveAll(staging));
  ScopeGuard remove_staging([&staging] { (void)RemoveAll(staging); });
  BANGER_RETURN_IF_ERROR(MakeDirs(staging + "/.ssh", 0700));
  BANGER_RETURN_IF_ERROR(
      WriteFileAtomic(staging + "/.ssh/authorized_keys", TrimmedKey(env.ssh_public_key) + "\n", 0600));
  BANGER_RETURN_IF_ERROR(
      WriteFileAtomic(staging + "/.profile",
                      "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
                      "PS1='\\u@\\h:\\w\\$ '\n"
                      "if [ -n \"$BASH_VERSION\" ] && [ -f ~/.bashrc ]; then . ~/.bashrc; fi\n",
                      0644));
  BANGER_RETURN_IF_ERROR(MakeExt4({path, kWorkSeedBytes, "banger-work", staging, /*journal=*/true}));
  // mkfs.ext4 -d leaves the root directory 0755 whatever the source's mode,
  // and this one is root's home.
  BANGER_RETURN_IF_ERROR(Annotate(RunChecked({"debugfs", "-w", "-R", "set_inode_field / mode 040700", path}),
                                  "making /root private"));
  return OkStatus();
}

}  // namespace

Status ValidateBuildRequest(const ImageBuildRequest& req, const ImageBuildEnv& env) {
  if (req.profile != "minimal" && req.profile != "debian" && req.profile != "oci") {
    return Error::Invalid("unknown image profile \"" + req.profile + "\" (minimal or debian)");
  }
  if ((req.profile == "oci") != !req.oci_rootfs_dir.empty())
    return Error::Invalid("an unpacked OCI root goes with the oci profile, and only with it");
  if (req.profile == "oci" && !IsDirectory(req.oci_rootfs_dir))
    return Error::Invalid("unpacked OCI root " + req.oci_rootfs_dir + " is not a directory");
  if (req.docker && req.profile != "debian") return Error::Invalid("docker needs the debian profile");
  BANGER_RETURN_IF_ERROR(ValidateKernelFlavour(req.kernel_flavour));
  if (req.rootfs_size_bytes < 0 || (req.rootfs_size_bytes != 0 && req.rootfs_size_bytes < kMinRootfsBytes)) {
    return Error::Invalid("rootfs size must be at least " + FormatSizeBytes(kMinRootfsBytes));
  }
  if (!IsDirectory(env.artifact_dir))
    return Error::Invalid("artifact directory " + env.artifact_dir + " does not exist");
  if (!IsRegularFile(env.agent_binary))
    return Error::Unavailable("guest agent " + env.agent_binary + " not found");
  if (!IsRegularFile(env.busybox)) {
    return Error::Unavailable("busybox " + env.busybox +
                              " not found (install the Debian package busybox-static)");
  }
  const std::string key = TrimmedKey(env.ssh_public_key);
  const bool known_type =
      key.rfind("ssh-", 0) == 0 || key.rfind("ecdsa-", 0) == 0 || key.rfind("sk-", 0) == 0;
  if (!known_type || key.find(' ') == std::string::npos || key.find('\n') != std::string::npos) {
    return Error::Invalid(
        "ssh public key must be one OpenSSH public key line (\"ssh-ed25519 AAAA... comment\")");
  }
  return OkStatus();
}

namespace {

Result<BuiltImage> BuildSteps(const ImageBuildRequest& req, const ImageBuildEnv& env,
                              const BuildProgress& progress, const std::atomic<bool>& cancel) {
  const std::string& dir = env.artifact_dir;
  BuiltImage out;

  BANGER_ASSIGN_OR_RETURN(
      FetchedKernel kernel,
      Annotate(
          FetchKernel({dir, env.kernel_cache_dir, KernelMetaPackage(req.kernel_flavour)}, progress, cancel),
          "fetching kernel"));
  out.kernel_path = kernel.vmlinux_path;
  out.modules_dir = kernel.modules_root;
  out.kernel_version = kernel.kernel_version;
  BANGER_FAULT_POINT("image.build.kernel_fetched");
  BANGER_RETURN_IF_ERROR(CheckCancel(cancel));

  progress("resolving modules");
  BANGER_ASSIGN_OR_RETURN(
      ModuleIndex modules,
      Annotate(LoadModuleIndex(kernel.modules_root, kernel.kernel_version), "resolving modules"));
  BANGER_ASSIGN_OR_RETURN(std::vector<ModuleFile> boot_modules,
                          Annotate(modules.Resolve(InitramfsModuleRoots()), "resolving modules"));
  // Loaded only by a VM with host folders: what 9p needs beyond the above.
  std::vector<ModuleFile> mount_modules;
  if (KernelHas9p(modules)) {
    std::vector<std::string> roots = InitramfsModuleRoots();
    roots.insert(roots.end(), MountModuleRoots().begin(), MountModuleRoots().end());
    BANGER_ASSIGN_OR_RETURN(std::vector<ModuleFile> all,
                            Annotate(modules.Resolve(roots), "resolving modules"));
    for (ModuleFile& m : all) {
      if (std::find(boot_modules.begin(), boot_modules.end(), m) == boot_modules.end()) {
        mount_modules.push_back(std::move(m));
      }
    }
  }
  BANGER_RETURN_IF_ERROR(CheckCancel(cancel));

  progress("writing initramfs (" + std::to_string(boot_modules.size() + mount_modules.size()) + " modules)");
  out.initrd_path = dir + "/initrd.img";
  InitramfsSpec initramfs{kGuestInitScript,    env.busybox,           env.agent_binary,
                          kernel.modules_root, kernel.kernel_version, boot_modules};
  initramfs.mount_modules = KernelHas9p(modules) ? std::optional(mount_modules) : std::nullopt;
  initramfs.oci_root = req.profile == "oci";
  BANGER_RETURN_IF_ERROR(Annotate(WriteInitramfs(out.initrd_path, initramfs), "building initramfs"));
  BANGER_FAULT_POINT("image.build.initramfs_written");
  BANGER_RETURN_IF_ERROR(CheckCancel(cancel));

  int64_t size = req.rootfs_size_bytes;
  if (size == 0 && req.profile == "oci") {
    size = std::max(
        kMinRootfsBytes,
        Ext4FitFor(TreeAllocatedBytes(req.oci_rootfs_dir), TreeEntryCount(req.oci_rootfs_dir)).bytes);
  }
  if (size == 0) size = req.profile == "minimal" ? kMinimalRootfsBytes : kDebianRootfsBytes;
  progress("building rootfs (" + req.profile + (req.docker ? " + docker" : "") + ", " +
           FormatSizeBytes(size) + ")");
  out.rootfs_path = dir + "/rootfs.ext4";
  BANGER_RETURN_IF_ERROR(
      Annotate(BuildRootfs(req, env, kernel, modules, out.rootfs_path, size, cancel), "building rootfs"));
  out.build_size = FormatSizeBytes(size);
  BANGER_FAULT_POINT("image.build.rootfs_built");
  BANGER_RETURN_IF_ERROR(CheckCancel(cancel));

  progress("writing work seed");
  out.work_seed_path = dir + "/work-seed.ext4";
  BANGER_RETURN_IF_ERROR(Annotate(BuildWorkSeed(env, out.work_seed_path), "writing work seed"));
  BANGER_FAULT_POINT("image.build.work_seed_written");
  return out;
}

}  // namespace

Result<BuiltImage> BuildImage(const ImageBuildRequest& req, const ImageBuildEnv& env,
                              const BuildProgress& progress, const std::atomic<bool>& cancel) {
  BANGER_RETURN_IF_ERROR(ValidateBuildRequest(req, env));
  if (::geteuid() != 0) {
    return Error::Unavailable("building images needs root: files in the images must be owned by root");
  }
  BuildProgress report = [&progress](const std::string& stage) {
    if (progress) progress(stage);
  };
  auto built = BuildSteps(req, env, report, cancel);
  // A step cut short by cancellation fails in its own words; the caller
  // needs to know it was cancelled.
  if (!built.ok() && cancel.load()) return Error::Internal("interrupted");
  return built;
}

}  // namespace banger
