#include "daemon/vm_lifetime.h"

#include "base/log.h"
#include "daemon/monitor.h"

namespace banger {

LifetimeSweeper::Pass LifetimeSweeper::Sweep(Timestamp now) {
  Pass pass;
  auto vms = store_.ListVms();
  if (!vms.ok()) {
    spdlog::warn("lifetime sweep: listing vms: {}", vms.error().message());
    return pass;
  }
  for (const auto& vm : *vms) {
    if (vm.runtime.expires_at != Timestamp{} && vm.runtime.expires_at <= now) {
      auto r = vms_.ExpireIfDue(vm.id, now);
      if (!r.ok()) {
        spdlog::warn("ttl: vm {}: {}", vm.name, r.error().message());
      } else if (*r) {
        pass.expired.push_back(vm.name);
      }
      continue;
    }
    if (vm.state != VmState::kRunning || vm.spec.idle_suspend.count() <= 0) continue;
    if (vm.last_touched_at >= now - std::chrono::ceil<std::chrono::seconds>(vm.spec.idle_suspend)) continue;
    // Like auto-stop: a VM with a live session is in use even without exec calls.
    if (HasLiveSession(store_, vm.id, now)) continue;
    auto r = vms_.PauseIfIdle(vm.id, now);
    if (!r.ok()) {
      spdlog::warn("idle suspend: vm {}: {}", vm.name, r.error().message());
    } else if (*r) {
      pass.suspended.push_back(vm.name);
    }
  }
  return pass;
}

}  // namespace banger
