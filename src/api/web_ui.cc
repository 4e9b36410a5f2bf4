#include "api/web_ui.h"

#include <arpa/inet.h>

#include "api/routes.h"
#include "api/web_assets.h"
#include "base/log.h"

namespace banger {

namespace {

HttpResponse Refuse(int status, const std::string& code, const std::string& message) {
  // The message quotes request headers, which may hold any bytes: JsonResponse
  // replaces invalid UTF-8 (SafeDump; a throw here once ended bangerd, found by
  // fuzz/http_fuzzer.cc).
  HttpResponse r = JsonResponse(status, Json{{"error", {{"code", code}, {"message", message}}}});
  r.headers["Cache-Control"] = "no-store";
  return r;
}

// "127.0.0.1:8080" -> "127.0.0.1"; "[::1]:8080" -> "::1"; "localhost" -> "localhost".
std::string HostName(const std::string& host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return close == std::string::npos ? host : host.substr(1, close - 1);
  }
  auto colon = host.rfind(':');
  return colon == std::string::npos ? host : host.substr(0, colon);
}

bool IsIpLiteralOrLocalhost(const std::string& name) {
  if (name == "localhost") return true;
  unsigned char buf[16];
  return ::inet_pton(AF_INET, name.c_str(), buf) == 1 || ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

std::string Header(const HttpRequest& req, const std::string& lower_name) {
  auto it = req.headers.find(lower_name);
  return it == req.headers.end() ? "" : it->second;
}

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or "".
std::string CookieValue(const std::string& cookies, const std::string& name) {
  size_t i = 0;
  while (i < cookies.size()) {
    size_t j = cookies.find(';', i);
    if (j == std::string::npos) j = cookies.size();
    std::string part = cookies.substr(i, j - i);
    size_t b = part.find_first_not_of(' ');
    if (b != std::string::npos) part = part.substr(b);
    if (part.rfind(name + "=", 0) == 0) return part.substr(name.size() + 1);
    i = j + 1;
  }
  return "";
}

// The session token a request presents: the cookie, else a bearer token.
std::string PresentedToken(const HttpRequest& req) {
  std::string c = CookieValue(Header(req, "cookie"), kWebSessionCookie);
  if (!c.empty()) return c;
  std::string auth = Header(req, "authorization");
  if (auth.rfind("Bearer ", 0) == 0) return auth.substr(7);
  return "";
}

// The page's policy: its script and styles come only from this listener
// (/assets/, bundled at build time), it talks only to this listener (fetch
// and WebSocket: a ws: URL of the same host and port is 'self'), and no
// other page may frame it. Inline styles stay allowed: xterm.js sizes its
// rows with <style> elements; inline scripts are not.
constexpr const char* kPagePolicy =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

}  // namespace

// The page and its assets (api/web_assets.h); "/index.html" is "/".
HttpResponse WebUi::Page(const HttpRequest& req) {
  std::string path = req.Path() == "/index.html" ? "/" : req.Path();
  for (const WebAsset& a : WebAssets()) {
    if (a.path != path) continue;
    if (req.method != "GET")
      return Refuse(400, "invalid_argument", "method " + req.method + " not allowed on " + path);
    HttpResponse r;
    r.status = 200;
    r.content_type = std::string(a.content_type);
    r.headers["Cache-Control"] = "no-store";
    r.headers["X-Content-Type-Options"] = "nosniff";
    r.headers["X-Frame-Options"] = "DENY";
    r.headers["Referrer-Policy"] = "no-referrer";
    r.headers["Content-Security-Policy"] = kPagePolicy;
    r.body = std::string(a.body);
    return r;
  }
  return Refuse(404, "not_found", "no such page: " + req.Path());
}

HttpResponse WebUi::Login(const HttpRequest& req) {
  if (req.method != "GET")
    return Refuse(400, "invalid_argument", "method " + req.method + " not allowed on /login");
  auto q = req.Query();
  auto session = auth_.Redeem(q["token"]);
  if (!session.ok()) return Refuse(401, "unauthenticated", session.error().message());
  HttpResponse r;
  r.status = 303;
  r.content_type = "";
  r.headers["Location"] = "/";
  r.headers["Cache-Control"] = "no-store";
  r.headers["Referrer-Policy"] = "no-referrer";
  r.headers["Set-Cookie"] =
      std::string(kWebSessionCookie) + "=" + *session + "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(auth_.session_ttl()).count());
  return r;
}

HttpResponse WebUi::Route(const HttpRequest& req, std::string* route) {
  std::string host = Header(req, "host");
  if (!IsIpLiteralOrLocalhost(HostName(host))) {
    return Refuse(403, "forbidden",
                  "the web UI answers only to an IP address or localhost, not \"" + host + "\"");
  }
  std::string origin = Header(req, "origin");
  bool websocket = req.headers.count("upgrade") > 0;
  // A browser sends Origin on every WebSocket; without one (or with another
  // site's) the cookie must not open a stream (cross-site WebSocket hijacking).
  if (websocket && origin.empty()) {
    return Refuse(403, "forbidden", "a WebSocket on the web listener needs an Origin header matching Host");
  }
  if (!origin.empty()) {
    auto scheme = origin.find("://");
    std::string origin_host = scheme == std::string::npos ? origin : origin.substr(scheme + 3);
    if (origin_host != host) return Refuse(403, "forbidden", "cross-origin request refused");
  }
  auto segs = PathSegments(req.target);
  if (!segs.ok()) return ErrorResponse(segs.error());
  if (segs->size() == 1 && (*segs)[0] == "login") {
    *route = "/login";
    return Login(req);
  }
  // GET /metrics: a login session, or a scrape token (which opens nothing else).
  bool metrics = segs->size() == 1 && (*segs)[0] == "metrics";
  std::string token = PresentedToken(req);
  if (!auth_.Check(token) && !(metrics && req.method == "GET" && auth_.CheckMetrics(token))) {
    return Refuse(
        401, "unauthenticated",
        metrics ? "GET /metrics on the web listener needs a login session or a scrape token "
                  "(POST /v1/web/tokens {\"scope\": \"metrics\"} on the Unix socket) as a bearer token"
                : "the web UI needs a login: run `banger web open` on this host and open the URL it prints");
  }
  if (!metrics && (segs->empty() || (*segs)[0] != "v1")) {
    HttpResponse r = Page(req);
    if (r.status != 404) *route = "page";
    return r;
  }
  // WebSockets go to the router like the rest: the streams marked for the
  // web (exec, session attach/logs, console, events) are kAny there; the
  // others (builds, pulls, archives, workspaces) are kLocal, answered 403.
  if (websocket && !IsWebSocketUpgrade(req)) {
    return Refuse(400, "invalid_argument", "the web listener upgrades only to a WebSocket");
  }
  if (req.method != "GET" && Header(req, "x-banger-ui").empty()) {
    return Refuse(403, "forbidden", "changes from the web listener need the X-Banger-UI header");
  }
  // Daemon control, host paths and the like: refused by the router on the matched route.
  return api_.HandleWeb(req, route);
}

HttpResponse WebUi::Handle(const HttpRequest& req) {
  auto start = std::chrono::steady_clock::now();
  std::string route = kUnmatchedRoute;
  HttpResponse r = Route(req, &route);
  api_.metrics().ObserveRequest(Listener::kWeb, route, req.method, r.websocket ? 101 : r.status,
                                std::chrono::steady_clock::now() - start);
  return r;
}

}  // namespace banger
