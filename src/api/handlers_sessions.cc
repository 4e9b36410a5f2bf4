// Sessions: /v1/vms/{ref}/sessions (start) and /v1/sessions (list, show,
// stop, and the logs/attach streams). ?vm= picks the VM when a session
// name is used in several.
#include "api/handlers.h"
#include "api/respond.h"
#include "model/requests.h"

namespace banger {
namespace {

HttpResponse SessionResponse(int status, const Result<GuestSession>& s) {
  if (!s.ok()) return ErrorResponse(s.error());
  return JsonResponse(status, ToJson(*s));
}

// logs and attach: an exec in the session's VM, relayed on the WebSocket.
// logs takes ?follow=0|1.
HttpResponse SessionStreamWs(ApiServices& s, const ApiCall& c, const std::string& action) {
  if (auto st = RequireWebSocket(c.req, "session " + action); !st.ok()) return ErrorResponse(st.error());
  const std::string& ref = c.Param(0);
  std::string vm = c.QueryValue("vm");
  std::string f = c.QueryValue("follow");
  if (!f.empty() && f != "0" && f != "1" && f != "true" && f != "false") {
    return ErrorResponse(Error::Invalid("query parameter follow must be 0 or 1"));
  }
  bool follow = f == "1" || f == "true";
  API_TRY(SessionStream st, action == "logs" ? s.sessions.Logs(ref, vm, follow) : s.sessions.Attach(ref, vm));
  return ExecStream(s.vms, st.vm_id, st.exec, std::chrono::seconds(30));
}

}  // namespace

void AddSessionRoutes(RouteTable& t, ApiServices& s) {
  t.Add("POST", "/v1/vms/{ref}/sessions", [&s](const ApiCall& c) {
    API_TRY(StartSessionRequest sr, DecodeBody<StartSessionRequest>(c.req));
    sr.vm = c.Param(0);
    return SessionResponse(201, s.sessions.Start(sr));
  });
  t.Add("GET", "/v1/sessions", [&s](const ApiCall& c) {
    API_TRY(auto list, s.sessions.List(c.QueryValue("vm")));
    Json arr = Json::array();
    for (const auto& g : list) arr.push_back(ToJson(g));
    return JsonResponse(200, Json{{"sessions", arr}});
  });
  t.Add("GET", "/v1/sessions/{s}", [&s](const ApiCall& c) {
    return SessionResponse(200, s.sessions.Get(c.Param(0), c.QueryValue("vm")));
  });
  t.Add("POST", "/v1/sessions/{s}/stop", [&s](const ApiCall& c) {
    return SessionResponse(200, s.sessions.Stop(c.Param(0), c.QueryValue("vm")));
  });
  t.Add("POST", "/v1/sessions/{s}/signal", [&s](const ApiCall& c) {
    API_TRY(SignalSessionRequest sr, DecodeBody<SignalSessionRequest>(c.req));
    return SessionResponse(200, s.sessions.Signal(c.Param(0), c.QueryValue("vm"), sr.signal));
  });
  // WebSockets, on the web listener too (docs/security.md).
  t.Add("GET", "/v1/sessions/{s}/logs", [&s](const ApiCall& c) { return SessionStreamWs(s, c, "logs"); });
  t.Add("GET", "/v1/sessions/{s}/attach", [&s](const ApiCall& c) { return SessionStreamWs(s, c, "attach"); });
}

}  // namespace banger
