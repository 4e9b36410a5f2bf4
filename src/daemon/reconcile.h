// The startup reconcile (seed): re-adopt live VMs, demote dead ones after
// tearing down what their scratch file names, kill strays of interrupted
// starts, remove orphan VM directories and artifacts of interrupted image
// builds, fail sessions left `starting` by a daemon that died (and put
// `stopping` ones back to `running`), and make host networking (taps, NAT, DNS) follow the live VMs.
// Runs once on the main thread before the API serves.
#pragma once

#include "base/result.h"
#include "config/config.h"
#include "daemon/network.h"
#include "daemon/vm_service.h"
#include "store/store.h"

namespace banger {

struct ReconcileScope {
  HomeLayout home;
  Store* store = nullptr;
  VmNetwork* network = nullptr;  // null: host networking off
};

// last_error of a session whose start the daemon did not live to finish,
// on a VM that stopped meanwhile.
inline constexpr const char* kInterruptedStartMessage =
    "bangerd stopped while this session was starting (killed or crashed); the command may or may not "
    "have started in the guest: check with `banger vm exec` and start the session again";

Status Reconcile(VmService& vms, const ReconcileScope& scope);

}  // namespace banger
