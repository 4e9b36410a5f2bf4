// The daemon side of `vm exec` / `vm run` and of session logs/attach:
// relays a WebSocket (api/stream.h messages) to a command run through
// GuestExec (daemon/guest_exec.h). This file only relays messages.
#pragma once

#include <chrono>
#include <string>

#include "agent/client.h"
#include "daemon/vm_service.h"
#include "http/ws.h"

namespace banger {

// Runs on the connection's thread until the command exits or the client
// goes away (then the command gets SIGHUP, as over ssh, and SIGKILL after a
// grace). `may_be_run_command`: this is `/v1/vms/{id}/exec`, whose first
// command on an auto-remove VM is its run command (docs/api.md).
void ServeExecStream(WsConn& ws, VmService& vms, const std::string& ref, const ExecRequest& req,
                     std::chrono::milliseconds agent_timeout, bool may_be_run_command = false);

}  // namespace banger
