// `banger-agent --connect HOST:PORT`: a netcat for one TCP connection inside
// the guest. Copies stdin to the socket and the socket to stdout until both
// directions are closed, with half-close passed on (EOF on stdin shuts the
// socket's write side; EOF from the socket closes stdout). `banger vm ssh`
// runs it through `vm exec -i` as ssh's ProxyCommand, so the guest needs no
// network route from the host.
//
// One thread, one poll loop, a bounded buffer per direction.
#pragma once

#include <string>

namespace banger::agent {

// Returns the process exit code: 0 once both directions have closed, 1 (with
// a one-line message on stderr) if the connection fails or is reset, 2 for a
// malformed address.
int RunConnect(const std::string& address);

}  // namespace banger::agent
