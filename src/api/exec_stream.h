// The daemon side of `vm exec` / `vm run`: relays an upgraded API
// connection (api/stream.h frames) to a command run by the guest agent.
#pragma once

#include <chrono>
#include <string>

#include "agent/client.h"
#include "base/unique_fd.h"
#include "daemon/vm_service.h"

namespace banger {

// Runs on the connection's thread until the command exits or the client
// goes away (then the command gets SIGHUP, as over ssh).
void ServeExecStream(UniqueFd fd, std::string leftover, VmService& vms, const std::string& ref,
                     const ExecRequest& req, std::chrono::milliseconds agent_timeout);

}  // namespace banger
