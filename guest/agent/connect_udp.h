// `banger-agent --connect-udp 127.0.0.1:PORT`: the guest end of one flow of
// a published UDP port. Datagrams arrive on stdin and answers leave on
// stdout, each as [u16 big-endian length][bytes]; the socket is connected to
// the guest's loopback port, so only that port's answers come back. A
// datagram that cannot be sent (nothing listening yet) is lost, as with UDP.
#pragma once

#include <string>

namespace banger::agent {

// 0 when the host closes stdin (or stops reading stdout), 1 (one line on
// stderr) when the socket cannot be made, 2 for a malformed address.
int RunConnectUdp(const std::string& address);

}  // namespace banger::agent
