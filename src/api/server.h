// ApiRouter: the daemon's HTTP API (docs/api.md). A table of method + path
// pattern -> handler (api/routes.h), filled by one file per resource
// (api/handlers_*.cc); requests are decoded at the edge into the typed
// requests of model/requests.h, and results and errors rendered as JSON
// (api/respond.h). Holds no state of its own; safe to call from many
// connection threads.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/handlers.h"
#include "api/metrics.h"
#include "api/respond.h"
#include "api/routes.h"
#include "http/http.h"

namespace banger {

class ApiRouter {
 public:
  ApiRouter(VmService& vms, ImageService& images, SessionService& sessions, VmMonitor& monitor,
            WorkspaceService& workspaces, EventLog& events, DaemonInfo info,
            std::function<void()> request_stop, WebAuth* web_auth = nullptr,
            SnapshotService* snapshots = nullptr, TemplateService* templates = nullptr,
            PortService* ports = nullptr);
  ApiRouter(const ApiRouter&) = delete;
  ApiRouter& operator=(const ApiRouter&) = delete;

  // A request on the Unix socket, counted in metrics() under its route.
  HttpResponse Handle(const HttpRequest& req);
  // A request from the web listener, already authenticated by WebUi:
  // RouteAccess::kLocal routes answer 403. Not counted: WebUi counts every
  // request of its listener; `route` gets the matched route's pattern (or
  // kUnmatchedRoute).
  HttpResponse HandleWeb(const HttpRequest& req, std::string* route = nullptr) {
    return Dispatch(req, Listener::kWeb, route);
  }
  // GET /metrics (api/metrics.h); the daemon hands it its listeners.
  DaemonMetrics& metrics() { return *metrics_; }
  // The route table (method, pattern, access): `bangerd --list-routes`.
  std::vector<ApiRouteInfo> Routes() const { return routes_.List(); }

 private:
  HttpResponse Dispatch(const HttpRequest& req, Listener from, std::string* route);

  ApiServices services_;  // the handlers hold a reference to it
  std::unique_ptr<DaemonMetrics> metrics_;
  RouteTable routes_;
};

}  // namespace banger
