// /v1/vms: the VM lifecycle (create, show, list, set, start, stop, restart,
// pause, resume, delete), its console log, its stats and exec (a command stream).
#include <charconv>
#include <cmath>
#include <thread>

#include "api/exec_stream.h"
#include "api/handlers.h"
#include "api/respond.h"
#include "api/stream.h"
#include "daemon/guest_exec.h"
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

// ?since=: unix seconds, fractional allowed; in whole ms, rounded down (a
// little more output rather than less).
Result<int64_t> QuerySinceMs(const std::map<std::string, std::string>& q) {
  const std::string& v = q.at("since");
  double secs = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
  // Up to year ~5138: any later is a typo, and keeps the ms in an int64.
  if (ec != std::errc() || p != v.data() + v.size() || !(secs >= 0 && secs < 1e11)) {
    return Error::Invalid("query parameter since must be a time in unix seconds (e.g. 1796054400.5)");
  }
  return static_cast<int64_t>(std::floor(secs * 1000));
}

HttpResponse VmLogs(ApiServices& s, const ApiCall& c) {
  API_TRY(int64_t offset, QueryInt(c.query, "offset", 0, 0, INT64_MAX));
  if (c.query.count("since") != 0) {
    if (c.query.count("offset") != 0) {
      return ErrorResponse(Error::Invalid("query parameters since and offset exclude each other"));
    }
    API_TRY(int64_t since_ms, QuerySinceMs(c.query));
    API_TRY(offset, s.vms.LogOffsetSince(c.Param(0), since_ms));
  }
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

// The charts' series: the stats passes' samples (daemon/stats_history.h).
HttpResponse GetVmStatsHistory(ApiServices& s, const ApiCall& c) {
  API_TRY(auto h, s.monitor.History(c.Param(0)));
  Json samples = Json::array();
  for (const StatsSample& x : h.second) {
    samples.push_back(Json{{"at", FormatRfc3339(x.at)},
                           {"cpu_percent", x.cpu_percent},
                           {"rss_bytes", x.rss_bytes},
                           {"vsz_bytes", x.vsz_bytes},
                           {"system_overlay_bytes", x.system_overlay_bytes},
                           {"work_disk_bytes", x.work_disk_bytes},
                           {"disk_bytes", x.system_overlay_bytes + x.work_disk_bytes}});
  }
  return JsonResponse(200, Json{{"id", h.first.id},
                                {"name", h.first.name},
                                {"state", VmStateName(h.first.state)},
                                {"max_samples", StatsHistory::kMaxSamples},
                                {"samples", samples}});
}

// GET /v1/vms/{ref}/exec, a WebSocket whose opening request is an ExecVmRequest.
HttpResponse VmExec(ApiServices& s, const ApiCall& c) {
  if (auto st = RequireWebSocket(c.req, "exec"); !st.ok()) return ErrorResponse(st.error());
  API_TRY(auto view, s.vms.Get(c.Param(0)));  // answer "no such vm" before upgrading
  VmService* vms = &s.vms;
  std::string id = view.vm.id;
  return WebSocketStream([vms, id](WsConn& ws) {
    auto er = ReadOpen<ExecVmRequest>(ws, "exec request");
    if (!er.ok()) return SendStreamError(ws, er.error());
    auto now = vms->Get(id);
    if (!now.ok()) return SendStreamError(ws, now.error());
    // The image's defaults (OCI images) fill what the request leaves out.
    GuestExec guest(*vms);
    auto exec = guest.UserRequest(now->vm, UserCommandOf(*er), /*may_be_run_command=*/true);
    if (!exec.ok()) return SendStreamError(ws, exec.error());
    exec->tty = er->tty;
    exec->rows = static_cast<uint16_t>(er->rows);
    exec->cols = static_cast<uint16_t>(er->cols);
    ServeExecStream(ws, *vms, id, *exec, er->agent_timeout, /*may_be_run_command=*/true);
  });
}

// GET /v1/vms/{ref}/console?offset=N, a WebSocket: the console log from
// `offset` as stdout messages, following it; when the VM has stopped and
// everything was sent, a result {"next_offset","state"}.
HttpResponse VmConsole(ApiServices& s, const ApiCall& c) {
  if (auto st = RequireWebSocket(c.req, "console"); !st.ok()) return ErrorResponse(st.error());
  API_TRY(int64_t offset, QueryInt(c.query, "offset", 0, 0, INT64_MAX));
  API_TRY(auto view, s.vms.Get(c.Param(0)));
  VmService* vms = &s.vms;
  std::string id = view.vm.id;
  return WebSocketStream([vms, id, offset](WsConn& ws) {
    WithClientWatch(ws, [&](const std::atomic<bool>& cancel) {
      int64_t at = offset;
      while (!cancel) {
        auto started = std::chrono::steady_clock::now();
        auto chunk = vms->ReadLogs(id, at, kWsMaxPayload, std::chrono::seconds(1));
        if (!chunk.ok()) return SendStreamError(ws, chunk.error());
        if (!chunk->data.empty()) {
          if (!ws.Send(Msg(StreamType::kStdout), chunk->data).ok()) return;
          at = chunk->next_offset;
          continue;
        }
        at = chunk->next_offset;
        if (VmStateHasVmm(chunk->state) &&
            std::chrono::steady_clock::now() - started < std::chrono::milliseconds(100)) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));  // reads no longer wait: not hot
        }
        if (!VmStateHasVmm(chunk->state)) {
          ws.Send(Msg(StreamType::kResult),
                  SafeDump(Json{{"next_offset", at}, {"state", VmStateName(chunk->state)}}))
              .ok();
          return;
        }
      }
    });
  });
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
  t.Add("GET", "/v1/vms/{ref}/stats/history", [&s](const ApiCall& c) { return GetVmStatsHistory(s, c); });
  // WebSockets, on the web listener too (docs/security.md).
  t.Add("GET", "/v1/vms/{ref}/exec", [&s](const ApiCall& c) { return VmExec(s, c); });
  t.Add("GET", "/v1/vms/{ref}/console", [&s](const ApiCall& c) { return VmConsole(s, c); });
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
