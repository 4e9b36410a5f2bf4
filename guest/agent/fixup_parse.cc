// `banger-agent fixup`'s arguments: parsing and validation only (no I/O), so
// the tests run it on the host. Everything is checked before any step runs.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>

#include "fixup.h"

namespace banger::agent {
namespace {

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool IsAlnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A decimal number in [lo, hi], nothing else.
std::optional<int64_t> ParseInt(std::string_view s, int64_t lo, int64_t hi) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;  // 19 digits fit in 64 unsigned bits
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v < static_cast<uint64_t>(lo) || v > static_cast<uint64_t>(hi)) return std::nullopt;
  return static_cast<int64_t>(v);
}

std::optional<std::pair<uint32_t, int>> ParseCidr(std::string_view s) {
  size_t slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto ip = ParseIpv4(s.substr(0, slash));
  auto prefix = ParseInt(s.substr(slash + 1), 1, 32);
  if (!ip || !prefix) return std::nullopt;
  return std::pair{*ip, static_cast<int>(*prefix)};
}

// Nanoseconds since the epoch: after 2001 (19 digits) and before 2262 (int64).
constexpr int64_t kMinFixupTime = 1'000'000'000'000'000'000;

}  // namespace

bool ValidFixupTime(int64_t ns) { return ns >= kMinFixupTime; }

std::string CheckHostname(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name.size() > 64) return "is longer than 64 characters";
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    std::string_view label = name.substr(start, dot - start);
    if (label.empty()) return "has an empty label";
    if (label.size() > 63) return "has a label longer than 63 characters";
    if (label.front() == '-' || label.back() == '-') return "has a label starting or ending with '-'";
    for (char c : label) {
      if (!IsAlnum(c) && c != '-') return "may hold only letters, digits, '-' and '.'";
    }
    start = dot + 1;
  }
  return "";
}

std::string CheckVmId(std::string_view id) {
  if (id.empty() || id.size() > 64) return "must be 1-64 lowercase hex digits";
  for (char c : id) {
    if (!IsLowerHex(c)) return "must be 1-64 lowercase hex digits";
  }
  return "";
}

std::optional<std::array<uint8_t, 6>> ParseMac(std::string_view s) {
  if (s.size() != 17) return std::nullopt;
  std::array<uint8_t, 6> mac{};
  for (size_t i = 0; i < 6; ++i) {
    int hi = HexValue(s[i * 3]), lo = HexValue(s[i * 3 + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    if (i < 5 && s[i * 3 + 2] != ':') return std::nullopt;
    mac[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  if ((mac[0] & 1) != 0) return std::nullopt;  // multicast/broadcast
  bool zero = true;
  for (uint8_t b : mac) zero = zero && b == 0;
  if (zero) return std::nullopt;
  return mac;
}

std::optional<uint32_t> ParseIpv4(std::string_view s) {
  uint32_t ip = 0;
  for (int part = 0; part < 4; ++part) {
    size_t end = part < 3 ? s.find('.') : s.size();
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view num = s.substr(0, end);
    if (num.size() > 1 && num.front() == '0') return std::nullopt;  // no octal-looking parts
    auto v = ParseInt(num, 0, 255);
    if (!v) return std::nullopt;
    ip = ip << 8 | static_cast<uint32_t>(*v);
    s = part < 3 ? s.substr(end + 1) : std::string_view{};
  }
  return ip;
}

std::string FormatIpv4(uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 255) + "." +
         std::to_string((ip >> 8) & 255) + "." + std::to_string(ip & 255);
}

std::string FormatMac(const std::array<uint8_t, 6>& mac) {
  char buf[18];
  snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  return buf;
}

std::string HostsWithName(const std::string& old, const std::string& name) {
  std::string out;
  std::istringstream in(old);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("127.0.1.1", 0) == 0 && line.size() > 9 && (line[9] == ' ' || line[9] == '\t')) continue;
    out += line + "\n";
  }
  return out + "127.0.1.1\t" + name + "\n";
}

std::optional<FixupArgs> ParseFixupArgs(int argc, const char* const* argv, std::string* err) {
  FixupArgs a;
  bool have_time = false;
  std::optional<std::string> mac, ip, gw, dns, iface;
  auto fail = [&](const std::string& msg) -> std::optional<FixupArgs> {
    *err = msg;
    return std::nullopt;
  };
  for (int i = 0; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) return fail(flag + " needs a value");
    std::string value = argv[++i];
    if (flag == "--hostname") {
      if (auto why = CheckHostname(value); !why.empty()) return fail("--hostname \"" + value + "\" " + why);
      a.hostname = value;
    } else if (flag == "--vm-id") {
      if (auto why = CheckVmId(value); !why.empty()) return fail("--vm-id \"" + value + "\" " + why);
      a.vm_id = value;
    } else if (flag == "--time") {
      if (value == "stdin") {
        a.time_from_stdin = true;
      } else {
        auto t = ParseInt(value, kMinFixupTime, INT64_MAX);
        if (!t) return fail("--time \"" + value + "\" must be nanoseconds since 1970 (19 digits) or stdin");
        a.time_ns = *t;
      }
      have_time = true;
    } else if (flag == "--entropy-stdin") {
      auto n = ParseInt(value, kMinFixupEntropy, kMaxFixupEntropy);
      if (!n) {
        return fail("--entropy-stdin \"" + value + "\" must be " + std::to_string(kMinFixupEntropy) + "-" +
                    std::to_string(kMaxFixupEntropy) + " bytes");
      }
      a.entropy_bytes = static_cast<size_t>(*n);
    } else if (flag == "--mac") {
      mac = value;
    } else if (flag == "--ip") {
      ip = value;
    } else if (flag == "--gateway") {
      gw = value;
    } else if (flag == "--dns") {
      dns = value;
    } else if (flag == "--iface") {
      iface = value;
    } else {
      return fail("unknown flag " + flag);
    }
  }
  if (a.hostname.empty()) return fail("--hostname is required");
  if (a.vm_id.empty()) return fail("--vm-id is required");
  if (!have_time) return fail("--time is required");
  if (!ip && !mac && !gw && !dns && !iface) return a;
  if (!ip || !mac) return fail("--mac and --ip go together (and --gateway, --dns, --iface need them)");
  FixupNic nic;
  auto parsed_mac = ParseMac(*mac);
  if (!parsed_mac) return fail("--mac \"" + *mac + "\" must be a unicast MAC such as 02:00:ac:10:00:05");
  nic.mac = *parsed_mac;
  auto cidr = ParseCidr(*ip);
  if (!cidr) return fail("--ip \"" + *ip + "\" must be A.B.C.D/NN with NN 1-32");
  std::tie(nic.ip, nic.prefix) = *cidr;
  if (gw) {
    nic.gateway = ParseIpv4(*gw);
    if (!nic.gateway) return fail("--gateway \"" + *gw + "\" must be A.B.C.D");
    uint32_t mask = nic.prefix == 32 ? ~uint32_t{0} : ~(~uint32_t{0} >> nic.prefix);
    if ((*nic.gateway & mask) != (nic.ip & mask) || *nic.gateway == nic.ip) {
      return fail("--gateway " + *gw + " is not another address in " + *ip);
    }
  }
  if (dns) {
    nic.dns = ParseIpv4(*dns);
    if (!nic.dns) return fail("--dns \"" + *dns + "\" must be A.B.C.D");
  }
  if (iface) {
    if (iface->empty() || iface->size() > 15 || iface->find('/') != std::string::npos ||
        iface->find_first_of(" \t\n:") != std::string::npos || *iface == "." || *iface == "..") {
      return fail("--iface \"" + *iface + "\" is not an interface name");
    }
    nic.iface = *iface;
  }
  a.nic = nic;
  return a;
}

}  // namespace banger::agent
