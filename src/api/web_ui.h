// The web UI (config web_listen_addr): one page (web/src/, bundled with
// xterm.js at build time and embedded: api/web_assets.h) that drives the
// same API under /v1 on the same listener.
//
// The listener is TCP: anyone on the host (any local user) and, when bound
// beyond loopback, the network can connect, and a browser brings its own
// threats. The guards here (docs/security.md):
//  - authentication: every request needs a session of api/web_auth.h (the
//    HttpOnly cookie, or a bearer token), got by redeeming at GET /login a
//    one-time token that only the Unix socket hands out (`banger web open`);
//    GET /metrics also takes a scrape token as a bearer token; anything
//    else is 401;
//  - routes: the router dispatches with Listener::kWeb, so routes marked
//    RouteAccess::kLocal (daemon control, host paths, streams, tokens) are
//    403 here, decided on the matched route, not on the path's spelling;
//  - DNS rebinding: the Host header must be an IP literal or "localhost";
//  - cross-site requests: anything but GET needs the header X-Banger-UI (a
//    page of another origin cannot send it without a CORS preflight, which
//    is never granted), an Origin header must match Host, and the cookie is
//    SameSite=Strict;
//  - no upgraded streams: those stay on the Unix socket.
#pragma once

#include "api/server.h"
#include "api/web_auth.h"
#include "http/http.h"

namespace banger {

inline constexpr const char* kWebSessionCookie = "banger_session";

class WebUi {
 public:
  WebUi(ApiRouter& api, WebAuth& auth) : api_(api), auth_(auth) {}
  // Counts every request in api.metrics(), by route pattern: "/login",
  // "page" (the page and its assets), the API's patterns, or "unmatched"
  // (refused before a route was known, or no route).
  HttpResponse Handle(const HttpRequest& req);

 private:
  HttpResponse Route(const HttpRequest& req, std::string* route);
  HttpResponse Login(const HttpRequest& req);
  HttpResponse Page(const HttpRequest& req);
  ApiRouter& api_;
  WebAuth& auth_;
};

}  // namespace banger
