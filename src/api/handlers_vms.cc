// /v1/vms: the VM lifecycle (create, show, list, set, start, stop, restart,
// pause, resume, delete), its console log, its stats and exec (a command stream).
#include "api/handlers.h"
#include "api/respond.h"
#include "model/requests.h"

namespace banger {
namespace {

Result<Labels> ParseSelector(const std::string& raw) {
  Labels out;
  size_t i = 0;
  while (i < raw.size()) {
    size_t j = raw.find(',', i);
    if (j == std::string::npos) j = raw.size();
    BANGER_ASSIGN_OR_RETURN(auto kv, ParseLabel(raw.substr(i, j - i)));
    out[kv.first] = kv.second;
    i = j + 1;
  }
  return out;
}

HttpResponse ViewResponse(const Result<VmView>& v) {
  if (!v.ok()) return ErrorResponse(v.error());
  return JsonResponse(200, VmViewJson(*v));
}

HttpResponse ListVms(ApiServices& s, const ApiCall& c) {
  Labels selector;
  if (auto it = c.query.find("label"); it != c.query.end()) {
    API_TRY(selector, ParseSelector(it->second));
  }
  API_TRY(auto views, s.vms.List(selector));
  Json arr = Json::array();
  for (const auto& v : views) arr.push_back(VmViewJson(v));
  return JsonResponse(200, Json{{"vms", arr}});
}

HttpResponse DeleteVm(ApiServices& s, const ApiCall& c) {
  API_TRY(std::string id, s.vms.Delete(c.Param(0), QueryBool(c.query, "missing_ok")));
  return JsonResponse(200, ToJson(DeleteResponse{!id.empty(), id}));
}

HttpResponse VmLogs(ApiServices& s, const ApiCall& c) {
  API_TRY(int64_t offset, QueryInt(c.query, "offset", 0, 0, INT64_MAX));
  API_TRY(int64_t wait_ms, QueryInt(c.query, "wait_ms", 0, 0, 60000));
  API_TRY(auto chunk, s.vms.ReadLogs(c.Param(0), offset, 1 << 20, std::chrono::milliseconds(wait_ms)));
  HttpResponse r;
  r.status = 200;
  r.content_type = "application/octet-stream";
  r.headers["X-Banger-Next-Offset"] = std::to_string(chunk.next_offset);
  r.headers["X-Banger-Vm-State"] = VmStateName(chunk.state);
  r.body = std::move(chunk.data);
  return r;
}

HttpResponse GetVmStats(ApiServices& s, const ApiCall& c) {
  API_TRY(VmRecord vm, s.monitor.StatsNow(c.Param(0)));
  return JsonResponse(
      200,
      Json{{"id", vm.id}, {"name", vm.name}, {"state", VmStateName(vm.state)}, {"stats", ToJson(vm.stats)}});
}

HttpResponse VmExec(ApiServices& s, const ApiCall& c) {
  if (auto st = RequireUpgrade(c.req, "exec"); !st.ok()) return ErrorResponse(st.error());
  API_TRY(ExecVmRequest er, DecodeBody<ExecVmRequest>(c.req));
  API_TRY(auto view, s.vms.Get(c.Param(0)));  // answer "no such vm" before upgrading
  ExecRequest exec;
  exec.argv = std::move(er.argv);
  exec.env = std::move(er.env);
  exec.cwd = std::move(er.cwd);
  exec.tty = er.tty;
  exec.rows = static_cast<uint16_t>(er.rows);
  exec.cols = static_cast<uint16_t>(er.cols);
  return ExecUpgrade(s.vms, view.vm.id, exec, er.agent_timeout, /*may_be_run_command=*/true);
}

// Who is calling, for host-folder checks: the local socket's peer, else nobody.
std::optional<Credentials> CallerOf(const HttpRequest& req) {
  if (!req.peer_uid || !req.peer_gid) return std::nullopt;
  return Credentials{*req.peer_uid, *req.peer_gid, req.peer_groups};
}

// stop and restart: an optional graceful shutdown time.
template <typename Op>
HttpResponse StopLike(const ApiCall& c, Op op) {
  API_TRY(StopVmRequest sr, DecodeBody<StopVmRequest>(c.req));
  return ViewResponse(op(c.Param(0), sr.timeout));
}

}  // namespace

void AddVmRoutes(RouteTable& t, ApiServices& s) {
  t.Add("GET", "/v1/vms", [&s](const ApiCall& c) { return ListVms(s, c); });
  t.Add("POST", "/v1/vms", [&s](const ApiCall& c) {
    API_TRY(CreateVmRequest cr, DecodeBody<CreateVmRequest>(c.req));
    return CreateVm(s, cr, CallerOf(c.req));
  });
  t.Add("GET", "/v1/vms/{ref}", [&s](const ApiCall& c) { return ViewResponse(s.vms.Get(c.Param(0))); });
  t.Add("PATCH", "/v1/vms/{ref}", [&s](const ApiCall& c) {
    API_TRY(SetVmRequest sr, DecodeBody<SetVmRequest>(c.req));
    return ViewResponse(s.vms.Set(c.Param(0), sr));
  });
  t.Add("DELETE", "/v1/vms/{ref}", [&s](const ApiCall& c) { return DeleteVm(s, c); });
  t.Add("GET", "/v1/vms/{ref}/logs", [&s](const ApiCall& c) { return VmLogs(s, c); });
  t.Add("GET", "/v1/vms/{ref}/stats", [&s](const ApiCall& c) { return GetVmStats(s, c); });
  t.Add(
      "POST", "/v1/vms/{ref}/exec", [&s](const ApiCall& c) { return VmExec(s, c); }, RouteAccess::kLocal);
  t.Add("POST", "/v1/vms/{ref}/start", [&s](const ApiCall& c) {
    API_TRY(Json body, Body(c.req));
    if (!body.empty()) return ErrorResponse(Error::Invalid("start takes no body fields"));
    return ViewResponse(s.vms.Start(c.Param(0)));
  });
  t.Add("POST", "/v1/vms/{ref}/stop", [&s](const ApiCall& c) {
    API_TRY(StopVmRequest sr, DecodeBody<StopVmRequest>(c.req));
    if (!sr.save) return ViewResponse(s.vms.Stop(c.Param(0), sr.timeout));
    if (!s.snapshots) return ErrorResponse(Error::Unavailable("snapshots are not available in this daemon"));
    return ViewResponse(s.snapshots->StopAndSave(c.Param(0)));
  });
  t.Add("POST", "/v1/vms/{ref}/restart", [&s](const ApiCall& c) {
    return StopLike(c, [&s](const std::string& ref, auto timeout) { return s.vms.Restart(ref, timeout); });
  });
  t.Add("POST", "/v1/vms/{ref}/pause", [&s](const ApiCall& c) {
    API_TRY(Json body, Body(c.req));
    if (!body.empty()) return ErrorResponse(Error::Invalid("pause takes no body fields"));
    return ViewResponse(s.vms.Pause(c.Param(0)));
  });
  t.Add("POST", "/v1/vms/{ref}/resume", [&s](const ApiCall& c) {
    API_TRY(Json body, Body(c.req));
    if (!body.empty()) return ErrorResponse(Error::Invalid("resume takes no body fields"));
    return ViewResponse(s.vms.Resume(c.Param(0)));
  });
}

}  // namespace banger
