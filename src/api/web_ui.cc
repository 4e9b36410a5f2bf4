#include "api/web_ui.h"

#include <arpa/inet.h>
#include <banger/web_index.h>

#include "api/routes.h"

namespace banger {

namespace {

HttpResponse Refuse(int status, const std::string& code, const std::string& message) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  // The message quotes request headers, which may hold any bytes: invalid
  // UTF-8 is replaced, never thrown about (an exception here ended bangerd;
  // found by fuzz/http_fuzzer.cc).
  r.body = Json{{"error", {{"code", code}, {"message", message}}}}.dump(-1, ' ', false,
                                                                        Json::error_handler_t::replace);
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

}  // namespace

HttpResponse WebUi::Handle(const HttpRequest& req) {
  std::string host = Header(req, "host");
  if (!IsIpLiteralOrLocalhost(HostName(host))) {
    return Refuse(403, "forbidden",
                  "the web UI answers only to an IP address or localhost, not \"" + host + "\"");
  }
  std::string origin = Header(req, "origin");
  if (!origin.empty()) {
    auto scheme = origin.find("://");
    std::string origin_host = scheme == std::string::npos ? origin : origin.substr(scheme + 3);
    if (origin_host != host) return Refuse(403, "forbidden", "cross-origin request refused");
  }
  std::string path = req.Path();
  if (path == "/" || path == "/index.html") {
    if (req.method != "GET")
      return Refuse(400, "invalid_argument", "method " + req.method + " not allowed on /");
    HttpResponse r;
    r.status = 200;
    r.content_type = "text/html; charset=utf-8";
    r.headers["Cache-Control"] = "no-store";
    r.headers["X-Frame-Options"] = "DENY";
    r.headers["Content-Security-Policy"] =
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
        "frame-ancestors 'none'";
    r.body = kWebIndexHtml;
    return r;
  }
  if (path.rfind("/v1/", 0) != 0) return Refuse(404, "not_found", "no such page: " + path);
  // The segments the router will see: "/v1//daemon/stop" is /v1/daemon/stop.
  auto segs = PathSegments(path);
  if (segs.size() >= 2 && segs[1] == "daemon") {
    return Refuse(403, "forbidden", "the daemon itself is managed on its Unix socket, not from the web UI");
  }
  if (req.headers.count("upgrade")) {
    return Refuse(400, "invalid_argument", "streams (exec, builds, logs) are served on the Unix socket only");
  }
  if (req.method != "GET" && Header(req, "x-banger-ui").empty()) {
    return Refuse(403, "forbidden", "changes from the web listener need the X-Banger-UI header");
  }
  return api_.Handle(req);
}

}  // namespace banger
