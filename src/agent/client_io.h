// Blocking socket helpers shared by the agent client's transports
// (client_transport.cc) and its connection (client.cc, client_send.cc). Internal to
// banger_agent_client.
#pragma once

#include <chrono>
#include <string_view>

#include "base/result.h"

namespace banger::agent_io {

using Clock = std::chrono::steady_clock;

// Milliseconds until deadline for poll(): 0 once it has passed.
int MsLeft(Clock::time_point deadline);

// Writes all of data, blocking. MSG_NOSIGNAL: a vanished peer must be an
// error value, not a SIGPIPE.
Status SendAll(int fd, std::string_view data);

// Writes all of data without blocking past deadline (MSG_DONTWAIT + poll):
// kTimeout when the peer does not take it in time.
Status SendAllUntil(int fd, std::string_view data, Clock::time_point deadline);

}  // namespace banger::agent_io
