#include "api/server.h"

#include "base/log.h"

namespace banger {

ApiRouter::ApiRouter(VmService& vms, ImageService& images, SessionService& sessions, VmMonitor& monitor,
                     WorkspaceService& workspaces, EventLog& events, DaemonInfo info,
                     std::function<void()> request_stop, WebAuth* web_auth, SnapshotService* snapshots,
                     TemplateService* templates, PortService* ports)
    : services_{vms,        images,    sessions,        monitor,
                workspaces, events,    std::move(info), std::move(request_stop),
                web_auth,   snapshots, templates,       ports},
      metrics_(std::make_unique<DaemonMetrics>(MetricsSources{
          &vms, &monitor, &events, ports, services_.info.version, services_.info.started_at})) {
  services_.metrics = metrics_.get();
  AddDaemonRoutes(routes_, services_);
  AddImageRoutes(routes_, services_);
  AddVmRoutes(routes_, services_);
  AddSessionRoutes(routes_, services_);
  AddWorkspaceRoutes(routes_, services_);
  AddEventRoutes(routes_, services_);
  AddSnapshotRoutes(routes_, services_);
  AddTemplateRoutes(routes_, services_);
  AddPortRoutes(routes_, services_);
  AddFileRoutes(routes_, services_);
  AddMetricsRoutes(routes_, services_);
}

HttpResponse ApiRouter::Handle(const HttpRequest& req) {
  auto start = std::chrono::steady_clock::now();
  std::string route;
  HttpResponse r = Dispatch(req, Listener::kUnix, &route);
  metrics_->ObserveRequest(Listener::kUnix, route, req.method, r.websocket ? 101 : r.status,
                           std::chrono::steady_clock::now() - start);
  return r;
}

HttpResponse ApiRouter::Dispatch(const HttpRequest& req, Listener from, std::string* route) {
  try {
    HttpResponse r = routes_.Dispatch(req, from, route);
    spdlog::debug("api: {} {} -> {}", req.method, req.target, r.status);
    return r;
  } catch (const std::exception& e) {
    // Last line of defence: a bug must not kill the daemon or the connection silently.
    spdlog::error("api: {} {}: unexpected exception: {}", req.method, req.target, e.what());
    return ErrorResponse(Error::Internal(std::string("unexpected error: ") + e.what()));
  } catch (...) {
    spdlog::error("api: {} {}: unexpected exception", req.method, req.target);
    return ErrorResponse(Error::Internal("unexpected error"));
  }
}

}  // namespace banger
