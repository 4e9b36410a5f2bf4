#include "model/port.h"

#include <arpa/inet.h>

#include <cstdint>

#include "base/strings.h"

namespace banger {
namespace {

Result<int> ParsePort(const std::string& s, const char* which, const std::string& spec) {
  bool digits = !s.empty() && s.size() <= 5;
  for (char c : s) digits = digits && c >= '0' && c <= '9';
  int port = digits ? std::stoi(s) : 0;
  if (port < 1 || port > 65535) {
    return Error::Invalid(std::string("port ") + spec + ": " + which +
                          " must be a number from 1 to 65535, got \"" + s + "\"");
  }
  return port;
}

}  // namespace

std::string PortMapping::Spec() const {
  return host_ip + ":" + std::to_string(host_port) + ":" + std::to_string(guest_port) + "/" + protocol;
}

Result<PortMapping> ParsePortMapping(const std::string& spec) {
  const std::string usage = "port \"" + spec + "\": expected [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|udp]";
  PortMapping m;
  std::string rest = spec;
  if (size_t slash = rest.rfind('/'); slash != std::string::npos) {
    m.protocol = rest.substr(slash + 1);
    rest.resize(slash);
    if (m.protocol != "tcp" && m.protocol != "udp") return Error::Invalid(usage);
  }
  std::vector<std::string> parts = Split(rest, ':');
  if (parts.size() == 3) {
    in_addr addr{};
    if (inet_pton(AF_INET, parts[0].c_str(), &addr) != 1) {
      return Error::Invalid("port \"" + spec + "\": host address \"" + parts[0] +
                            "\" is not an IPv4 literal");
    }
    char buf[INET_ADDRSTRLEN];
    m.host_ip = inet_ntop(AF_INET, &addr, buf, sizeof buf);
    parts.erase(parts.begin());
  }
  if (parts.size() != 2) return Error::Invalid(usage);
  BANGER_ASSIGN_OR_RETURN(m.host_port, ParsePort(parts[0], "HOST_PORT", "\"" + spec + "\""));
  BANGER_ASSIGN_OR_RETURN(m.guest_port, ParsePort(parts[1], "GUEST_PORT", "\"" + spec + "\""));
  return m;
}

}  // namespace banger
