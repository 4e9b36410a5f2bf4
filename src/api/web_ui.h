// The web UI (config web_listen_addr): one page (src/api/web/index.html,
// embedded) that drives the same API under /v1 on the same listener.
//
// The listener is TCP, so a browser can reach it, which brings the browser's
// threats; the guards here:
//  - DNS rebinding: the Host header must be an IP literal or "localhost";
//  - cross-site requests: anything but GET needs the header X-Banger-UI (a
//    page of another origin cannot send it without a CORS preflight, which
//    is never granted), and an Origin header must match Host;
//  - no upgraded streams (exec, builds) and no /v1/daemon/* here (matched on
//    the router's segments, so /v1//daemon/stop is refused too): those stay
//    on the Unix socket, whose permissions decide who may use them.
// Anyone who can connect to the address can manage VMs: bind it to loopback
// (the default suggestion is 127.0.0.1:8080) unless the network is trusted.
#pragma once

#include "api/server.h"
#include "http/http.h"

namespace banger {

class WebUi {
 public:
  explicit WebUi(ApiRouter& api) : api_(api) {}
  HttpResponse Handle(const HttpRequest& req);

 private:
  ApiRouter& api_;
};

}  // namespace banger
