#include "runtime/container.h"

#include <dirent.h>

#include <cctype>

#include "base/fs.h"
#include "base/log.h"
#include "base/sha256.h"
#include "http/http.h"

namespace banger::shim {
namespace {

std::string Hash(const std::string& s, size_t n) { return Sha256::Hex(s).substr(0, n); }

std::string Sanitize(const std::string& id, size_t max) {
  std::string out;
  for (char c : id) {
    if (out.size() >= max) break;
    unsigned char u = static_cast<unsigned char>(c);
    out.push_back(std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '-');
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

bool EmptyDir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return false;
  bool empty = true;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  return empty;
}

}  // namespace

std::string VmNameFor(const std::string& ns, const std::string& id) {
  std::string s = Sanitize(id, 40);
  return "ctr-" + (s.empty() ? "" : s + "-") + Hash(ns + "/" + id, 8);
}

std::string OwnImageNameFor(const std::string& ns, const std::string& id) {
  return "ctr-own-" + Hash(ns + "/" + id, 24);
}

std::string LayerImageNameFor(const std::string& lowerdir) { return "ctr-layers-" + Hash(lowerdir, 24); }

std::string SessionNameFor(const std::string& id) {
  std::string s = Sanitize(id, 40);
  return "ctr-" + (s.empty() ? "" : s + "-") + Hash(id, 8);
}

std::string SharedLayerImage(const std::vector<RootfsMount>& mounts, const std::string& banger_version) {
  if (mounts.size() != 1 || mounts[0].type != "overlay") return "";
  const std::string lower = MountOption(mounts[0], "lowerdir");
  const std::string upper = MountOption(mounts[0], "upperdir");
  if (lower.empty() || !(upper.empty() || EmptyDir(upper))) return "";
  // The image carries banger's init and agent: another banger builds its own.
  return LayerImageNameFor(lower + "\n" + banger_version);
}

Result<RootfsPlan> PlanRootfs(Bangerd& api, const std::string& ns, const std::string& id,
                              const std::string& bundle, const std::vector<RootfsMount>& mounts,
                              const ContainerSpec& spec) {
  RootfsPlan plan;
  if (mounts.empty()) {
    if (spec.root_path.empty())
      return Error::Invalid("the container has neither rootfs mounts nor root.path");
    if (!IsDirectory(spec.root_path))
      return Error::Invalid("root.path " + spec.root_path + " is not a directory");
    plan.image = OwnImageNameFor(ns, id);
    plan.own_image = true;
    plan.tree = spec.root_path;
  } else {
    plan.mount = true;
    plan.tree = bundle + "/rootfs";
    // containerd's committed layers, nothing of the container's own yet
    plan.image = SharedLayerImage(mounts, api.Version());
    if (plan.image.empty()) {
      plan.image = OwnImageNameFor(ns, id);
      plan.own_image = true;
    }
  }
  if (plan.own_image) {
    // A leftover of an earlier attempt of the same id is rebuilt.
    BANGER_RETURN_IF_ERROR(api.DeleteImage(plan.image));
    plan.need_build = true;
  } else {
    BANGER_ASSIGN_OR_RETURN(bool has, api.HasImage(plan.image));
    plan.need_build = !has;
  }
  return plan;
}

Status MakeRootfsImage(Bangerd& api, const RootfsPlan& plan, const std::vector<RootfsMount>& mounts,
                       const std::string& bundle) {
  if (!plan.need_build) return OkStatus();
  if (plan.mount) {
    BANGER_RETURN_IF_ERROR(MakeDirs(bundle + "/rootfs", 0711));
    BANGER_RETURN_IF_ERROR(UnmountAll(plan.tree));
    BANGER_RETURN_IF_ERROR(MountAll(mounts, plan.tree));
  }
  Status built = api.BuildImage(plan.image, plan.tree);
  if (plan.mount) {
    if (Status st = UnmountAll(plan.tree); !st.ok() && built.ok()) return st;
  }
  return built;
}

Result<CreatedVm> CreateVm(Bangerd& api, const std::string& ns, const std::string& id,
                           const std::string& image, const ContainerSpec& spec) {
  CreatedVm vm;
  vm.name = VmNameFor(ns, id);
  Json labels{{kLabelNamespace, ns}, {kLabelId, id}};
  if (!spec.SandboxId().empty()) labels[kLabelSandbox] = spec.SandboxId();
  Json body{{"name", vm.name}, {"image", image}, {"labels", labels}};
  if (spec.memory_limit_bytes > 0) {
    body["memory_mib"] = std::max<int64_t>(128, (spec.memory_limit_bytes + (1 << 20) - 1) >> 20);
  }
  if (spec.cpus > 0) body["vcpu_count"] = std::min(spec.cpus, 32);
  // A leftover VM of an earlier attempt of the same id goes first.
  BANGER_RETURN_IF_ERROR(api.DeleteVm(vm.name));
  auto created = api.Call("POST", "/v1/vms", &body, kLongTimeout);
  if (!created.ok()) {
    api.DeleteVm(vm.name).ok();
    return created.error().Wrap("creating VM " + vm.name);
  }
  const Json& h = created->value("handles", Json::object());
  if (h.is_object() && h.contains("pid") && h["pid"].is_number_integer()) vm.pid = h["pid"].get<uint32_t>();
  return vm;
}

Status CleanupContainer(Bangerd& api, const std::string& ns, const std::string& id,
                        const std::string& bundle) {
  Status first = OkStatus();
  auto keep = [&first](Status st) {
    if (!st.ok() && first.ok()) first = std::move(st);
  };
  auto vms = api.VmsWithLabels({{kLabelNamespace, ns}, {kLabelId, id}});
  if (vms.ok()) {
    for (const Json& v : *vms) keep(api.DeleteVm(v.value("id", "")));
  } else {
    keep(std::move(vms).error());
  }
  keep(api.DeleteVm(VmNameFor(ns, id)));
  keep(api.DeleteImage(OwnImageNameFor(ns, id)));
  if (!bundle.empty()) keep(UnmountAll(bundle + "/rootfs"));
  return first;
}

}  // namespace banger::shim
