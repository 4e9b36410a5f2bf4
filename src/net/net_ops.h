// NetOps: the thin seam between banger's host networking logic (Bridge,
// TapPool, Nat) and the kernel. The real implementation runs iproute2 and
// nft with argv (never a shell) and reads `ip -j` JSON; unit tests use
// testing::FakeNetOps (net/testing/fake_net_ops.h, test-only). Implementations are safe for
// concurrent use (the real one keeps no state; the fake has a mutex).
//
// Every operation acts on the calling process's network namespace.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace banger {

struct LinkInfo {
  std::string name;
  // "bridge", "tap" (a tun device in tap mode), "tun", "veth", "dummy", ...;
  // "" for a device without rtnl link info (lo, physical NICs).
  std::string kind;
  std::string master;             // "" when not enslaved
  bool up = false;                // administratively up (IFF_UP)
  std::vector<std::string> ipv4;  // "172.16.0.1/24"
  std::string mac;                // "0a:00:ac:10:00:01"; "" when the link has none
  // A persistent tap's owner as iproute2 prints it: a user name, or a uid
  // when the name is unknown; "" when the tap has none (root-only).
  std::string tap_user;
};

struct RouteInfo {
  std::string dst;      // "default", "10.0.0.0/8", "10.1.2.3"
  std::string dev;      // "" for blackhole/unreachable routes
  std::string gateway;  // "" when on-link
  std::string type;     // "" (unicast), "blackhole", "unreachable", ...
};

class NetOps {
 public:
  virtual ~NetOps() = default;

  // The link named `name`, or nullopt if there is none.
  virtual Result<std::optional<LinkInfo>> GetLink(const std::string& name) = 0;
  // All links whose name starts with `prefix` ("" = all).
  virtual Result<std::vector<LinkInfo>> ListLinks(const std::string& prefix) = 0;
  virtual Status CreateBridge(const std::string& name) = 0;
  // `addr` is "172.16.0.1/24".
  virtual Status AddAddress(const std::string& dev, const std::string& addr) = 0;
  virtual Status SetUp(const std::string& dev) = 0;
  // A persistent tap device (ip tuntap add mode tap): it outlives the VMM
  // that opens it, so a VM keeps its tap across daemon restarts.
  // A persistent tap; `owner` ("" = none) is a user name or uid allowed to
  // attach to it without CAP_NET_ADMIN (the unprivileged VMM user).
  virtual Status CreateTap(const std::string& name, const std::string& owner) = 0;
  virtual Status SetMaster(const std::string& dev, const std::string& master) = 0;
  // Sets the link's hardware address. On a bridge this also pins it: the
  // kernel stops deriving the bridge's address from its ports.
  virtual Status SetMac(const std::string& dev, const std::string& mac) = 0;
  // Deleting a missing link is not an error.
  virtual Status DeleteLink(const std::string& name) = 0;
  // IPv4 routes of the main table.
  virtual Result<std::vector<RouteInfo>> ListRoutes() = 0;

  virtual Result<bool> IpForwardEnabled() = 0;
  virtual Status SetIpForward(bool on) = 0;

  // Applies an nft script (one transaction: all or nothing).
  virtual Status NftApply(const std::string& script) = 0;
  // `nft -j list table FAMILY NAME`: the JSON text, or nullopt when the
  // table does not exist.
  virtual Result<std::optional<std::string>> NftListTable(const std::string& family,
                                                          const std::string& table) = 0;
};

// iproute2 + nft + /proc/sys. A missing tool is kUnavailable naming the
// Debian package; a permission failure is kUnavailable naming CAP_NET_ADMIN.
NetOps& RealNetOps();

// True when this process has CAP_NET_ADMIN in its effective set.
bool HaveNetAdmin();
// The one-line hint appended to permission failures.
extern const char* const kNetAdminHint;

// Parsers of iproute2's JSON output, exposed for tests.
Result<std::vector<LinkInfo>> ParseIpLinkJson(const std::string& json);
Result<std::vector<RouteInfo>> ParseIpRouteJson(const std::string& json);

// A Linux interface name: 1..15 bytes, no '/', whitespace, quotes or ':'.
Status ValidateIfName(const std::string& name);
// A unicast Ethernet address written "xx:xx:xx:xx:xx:xx" in lower-case hex.
Status ValidateMac(const std::string& mac);
// A tap owner for iproute2: a uid (digits) or a user name ([a-z_][a-z0-9_-]*).
Status ValidateTapOwner(const std::string& owner);

}  // namespace banger
