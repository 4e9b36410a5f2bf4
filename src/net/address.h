// IPv4 values and the guest address plan: parsing and formatting, the
// bridge subnet, the next free guest address, and the stable MAC derived
// from a guest address. Pure functions and values, no I/O; thread-safe.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "base/result.h"

namespace banger {

// Dotted quad -> host-order integer. Rejects anything but four decimal octets.
Result<uint32_t> ParseIpv4(const std::string& s);
std::string FormatIpv4(uint32_t ip);

// "24", "/24" -> 24. Accepts 1..30 (a subnet must hold a bridge and a guest).
Result<int> ParsePrefix(const std::string& s);

struct Subnet {
  uint32_t network = 0;  // host order, host bits zero
  int prefix = 32;

  uint32_t Mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  uint32_t Broadcast() const { return network | ~Mask(); }
  bool Contains(uint32_t ip) const { return (ip & Mask()) == network; }
  bool Overlaps(const Subnet& o) const;
  std::string ToString() const;  // "172.16.0.0/24"
  std::string Netmask() const;   // "255.255.255.0"
};

// The subnet holding `ip` with `prefix` bits: ("172.16.0.1", 24) -> 172.16.0.0/24.
Subnet SubnetOf(uint32_t ip, int prefix);
// "10.0.0.0/8", "10.1.2.3" (= /32), "default" (= 0.0.0.0/0).
Result<Subnet> ParseSubnet(const std::string& s);

// Hands out guest addresses from the bridge subnet: never the network,
// broadcast or bridge address. The set of addresses in use is the caller's
// (the store's GuestIP column); this class keeps no state beyond the plan.
class IpAllocator {
 public:
  // bridge_ip "172.16.0.1", cidr "24" (the config's bridge_ip and cidr).
  static Result<IpAllocator> Create(const std::string& bridge_ip, const std::string& cidr);

  // The lowest free guest address. Exhaustion is kConflict naming the subnet.
  Result<std::string> Next(const std::set<std::string>& in_use) const;
  // Checks that `ip` may be a guest address here (inside the subnet, not
  // the network, broadcast or bridge address) and is not in `in_use`.
  Status Check(const std::string& ip, const std::set<std::string>& in_use) const;

  const Subnet& subnet() const { return subnet_; }
  uint32_t bridge_ip() const { return bridge_ip_; }
  std::string BridgeIp() const { return FormatIpv4(bridge_ip_); }
  // Number of guest addresses the subnet offers.
  uint32_t Capacity() const;

 private:
  IpAllocator(Subnet s, uint32_t bridge_ip) : subnet_(s), bridge_ip_(bridge_ip) {}
  Subnet subnet_;
  uint32_t bridge_ip_;
};

// Locally administered unicast MAC holding the address:
// "172.16.0.2" -> "06:00:ac:10:00:02". "" if `ip` is not an IPv4 address.
std::string MacForIp(const std::string& ip);
std::string MacForIp(uint32_t ip);
// The bridge's own address, pinned so that it does not follow its ports
// (the kernel otherwise takes the lowest port address, which changes as taps
// come and go and leaves guests' ARP entries for the gateway pointing
// nowhere): "172.16.0.1" -> "0a:00:ac:10:00:01", never a guest's MacForIp.
std::string BridgeMacForIp(uint32_t ip);

// The kernel's static "ip=" parameter (Documentation/admin-guide/nfs/nfsroot):
// "ip=172.16.0.2::172.16.0.1:255.255.255.0:HOST:eth0:off:172.16.0.1".
// `dns` may be "" (then omitted).
std::string KernelIpArg(const std::string& guest_ip, const std::string& gateway, int prefix,
                        const std::string& hostname, const std::string& dns);

}  // namespace banger
