// VmService's read side: the views of VMs the API shows (Get, List) with
// their handles and published ports, and the running count.
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/vm_service.h"

namespace banger {

VmView VmService::ViewOf(const VmRecord& vm) {
  auto ports = d_.store->ListPorts(vm.id);
  return ViewOf(vm, ports.ok() ? std::move(*ports) : std::vector<PortMapping>{});
}

VmView VmService::ViewOf(const VmRecord& vm, std::vector<PortMapping> ports) {
  VmView v{vm, std::nullopt, std::move(ports)};
  if (VmStateHasVmm(vm.state)) v.handles = cache_.Get(vm.id);
  return v;
}

Result<VmView> VmService::Get(const std::string& ref) {
  BANGER_ASSIGN_OR_RETURN(VmRecord vm, d_.store->GetVm(ref));
  if (VmStateHasVmm(vm.state) && !VmAlive(vm)) {
    auto lock = LockFor(vm.id);
    // Never block a read behind a long operation: if busy, show what is stored.
    if (lock->try_lock()) {
      std::lock_guard<std::mutex> lk(*lock, std::adopt_lock);
      BANGER_ASSIGN_OR_RETURN(vm, d_.store->GetVm(vm.id));
      DemoteIfDeadLocked(vm);
    }
  }
  return ViewOf(vm);
}

Result<std::vector<VmView>> VmService::List(const Labels& selector) {
  BANGER_ASSIGN_OR_RETURN(auto vms, d_.store->ListVms(selector));
  // Every VM's published ports in one query (not one per VM, as ViewOf does).
  std::map<std::string, std::vector<PortMapping>> ports;
  if (auto all = d_.store->ListPorts(""); all.ok()) {
    for (auto& p : *all) ports[p.vm_id].push_back(std::move(p));
  }
  std::vector<VmView> out;
  out.reserve(vms.size());
  for (const auto& vm : vms) {
    auto it = ports.find(vm.id);
    out.push_back(ViewOf(vm, it == ports.end() ? std::vector<PortMapping>{} : std::move(it->second)));
  }
  return out;
}

int VmService::CountRunning() {
  auto vms = d_.store->ListVms();
  if (!vms.ok()) return 0;
  int n = 0;
  for (const auto& vm : *vms) n += vm.state == VmState::kRunning ? 1 : 0;
  return n;
}

}  // namespace banger
