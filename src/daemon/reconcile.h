// The startup reconcile (seed): re-adopt live VMs, demote dead ones after
// tearing down what their scratch file names, kill strays of interrupted
// starts, remove orphan VM directories and artifacts of interrupted image
// builds, and make host networking (taps, NAT, DNS) follow the live VMs.
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

Status Reconcile(VmService& vms, const ReconcileScope& scope);

}  // namespace banger
