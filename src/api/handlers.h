// The API's resources, one file each (handlers_<resource>.cc), each adding
// its routes to the table. docs/api.md describes every route.
#pragma once

#include <functional>
#include <string>

#include "api/routes.h"
#include "api/web_auth.h"
#include "daemon/events.h"
#include "daemon/image_service.h"
#include "daemon/monitor.h"
#include "daemon/port_service.h"
#include "daemon/session_service.h"
#include "daemon/snapshot_service.h"
#include "daemon/template_service.h"
#include "daemon/vm_service.h"
#include "daemon/workspace_service.h"

namespace banger {

class DaemonMetrics;

struct DaemonInfo {
  std::string version;
  std::string home;
  int pid = 0;
  Timestamp started_at{};
  std::string backend;
  std::string qemu_accel;
  std::string web_url;  // "" when the web UI is off
};

// What the handlers reach: the daemon's use cases and facts about it.
struct ApiServices {
  VmService& vms;
  ImageService& images;
  SessionService& sessions;
  VmMonitor& monitor;
  WorkspaceService& workspaces;
  EventLog& events;
  DaemonInfo info;
  std::function<void()> request_stop;
  WebAuth* web_auth = nullptr;           // null: no web UI
  SnapshotService* snapshots = nullptr;  // null: snapshot routes answer 503
  TemplateService* templates = nullptr;  // null: template routes answer 503
  PortService* ports = nullptr;          // null: port routes (and create with ports) answer 503
  DaemonMetrics* metrics = nullptr;      // set by ApiRouter
};

// /v1/ping, /v1/daemon/stop, /v1/web/tokens
void AddDaemonRoutes(RouteTable& t, ApiServices& s);
// /v1/images...
void AddImageRoutes(RouteTable& t, ApiServices& s);
// /v1/vms... (but its workspaces and sessions)
void AddVmRoutes(RouteTable& t, ApiServices& s);
// /v1/sessions..., /v1/vms/{ref}/sessions
void AddSessionRoutes(RouteTable& t, ApiServices& s);
// /v1/vms/{ref}/workspaces
void AddWorkspaceRoutes(RouteTable& t, ApiServices& s);
// /v1/events
void AddEventRoutes(RouteTable& t, ApiServices& s);
// /v1/vms/{ref}/snapshots..., /v1/vms/{ref}/restore
void AddSnapshotRoutes(RouteTable& t, ApiServices& s);
// /v1/vms/{ref}/ports... (published ports)
void AddPortRoutes(RouteTable& t, ApiServices& s);
// POST /v1/vms: reserves the request's ports first (handlers_ports.cc).
// `caller`: the local socket's peer, for the host-folder checks.
HttpResponse CreateVm(ApiServices& s, const CreateVmRequest& cr, const std::optional<Credentials>& caller);
// /v1/templates... (warm start)
void AddTemplateRoutes(RouteTable& t, ApiServices& s);
// /v1/vms/{ref}/archive and /v1/vms/{ref}/files (guest files, vm cp)
void AddFileRoutes(RouteTable& t, ApiServices& s);
// GET /metrics (api/metrics.h)
void AddMetricsRoutes(RouteTable& t, ApiServices& s);

}  // namespace banger
