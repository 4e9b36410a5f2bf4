// Setting up and tearing down a container's VM, shared by the Task service
// (Create/Delete) and the shim's `delete` command (containerd's cleanup
// after a shim died): names, labels, the root filesystem image, the VM.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "runtime/bangerd.h"
#include "runtime/spec.h"

namespace banger::shim {

// Labels every VM of the shim carries (`banger vm list --label ...`).
inline constexpr const char* kLabelNamespace = "containerd.namespace";
inline constexpr const char* kLabelId = "containerd.id";
inline constexpr const char* kLabelSandbox = "containerd.sandbox";

// A DNS label made of `prefix`, as much of `id` as fits (lowercased, other
// characters as '-') and a hash of `ns`/`id`, so distinct containers never
// share a name: "ctr-web-1-3f2a9c1e".
std::string VmNameFor(const std::string& ns, const std::string& id);
// The image made for one container alone (its rootfs had files of its own).
std::string OwnImageNameFor(const std::string& ns, const std::string& id);
// The image shared by every container of the same read-only layers: an
// overlay's lowerdir (containerd's committed snapshots) names it.
std::string LayerImageNameFor(const std::string& lowerdir);
// The banger session of a container's main process.
std::string SessionNameFor(const std::string& id);

// The shared image of containerd's layers when `mounts` is one overlay with
// nothing of the container's own in its upper dir; "" otherwise. Named for
// the layers and the version of banger (whose init and agent it holds).
std::string SharedLayerImage(const std::vector<RootfsMount>& mounts, const std::string& banger_version);

struct RootfsPlan {
  std::string image;       // the banger image the VM boots
  bool own_image = false;  // made for this container: deleted with it
  bool need_build = false;
  bool mount = false;  // the rootfs mounts go to <bundle>/rootfs for the build
  std::string tree;    // the directory the image is built from
};

// Decides where the VM's root comes from: the rootfs mounts (an overlay with
// an empty upper dir boots the shared image of its layers), else the spec's
// root.path (ctr run --rootfs DIR), built for this container alone.
Result<RootfsPlan> PlanRootfs(Bangerd& api, const std::string& ns, const std::string& id,
                              const std::string& bundle, const std::vector<RootfsMount>& mounts,
                              const ContainerSpec& spec);

// Carries the plan out: mounts, builds, unmounts. Idempotent.
Status MakeRootfsImage(Bangerd& api, const RootfsPlan& plan, const std::vector<RootfsMount>& mounts,
                       const std::string& bundle);

struct CreatedVm {
  std::string name;
  uint32_t pid = 0;  // the VMM's host pid: the task's pid for containerd
};
Result<CreatedVm> CreateVm(Bangerd& api, const std::string& ns, const std::string& id,
                           const std::string& image, const ContainerSpec& spec);

// Removes what a container left: its VMs (by label), its own image, the
// rootfs mount in its bundle. Each step is tried; the first error is returned.
Status CleanupContainer(Bangerd& api, const std::string& ns, const std::string& id,
                        const std::string& bundle);

}  // namespace banger::shim
