#include "image/kernel_info.h"

#include <filesystem>

#include "base/fs.h"

namespace banger {

Status ValidateKernelFlavour(const std::string& flavour) {
  if (flavour == kKernelFlavourCloud || flavour == kKernelFlavourGeneric) return OkStatus();
  return Error::Invalid("kernel flavour must be \"cloud\" or \"generic\", not \"" + flavour + "\"");
}

std::string KernelMetaPackage(const std::string& flavour) {
  return flavour == kKernelFlavourGeneric ? "linux-image-amd64" : "linux-image-cloud-amd64";
}

std::string KernelFlavourOf(const std::string& kernel_version) {
  const std::string cloud = "-cloud-amd64";
  const std::string generic = "-amd64";
  auto ends_with = [&kernel_version](const std::string& suffix) {
    return kernel_version.size() > suffix.size() &&
           kernel_version.compare(kernel_version.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(cloud)) return kKernelFlavourCloud;
  if (ends_with(generic)) return kKernelFlavourGeneric;
  return "";
}

const std::vector<std::string>& MountModuleRoots() {
  static const std::vector<std::string> roots = {"9pnet_virtio", "9p"};
  return roots;
}

bool KernelHas9p(const ModuleIndex& modules) {
  for (const std::string& m : MountModuleRoots()) {
    if (!modules.HasModule(m) && !modules.IsBuiltin(m)) return false;
  }
  return true;
}

Result<KernelInfo> InspectKernelModules(const std::string& modules_dir) {
  if (modules_dir.empty()) return Error::NotFound("the image has no module tree");
  const std::string base = modules_dir + "/lib/modules";
  std::vector<std::string> versions;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(base, ec), end; !ec && it != end; it.increment(ec)) {
    if (PathExists(it->path().string() + "/modules.dep")) versions.push_back(it->path().filename().string());
  }
  if (versions.size() != 1) {
    return Error::NotFound("module tree " + modules_dir + " has " + std::to_string(versions.size()) +
                           " kernels with a modules.dep, not one");
  }
  KernelInfo info;
  info.version = versions.front();
  info.flavour = KernelFlavourOf(info.version);
  const std::string dir = base + "/" + info.version;
  BANGER_ASSIGN_OR_RETURN(std::string dep, ReadFile(dir + "/modules.dep"));
  std::string builtin;
  if (PathExists(dir + "/modules.builtin")) {
    BANGER_ASSIGN_OR_RETURN(builtin, ReadFile(dir + "/modules.builtin"));
  }
  BANGER_ASSIGN_OR_RETURN(ModuleIndex index, ModuleIndex::Parse(dep, builtin));
  info.has_9p = KernelHas9p(index);
  return info;
}

}  // namespace banger
