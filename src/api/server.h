// ApiRouter: the daemon's HTTP API (docs/api.md). Parses requests at the
// edge into typed requests for VmService, and renders results and errors as
// JSON. Holds no state of its own; safe to call from many connection threads.
#pragma once

#include <functional>
#include <string>

#include "daemon/image_service.h"
#include "daemon/monitor.h"
#include "daemon/session_service.h"
#include "daemon/vm_service.h"
#include "daemon/workspace_service.h"
#include "http/http.h"

namespace banger {

struct DaemonInfo {
  std::string version;
  std::string home;
  int pid = 0;
  Timestamp started_at{};
  std::string backend;
  std::string qemu_accel;
  std::string web_url;  // "" when the web UI is off
};

class ApiRouter {
 public:
  ApiRouter(VmService& vms, ImageService& images, SessionService& sessions, VmMonitor& monitor,
            WorkspaceService& workspaces, EventLog& events, DaemonInfo info,
            std::function<void()> request_stop);
  HttpResponse Handle(const HttpRequest& req);

 private:
  HttpResponse Route(const HttpRequest& req);
  // A long operation on an upgraded connection: progress frames, then one
  // result or error frame. The client going away sets `cancel`.
  using ProgressOp = std::function<Result<Json>(const std::function<void(const std::string&)>& progress,
                                                const std::atomic<bool>& cancel)>;
  void ServeProgress(UniqueFd fd, std::string leftover, const ProgressOp& op);
  HttpResponse Sessions(const HttpRequest& req, const std::vector<std::string>& seg);
  VmService& vms_;
  ImageService& images_;
  SessionService& sessions_;
  VmMonitor& monitor_;
  WorkspaceService& workspaces_;
  EventLog& events_;
  DaemonInfo info_;
  std::function<void()> request_stop_;
};

// Renders an Error as the API's error response.
HttpResponse ErrorResponse(const Error& e);
int HttpStatusFor(ErrorKind k);

}  // namespace banger
