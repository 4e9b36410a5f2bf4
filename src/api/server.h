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
            std::function<void()> request_stop);
  ApiRouter(const ApiRouter&) = delete;
  ApiRouter& operator=(const ApiRouter&) = delete;

  HttpResponse Handle(const HttpRequest& req);

 private:
  ApiServices services_;  // the handlers hold a reference to it
  RouteTable routes_;
};

}  // namespace banger
