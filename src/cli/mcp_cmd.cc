// banger mcp: the MCP server on stdin/stdout (cli/mcp_server.h). Runs until
// its input ends; the daemon is started on the first tool call that needs it.
#include <unistd.h>

#include <csignal>
#include <iostream>

#include "cli/commands.h"
#include "cli/mcp_server.h"

namespace banger {

void AddMcpCommand(CLI::App& app, Command* selected) {
  auto* c = app.add_subcommand("mcp",
                               "Serve the Model Context Protocol on stdin/stdout, for AI agents "
                               "(tools: VMs, commands, files; resources: console logs; docs/mcp.md)");
  c->callback([selected] {
    *selected = [](CliContext& ctx) {
      std::signal(SIGPIPE, SIG_IGN);  // a client gone is a failed write, then the end
      auto backend = MakeApiBackend(ctx.client());
      McpServer server(*backend, BANGER_VERSION);
      std::clog << "banger mcp: serving MCP " << kMcpProtocolVersion << " on stdio for "
                << ctx.client().home().root << std::endl;
      ServeMcp(server, STDIN_FILENO, STDOUT_FILENO);
      return kExitOk;
    };
  });
}

}  // namespace banger
