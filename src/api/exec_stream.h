// The daemon side of `vm exec` / `vm run` and of session logs/attach:
// relays an upgraded API connection (api/stream.h frames) to a command run
// through GuestExec (daemon/guest_exec.h). This file only relays frames.
#pragma once

#include <chrono>
#include <string>

#include "agent/client.h"
#include "base/unique_fd.h"
#include "daemon/vm_service.h"

namespace banger {

// Runs on the connection's thread until the command exits or the client
// goes away (then the command gets SIGHUP, as over ssh, and SIGKILL after a
// grace). `may_be_run_command`: this is `POST /v1/vms/{id}/exec`, whose
// first command on an auto-remove VM is its run command (docs/api.md).
void ServeExecStream(UniqueFd fd, std::string leftover, VmService& vms, const std::string& ref,
                     const ExecRequest& req, std::chrono::milliseconds agent_timeout,
                     bool may_be_run_command = false);

}  // namespace banger
