// GET /v1/ping, POST /v1/daemon/stop, GET /v1/openapi.yaml (docs/openapi.yaml,
// embedded at build time) and the web UI's tokens: POST/DELETE
// /v1/web/tokens (api/web_auth.h: login tokens, and scrape tokens for GET
// /metrics).
#include <banger/openapi_doc.h>

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
  t.Add("GET", "/v1/openapi.yaml", [](const ApiCall&) {
    HttpResponse r;
    r.status = 200;
    r.content_type = "application/yaml";
    r.body = kOpenApiYaml;
    return r;
  });
  t.Add(
      "POST", "/v1/daemon/stop",
      [&s](const ApiCall&) {
        s.request_stop();
        return JsonResponse(202, Json::object());
      },
      RouteAccess::kLocal);
  t.Add(
      "POST", "/v1/web/tokens",
      [&s](const ApiCall& c) {
        if (!s.web_auth || s.info.web_url.empty()) {
          return ErrorResponse(Error::Conflict("the web UI is off (config web_listen_addr)"));
        }
        if (!c.req.peer_uid)
          return ErrorResponse(Error::Invalid("web tokens are issued on the Unix socket only"));
        // An optional body: {"scope": "login"} (the default) or {"scope": "metrics"}, a scrape token.
        std::string scope = "login";
        if (!c.req.body.empty()) {
          Json body = Json::parse(c.req.body, nullptr, false);
          auto it = body.is_object() ? body.find("scope") : body.end();
          if (!body.is_object() || body.size() > 1 ||
              (body.size() == 1 && (it == body.end() || !it->is_string())))
            return ErrorResponse(Error::Invalid("body: expected {\"scope\": \"login\" | \"metrics\"}"));
          if (it != body.end()) scope = it->get<std::string>();
        }
        if (scope == "metrics") {
          API_TRY(std::string token, s.web_auth->IssueMetrics(*c.req.peer_uid));
          return JsonResponse(201, Json{{"scope", "metrics"},
                                        {"token", token},
                                        {"uid", *c.req.peer_uid},
                                        {"metrics_url", s.info.web_url + "metrics"}});
        }
        if (scope != "login")
          return ErrorResponse(
              Error::Invalid("scope: expected \"login\" or \"metrics\", not \"" + scope + "\""));
        API_TRY(std::string token, s.web_auth->IssueLogin(*c.req.peer_uid));
        return JsonResponse(
            201, Json{{"url", s.info.web_url + "login?token=" + token},
                      {"login_token", token},
                      {"uid", *c.req.peer_uid},
                      {"login_expires_in_s",
                       std::chrono::duration_cast<std::chrono::seconds>(s.web_auth->login_ttl()).count()},
                      {"session_ttl_s",
                       std::chrono::duration_cast<std::chrono::seconds>(s.web_auth->session_ttl()).count()}});
      },
      RouteAccess::kLocal);
  t.Add(
      "DELETE", "/v1/web/tokens",
      [&s](const ApiCall& c) {
        if (!c.req.peer_uid)
          return ErrorResponse(Error::Invalid("web tokens are revoked on the Unix socket only"));
        int n = s.web_auth ? s.web_auth->Revoke(*c.req.peer_uid) : 0;
        return JsonResponse(200, Json{{"revoked", n}});
      },
      RouteAccess::kLocal);
}

}  // namespace banger
