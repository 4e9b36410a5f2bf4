// bangerd under systemd (docs/ARCHITECTURE.md "Under systemd"): readiness
// and stop notifications for a Type=notify unit, and the API socket handed
// over by socket activation (bangerd.socket). Both are no-ops when the
// daemon was not started by systemd ($NOTIFY_SOCKET / $LISTEN_FDS unset),
// so the CLI's auto-started daemon behaves as before.
#pragma once

#include <optional>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace banger {

// Tells the service manager the daemon is ready (listeners up, startup
// reconcile done), with a one-line STATUS.
void NotifyReady(const std::string& status);
// Tells the service manager the daemon is stopping.
void NotifyStopping();

// The listening socket systemd passed for `socket_path` (LISTEN_FDS,
// LISTEN_PID, LISTEN_FDNAMES; the variables are unset after), or nullopt
// when none was passed. An fd passed that is not a listening Unix stream
// socket bound to `socket_path` is an error: the daemon would otherwise
// serve where no client looks.
Result<std::optional<UniqueFd>> TakeActivatedSocket(const std::string& socket_path);

}  // namespace banger
