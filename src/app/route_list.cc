#include "app/route_list.h"

#include "api/server.h"
#include "api/web_auth.h"
#include "base/process.h"
#include "config/config.h"
#include "daemon/events.h"
#include "daemon/guest_exec.h"
#include "daemon/image_service.h"
#include "daemon/monitor.h"
#include "daemon/port_service.h"
#include "daemon/session_service.h"
#include "daemon/snapshot_service.h"
#include "daemon/template_service.h"
#include "daemon/vm_service.h"
#include "daemon/workspace_service.h"
#include "storage/disk.h"
#include "store/store.h"

namespace banger {

Result<std::vector<std::string>> ApiRouteLines() {
  BANGER_ASSIGN_OR_RETURN(auto store, Store::Open(":memory:"));
  // Never created nor read: no service touches its home while only its
  // routes are registered.
  HomeLayout home{"/nonexistent/banger-route-list"};
  DaemonConfig config;
  EventLog events(*store);
  VmServiceDeps deps;
  deps.home = home;
  deps.config = config;
  deps.store = store.get();
  deps.events = &events;
  deps.procs = &RealProcessOps();
  deps.disks = &RealDiskOps();
  VmService vms(deps);
  ImageService images(ImageServiceDeps{home, config, store.get(), &events, ""});
  SessionService sessions(vms, *store, events);
  VmMonitor monitor(vms, *store, RealProcessOps(), {});
  WorkspaceService workspaces(vms, *store, events, home.root + "/tmp");
  SnapshotService snapshots(SnapshotServiceDeps{store.get(), &events, &vms});
  TemplateServiceDeps tdeps;
  tdeps.home = home;
  tdeps.store = store.get();
  tdeps.events = &events;
  tdeps.vms = &vms;
  tdeps.snapshots = &snapshots;
  TemplateService templates(std::move(tdeps));
  GuestExec exec(vms);
  PortService ports(*store, PortService::GuestExecOpener(exec, std::chrono::seconds(30)),
                    [](const std::string&) { return false; });
  WebAuth web_auth;
  ApiRouter router(
      vms, images, sessions, monitor, workspaces, events, DaemonInfo{}, [] {}, &web_auth, &snapshots,
      &templates, &ports);
  std::vector<std::string> lines;
  for (const auto& r : router.Routes()) {
    lines.push_back(r.method + " " + r.pattern + " " + RouteAccessName(r.access));
  }
  return lines;
}

}  // namespace banger
