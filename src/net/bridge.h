// The host bridge every VM's tap is attached to (config: bridge_name,
// bridge_ip, cidr). Ensure is idempotent: measure, then act only on what is
// missing, so it is safe at every VM start and after a daemon restart.
#pragma once

#include <string>

#include "base/result.h"
#include "net/net_ops.h"

namespace banger {

class Bridge {
 public:
  // Makes sure the bridge `name` exists, holds `ip`/`prefix` and is up.
  // Refuses (kConflict, one line saying what and how to fix):
  //  - `name` taken by a link that is not a bridge;
  //  - a host route, on another device, overlapping the bridge subnet.
  // `prefix` is the config's cidr ("24" or "/24").
  static Status Ensure(NetOps& ops, const std::string& name, const std::string& ip,
                       const std::string& prefix);

  // Only the checks of Ensure, without changing anything (for `doctor`).
  static Status Check(NetOps& ops, const std::string& name, const std::string& ip, const std::string& prefix);
};

}  // namespace banger
