// LifetimeSweeper: the per-VM idle suspend and ttl (spec.idle_suspend,
// spec.ttl / ttl_action, runtime.expires_at), applied by the upkeep
// sweeper thread every 2 s:
//  - ttl: a VM whose expires_at has passed is stopped (`stop`: the deadline
//    is spent; its next start sets a new one) or deleted (`delete`), in any
//    state;
//  - idle suspend: a running VM untouched (exec, ssh, session, workspace,
//    start, resume; the end of a command) for its idle_suspend, with no
//    command in progress (VmService::InUse) and no live session, is paused
//    in RAM. The next guest use resumes it (VmService::ResumeIfPaused).
// The ttl goes first: an expiring VM is not worth pausing. Each step takes
// the VM's lock without waiting (a busy VM is tried again next pass) and
// re-checks under it; the VMM calls are bounded; no step waits on a guest.
//
// Thread-safety: one sweeper thread calls Sweep.
#pragma once

#include <string>
#include <vector>

#include "daemon/vm_service.h"
#include "store/store.h"

namespace banger {

class LifetimeSweeper {
 public:
  LifetimeSweeper(VmService& vms, Store& store) : vms_(vms), store_(store) {}

  struct Pass {
    std::vector<std::string> expired;    // names of VMs whose ttl action ran
    std::vector<std::string> suspended;  // names of VMs paused for idleness
  };
  // One pass at wall-clock time `now`; failures are logged, never fatal.
  Pass Sweep(Timestamp now);

 private:
  VmService& vms_;
  Store& store_;
};

}  // namespace banger
