#include "net/bridge.h"

#include <algorithm>
#include <mutex>

#include "net/address.h"

namespace banger {

namespace {

struct Plan {
  uint32_t ip = 0;
  int prefix = 0;
  Subnet subnet;
  std::optional<LinkInfo> link;
};

Result<Plan> Measure(NetOps& ops, const std::string& name, const std::string& ip_s,
                     const std::string& prefix_s) {
  Plan p;
  BANGER_RETURN_IF_ERROR(Annotate(ValidateIfName(name), "bridge_name"));
  auto ip = ParseIpv4(ip_s);
  if (!ip.ok()) return ip.error().Wrap("bridge_ip");
  auto prefix = ParsePrefix(prefix_s);
  if (!prefix.ok()) return prefix.error().Wrap("cidr");
  p.ip = *ip;
  p.prefix = *prefix;
  p.subnet = SubnetOf(p.ip, p.prefix);

  BANGER_ASSIGN_OR_RETURN(p.link, ops.GetLink(name));
  if (p.link && p.link->kind != "bridge") {
    std::string kind = p.link->kind.empty() ? "network device" : p.link->kind + " link";
    return Error::Conflict(
        "bridge name " + name + " is taken by a " + kind +
        " that is not a bridge: set bridge_name in config.toml to an unused name, or remove "
        "that link (ip link del " +
        name + ")");
  }

  BANGER_ASSIGN_OR_RETURN(auto routes, ops.ListRoutes());
  for (const auto& r : routes) {
    if (r.dst == "default" || r.dev == name) continue;  // ours, or the catch-all
    auto dst = ParseSubnet(r.dst);
    if (!dst.ok() || dst->prefix == 0) continue;
    if (dst->Overlaps(p.subnet)) {
      std::string via = r.dev.empty() ? (r.type.empty() ? "" : " (" + r.type + ")") : " on " + r.dev;
      return Error::Conflict("bridge subnet " + p.subnet.ToString() + " collides with the host route " +
                             r.dst + via +
                             ": set bridge_ip and cidr in config.toml to a subnet "
                             "no host route uses");
    }
  }
  return p;
}

}  // namespace

Status Bridge::Check(NetOps& ops, const std::string& name, const std::string& ip, const std::string& prefix) {
  return ToStatus(Measure(ops, name, ip, prefix));
}

Status Bridge::Ensure(NetOps& ops, const std::string& name, const std::string& ip_s,
                      const std::string& prefix_s) {
  // Serializes concurrent first starts in this process (measure-then-act).
  static std::mutex mu;
  std::lock_guard<std::mutex> lk(mu);
  BANGER_ASSIGN_OR_RETURN(Plan p, Measure(ops, name, ip_s, prefix_s));
  std::string ctx = "setting up bridge " + name;
  if (!p.link) {
    BANGER_RETURN_IF_ERROR(Annotate(ops.CreateBridge(name), ctx));
    p.link = LinkInfo{name, "bridge", "", false, {}};
  }
  std::string addr = FormatIpv4(p.ip) + "/" + std::to_string(p.prefix);
  const auto& have = p.link->ipv4;
  if (std::find(have.begin(), have.end(), addr) == have.end()) {
    BANGER_RETURN_IF_ERROR(Annotate(ops.AddAddress(name, addr), ctx));
  }
  // Pinned before anything else happens on the bridge: see BridgeMacForIp.
  std::string mac = BridgeMacForIp(p.ip);
  if (p.link->mac != mac)
    BANGER_RETURN_IF_ERROR(Annotate(ops.SetMac(name, mac), ctx + ": pinning its MAC address"));
  if (!p.link->up) BANGER_RETURN_IF_ERROR(Annotate(ops.SetUp(name), ctx));
  return OkStatus();
}

}  // namespace banger
