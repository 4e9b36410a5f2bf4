// ApiRouter: the daemon's HTTP API (docs/api.md). A table of method + path
// pattern -> handler (api/routes.h), filled by one file per resource
// (api/handlers_*.cc); requests are decoded at the edge into the typed
// requests of model/requests.h, and results and errors rendered as JSON
// (api/respond.h). Holds no state of its own; safe to call from many
// connection threads.
#pragma once

#include <functional>
#include <string>

#include "api/handlers.h"
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

  // A request on the Unix socket.
  HttpResponse Handle(const HttpRequest& req) { return Handle(req, Listener::kUnix); }
  // A request from the web listener, already authenticated by WebUi:
  // RouteAccess::kLocal routes answer 403.
  HttpResponse HandleWeb(const HttpRequest& req) { return Handle(req, Listener::kWeb); }

 private:
  HttpResponse Handle(const HttpRequest& req, Listener from);

  ApiServices services_;  // the handlers hold a reference to it
  RouteTable routes_;
};

}  // namespace banger
