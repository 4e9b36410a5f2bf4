// A published UDP port (daemon/port_service.h): datagrams that reach the
// host socket are relayed per client address ("flow", as docker-proxy and
// conntrack do) through one guest command each (`banger-agent --connect-udp
// 127.0.0.1:GUEST_PORT`), whose stdin/stdout carry datagrams framed as
// [u16 big-endian length][bytes]; the answers go back to that client from
// the published address.
//
// - Bounds: at most max_flows flows per port (a datagram from one more
//   client is dropped); each flow queues at most max_queued datagrams for
//   the guest (more are dropped: UDP may lose them); what a guest sends is
//   cut into frames as it comes (at most one partial frame, <= 64 KiB + 2,
//   is held), and it can only reach its own flow's client.
// - Deadlines: a flow with no datagram either way for idle_timeout ends
//   (its guest command is killed); a guest that grants no stdin credit
//   fails the write (the agent connection's credit timeout).
// - Threads: ServeUdpPort runs on the port's acceptor thread; each flow has
//   a detached writer thread (open, then host -> guest) that starts and
//   joins its reader thread (guest -> host). Each flow sends with its own
//   dup of the socket, so nothing is used after the acceptor returns; it
//   stops every flow and waits for them, bounded by stop_wait.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "base/result.h"
#include "daemon/port_relay.h"

namespace banger {

struct UdpOptions {
  int max_flows = 64;
  size_t max_queued = 64;
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds tick{std::chrono::milliseconds(200)};
  std::chrono::milliseconds stop_wait{std::chrono::seconds(5)};
};

// Opens the guest end of one flow.
using UdpOpenFn = std::function<Result<std::unique_ptr<RelayGuest>>()>;

// Serves the bound UDP socket `fd` until `wake_fd` becomes readable; then
// ends every flow. `what` names the port in log lines. Does not close fd.
void ServeUdpPort(int fd, int wake_fd, const std::string& what, const UdpOpenFn& open, const UdpOptions& o);

// The frame codec of --connect-udp: appends [u16 BE len][data] (data at
// most 65535 bytes), and takes whole frames off the front of `buf`.
void AppendUdpFrame(std::string* out, std::string_view data);
// Returns false when `buf` holds no whole frame yet.
bool TakeUdpFrame(std::string* buf, std::string* datagram);

}  // namespace banger
