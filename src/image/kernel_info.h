// What an image's kernel can do, read from the module tree the image keeps
// (Image::modules_dir: <dir>/lib/modules/<kver>/modules.dep and
// modules.builtin): its version, its Debian flavour, and whether it can
// mount host folders (9p over virtio, loadable or built in).
//
// Reads a few small files; safe from any thread.
#pragma once

#include <string>

#include "base/result.h"
#include "image/modules.h"

namespace banger {

// The kernel flavours `image build --kernel-flavour` offers: Debian's
// cloud kernel (linux-image-cloud-amd64: small, boots fast, no 9p) and its
// generic kernel (linux-image-amd64: every driver as a module, 9p included).
inline constexpr const char* kKernelFlavourCloud = "cloud";
inline constexpr const char* kKernelFlavourGeneric = "generic";
// "cloud" or "generic", else kInvalidArgument naming both.
Status ValidateKernelFlavour(const std::string& flavour);
// The meta package of a flavour: linux-image-cloud-amd64, linux-image-amd64.
std::string KernelMetaPackage(const std::string& flavour);
// The flavour a Debian kernel version names ("6.1.0-57-cloud-amd64" cloud,
// "6.1.0-57-amd64" generic), "" for any other.
std::string KernelFlavourOf(const std::string& kernel_version);

// The modules guest mounts of host folders need.
const std::vector<std::string>& MountModuleRoots();
// Whether a kernel with this module index can mount host folders.
bool KernelHas9p(const ModuleIndex& modules);

struct KernelInfo {
  std::string version;  // the one directory under lib/modules
  std::string flavour;  // KernelFlavourOf(version)
  bool has_9p = false;
};

// Reads `modules_dir` (an image's module tree). kNotFound when it is empty
// or has no single lib/modules/<kver>/modules.dep.
Result<KernelInfo> InspectKernelModules(const std::string& modules_dir);

}  // namespace banger
