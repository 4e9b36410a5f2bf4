#include "net/address.h"

#include <cstdio>

namespace banger {

Result<uint32_t> ParseIpv4(const std::string& s) {
  uint32_t out = 0;
  size_t i = 0;
  for (int octet = 0; octet < 4; ++octet) {
    if (octet > 0) {
      if (i >= s.size() || s[i] != '.') return Error::Invalid("not an IPv4 address: \"" + s + "\"");
      ++i;
    }
    size_t start = i;
    uint32_t v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 3) v = v * 10 + (s[i++] - '0');
    if (i == start || v > 255 || (i - start > 1 && s[start] == '0')) {
      return Error::Invalid("not an IPv4 address: \"" + s + "\"");
    }
    out = (out << 8) | v;
  }
  if (i != s.size()) return Error::Invalid("not an IPv4 address: \"" + s + "\"");
  return out;
}

std::string FormatIpv4(uint32_t ip) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
  return buf;
}

Result<int> ParsePrefix(const std::string& raw) {
  std::string s = !raw.empty() && raw[0] == '/' ? raw.substr(1) : raw;
  if (s.empty() || s.size() > 2 || s.find_first_not_of("0123456789") != std::string::npos) {
    return Error::Invalid("not a prefix length: \"" + raw + "\" (want e.g. 24)");
  }
  int p = std::stoi(s);
  if (p < 1 || p > 30) {
    return Error::Invalid("prefix length /" + s +
                          " out of range (1..30: the subnet must hold the bridge and a guest)");
  }
  return p;
}

bool Subnet::Overlaps(const Subnet& o) const {
  int p = prefix < o.prefix ? prefix : o.prefix;
  Subnet wider = SubnetOf(network, p);
  return wider.Contains(o.network);
}

std::string Subnet::ToString() const { return FormatIpv4(network) + "/" + std::to_string(prefix); }
std::string Subnet::Netmask() const { return FormatIpv4(Mask()); }

Subnet SubnetOf(uint32_t ip, int prefix) {
  Subnet s;
  s.prefix = prefix;
  s.network = ip & s.Mask();
  return s;
}

Result<Subnet> ParseSubnet(const std::string& s) {
  if (s == "default") return Subnet{0, 0};
  auto slash = s.find('/');
  BANGER_ASSIGN_OR_RETURN(uint32_t ip, ParseIpv4(s.substr(0, slash)));
  int prefix = 32;
  if (slash != std::string::npos) {
    std::string p = s.substr(slash + 1);
    if (p.empty() || p.size() > 2 || p.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(p) > 32) {
      return Error::Invalid("not a subnet: \"" + s + "\"");
    }
    prefix = std::stoi(p);
  }
  return SubnetOf(ip, prefix);
}

Result<IpAllocator> IpAllocator::Create(const std::string& bridge_ip, const std::string& cidr) {
  auto ip = ParseIpv4(bridge_ip);
  if (!ip.ok()) return ip.error().Wrap("bridge_ip");
  auto prefix = ParsePrefix(cidr);
  if (!prefix.ok()) return prefix.error().Wrap("cidr");
  Subnet s = SubnetOf(*ip, *prefix);
  if (*ip == s.network || *ip == s.Broadcast()) {
    return Error::Invalid("bridge_ip " + bridge_ip + " is the network or broadcast address of " +
                          s.ToString() + "; use a host address such as " + FormatIpv4(s.network + 1));
  }
  return IpAllocator(s, *ip);
}

uint32_t IpAllocator::Capacity() const {
  return subnet_.Broadcast() - subnet_.network - 2;  // host addresses minus the bridge's
}

Result<std::string> IpAllocator::Next(const std::set<std::string>& in_use) const {
  std::set<uint32_t> used;
  for (const auto& s : in_use) {
    auto ip = ParseIpv4(s);
    if (ip.ok()) used.insert(*ip);
  }
  for (uint32_t ip = subnet_.network + 1; ip < subnet_.Broadcast(); ++ip) {
    if (ip != bridge_ip_ && used.count(ip) == 0) return FormatIpv4(ip);
  }
  return Error::Conflict("no free guest address left in " + subnet_.ToString() + " (" +
                         std::to_string(Capacity()) +
                         " in use): delete a VM, or set a wider cidr in config.toml");
}

Status IpAllocator::Check(const std::string& ip_s, const std::set<std::string>& in_use) const {
  BANGER_ASSIGN_OR_RETURN(uint32_t ip, ParseIpv4(ip_s));
  if (!subnet_.Contains(ip)) {
    return Error::Invalid("guest address " + ip_s + " is outside the bridge subnet " + subnet_.ToString());
  }
  if (ip == subnet_.network || ip == subnet_.Broadcast() || ip == bridge_ip_) {
    return Error::Invalid("guest address " + ip_s + " is the network, broadcast or bridge address");
  }
  for (const auto& s : in_use) {
    auto u = ParseIpv4(s);
    if (u.ok() && *u == ip) return Error::Conflict("guest address " + ip_s + " is already in use");
  }
  return OkStatus();
}

std::string MacForIp(uint32_t ip) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "06:00:%02x:%02x:%02x:%02x", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff,
                ip & 0xff);
  return buf;
}

std::string BridgeMacForIp(uint32_t ip) {
  std::string m = MacForIp(ip);
  m[0] = '0';
  m[1] = 'a';
  return m;
}

std::string MacForIp(const std::string& ip) {
  auto v = ParseIpv4(ip);
  return v.ok() ? MacForIp(*v) : "";
}

std::string KernelIpArg(const std::string& guest_ip, const std::string& gateway, int prefix,
                        const std::string& hostname, const std::string& dns) {
  std::string mask = FormatIpv4(Subnet{0, prefix}.Mask());
  std::string s = "ip=" + guest_ip + "::" + gateway + ":" + mask + ":" + hostname + ":eth0:off";
  if (!dns.empty()) s += ":" + dns;
  return s;
}

}  // namespace banger
