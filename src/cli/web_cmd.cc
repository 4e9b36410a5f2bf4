// banger web open|metrics-token|revoke: the web UI's logins and scrape
// tokens (docs/security.md). The daemon hands them out on its Unix socket
// only, to the socket's caller.
#include <string>

#include "cli/commands.h"
#include "cli/output.h"

namespace banger {
namespace {

int WebOpen(CliContext& ctx) {
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  Json empty = Json::object();
  auto answer = (*api)->Call("POST", "/v1/web/tokens", &empty);
  if (!answer.ok()) return Report(answer.error());
  if (ctx.json()) {
    ctx.OutJson(*answer);
    return kExitOk;
  }
  ctx.Out(answer->value("url", "") + "\n");
  return kExitOk;
}

int WebMetricsToken(CliContext& ctx) {
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  Json scope{{"scope", "metrics"}};
  auto answer = (*api)->Call("POST", "/v1/web/tokens", &scope);
  if (!answer.ok()) return Report(answer.error());
  if (ctx.json()) {
    ctx.OutJson(*answer);
    return kExitOk;
  }
  ctx.Out(answer->value("token", "") + "\n");
  return kExitOk;
}

int WebRevoke(CliContext& ctx) {
  auto api = ctx.Connect();
  if (!api.ok()) return Report(api.error());
  auto answer = (*api)->Call("DELETE", "/v1/web/tokens");
  if (!answer.ok()) return Report(answer.error());
  if (ctx.json()) {
    ctx.OutJson(*answer);
  } else {
    ctx.Out("revoked " + std::to_string(answer->value("revoked", 0)) + " web UI token(s)\n");
  }
  return kExitOk;
}

}  // namespace

void AddWebCommands(CLI::App& app, Command* selected) {
  auto* web = AddGroup(app, "web", "Log in to the web UI (config web_listen_addr)");
  web->add_subcommand("open",
                      "Print a one-time login URL for the web UI (valid 2 minutes; the login it gives "
                      "lasts config web_session_ttl)")
      ->callback([=] { *selected = WebOpen; });
  web->add_subcommand("metrics-token",
                      "Print a new scrape token for GET /metrics on the web listener (a bearer token for "
                      "Prometheus; replaces your previous one; kept across daemon restarts)")
      ->callback([=] { *selected = WebMetricsToken; });
  web->add_subcommand("revoke", "End every web UI login of your user (root: of everyone)")->callback([=] {
    *selected = WebRevoke;
  });
}

}  // namespace banger
