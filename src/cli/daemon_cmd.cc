// banger daemon status|stop. Neither starts a daemon: asking whether one
// runs, or stopping it, must not bring one up.
#include <string>

#include "cli/commands.h"
#include "cli/output.h"

namespace banger {
namespace {

int DaemonStatus(CliContext& ctx) {
  auto ping = ctx.client().Ping();
  if (!ping.ok()) {
    if (ping.error().kind() != ErrorKind::kUnavailable) return Report(ping.error());
    if (ctx.json()) {
      ctx.OutJson({{"running", false}, {"home", ctx.client().home().root}});
    } else {
      ctx.Out("bangerd is not running\n");
    }
    return kExitFailed;
  }
  if (ctx.json()) {
    Json status = *ping;
    status["running"] = true;
    ctx.OutJson(status);
  } else {
    ctx.Out(RenderKeyValues(DaemonDetails(*ping, ctx.client().home().Socket())));
  }
  return kExitOk;
}

int DaemonStop(CliContext& ctx) {
  ctx.Progress("stopping bangerd...");
  return ExitCode(ctx.client().StopDaemon());
}

}  // namespace

void AddDaemonCommands(CLI::App& app, Command* selected) {
  auto* daemon = app.add_subcommand("daemon", "Inspect or stop bangerd (it starts on demand)");
  daemon->require_subcommand(1);
  daemon->add_subcommand("status", "Say whether bangerd runs, and its details")->callback([=] {
    *selected = DaemonStatus;
  });
  daemon->add_subcommand("stop", "Stop bangerd; running VMs keep running")->callback([=] {
    *selected = DaemonStop;
  });
}

}  // namespace banger
