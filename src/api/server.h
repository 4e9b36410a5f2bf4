// ApiRouter: the daemon's HTTP API (docs/api.md). Parses requests at the
// edge into typed requests for VmService, and renders results and errors as
// JSON. Holds no state of its own; safe to call from many connection threads.
#pragma once

#include <functional>
#include <string>

#include "daemon/monitor.h"
#include "daemon/session_service.h"
#include "daemon/vm_service.h"
#include "http/http.h"

namespace banger {

struct DaemonInfo {
  std::string version;
  std::string home;
  int pid = 0;
  Timestamp started_at{};
  std::string backend;
  std::string qemu_accel;
};

class ApiRouter {
 public:
  ApiRouter(VmService& vms, SessionService& sessions, VmMonitor& monitor, EventLog& events, DaemonInfo info,
            std::function<void()> request_stop);
  HttpResponse Handle(const HttpRequest& req);

 private:
  HttpResponse Route(const HttpRequest& req);
  // Runs an image build on an upgraded connection, streaming progress.
  void ServeImageBuild(UniqueFd fd, std::string leftover, const BuildImageRequest& req);
  HttpResponse Sessions(const HttpRequest& req, const std::vector<std::string>& seg);
  VmService& vms_;
  SessionService& sessions_;
  VmMonitor& monitor_;
  EventLog& events_;
  DaemonInfo info_;
  std::function<void()> request_stop_;
};

// Renders an Error as the API's error response.
HttpResponse ErrorResponse(const Error& e);
int HttpStatusFor(ErrorKind k);

}  // namespace banger
