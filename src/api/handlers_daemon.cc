// GET /v1/ping and POST /v1/daemon/stop.
#include "api/handlers.h"
#include "api/respond.h"

namespace banger {

void AddDaemonRoutes(RouteTable& t, ApiServices& s) {
  t.Add("GET", "/v1/ping", [&s](const ApiCall&) {
    const DaemonInfo& info = s.info;
    auto all = s.vms.List({});
    Json j{{"version", info.version},
           {"api", 1},
           {"pid", info.pid},
           {"home", info.home},
           {"started_at", FormatRfc3339(info.started_at)},
           {"backend", info.backend},
           {"qemu_accel", info.qemu_accel},
           {"vms_total", all.ok() ? all->size() : 0},
           {"vms_running", s.vms.CountRunning()}};
    if (!info.web_url.empty()) j["web_url"] = info.web_url;
    return JsonResponse(200, j);
  });
  t.Add("POST", "/v1/daemon/stop", [&s](const ApiCall&) {
    s.request_stop();
    return JsonResponse(202, Json::object());
  });
}

}  // namespace banger
