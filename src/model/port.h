// Published ports (`vm create/run -p`, `vm port add|rm|list`): a host TCP or
// UDP address the daemon listens on, relayed to a port of the guest's loopback
// (daemon/port_service.h). The syntax is [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|udp];
// HOST_IP is an IPv4 literal, 127.0.0.1 by default.
#pragma once

#include <string>

#include "base/result.h"

namespace banger {

inline constexpr const char* kDefaultPortHostIp = "127.0.0.1";

struct PortMapping {
  std::string vm_id;  // "" in requests
  std::string host_ip = kDefaultPortHostIp;
  int host_port = 0;
  int guest_port = 0;
  std::string protocol = "tcp";

  // "127.0.0.1:18080:8080/tcp": what `vm port rm` and the API's key take.
  std::string Spec() const;
  bool SameHostAddress(const PortMapping& o) const {
    return host_ip == o.host_ip && host_port == o.host_port && protocol == o.protocol;
  }
};

// Parses and validates one -p value: ports 1-65535, HOST_IP an IPv4
// literal, protocol tcp (the default) or udp.
Result<PortMapping> ParsePortMapping(const std::string& spec);

}  // namespace banger
