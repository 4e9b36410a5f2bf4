// The fixup's network step (fixup.h): the interface's MAC by ioctl, its IPv4
// addresses and default route by rtnetlink, and a gratuitous ARP on a packet
// socket. No tools are spawned (the image may have none).
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "fixup.h"

namespace banger::agent {
namespace {

bool Fail(const std::string& what) {
  fprintf(stderr, "banger-agent fixup: network: %s\n", what.c_str());
  return false;
}
std::string Errno(const std::string& call) { return call + ": " + strerror(errno); }

// One rtnetlink request under construction: header, fixed part, attributes.
class NlRequest {
 public:
  NlRequest(uint16_t type, uint16_t flags, const void* body, size_t body_len) {
    buf_.resize(NLMSG_SPACE(body_len));
    nlmsghdr h{};
    h.nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(body_len));
    h.nlmsg_type = type;
    h.nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
    memcpy(buf_.data(), &h, sizeof(h));
    memcpy(buf_.data() + NLMSG_HDRLEN, body, body_len);
  }
  void Attr(uint16_t type, const void* data, size_t len) {
    size_t at = NLMSG_ALIGN(Len());
    buf_.resize(at + RTA_SPACE(len));
    rtattr a{};
    a.rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
    a.rta_type = type;
    memcpy(buf_.data() + at, &a, sizeof(a));
    memcpy(buf_.data() + at + RTA_LENGTH(0), data, len);
    SetLen(static_cast<uint32_t>(at + RTA_LENGTH(len)));
  }
  void Attr32(uint16_t type, uint32_t v) { Attr(type, &v, sizeof(v)); }
  void SetSeq(uint32_t seq) { memcpy(buf_.data() + offsetof(nlmsghdr, nlmsg_seq), &seq, sizeof(seq)); }
  const char* data() const { return buf_.data(); }
  uint32_t Len() const {
    uint32_t len = 0;
    memcpy(&len, buf_.data(), sizeof(len));
    return len;
  }

 private:
  void SetLen(uint32_t len) { memcpy(buf_.data(), &len, sizeof(len)); }
  std::vector<char> buf_;
};

class Netlink {
 public:
  bool Open() {
    fd_.Reset(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!fd_.valid()) return Fail(Errno("netlink socket"));
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    if (bind(fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
      return Fail(Errno("netlink bind"));
    timeval tv{.tv_sec = 2, .tv_usec = 0};  // the kernel answers at once; never wait forever
    setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return true;
  }

  // Sends `req` and calls on_msg for each answer until the ack or the dump's
  // end. Returns 0, or the kernel's errno for the request (-1: our own error,
  // already printed).
  template <typename F>
  int Talk(NlRequest& req, F on_msg) {
    uint32_t seq = ++seq_;
    req.SetSeq(seq);
    if (send(fd_.get(), req.data(), req.Len(), 0) < 0) {
      Fail(Errno("netlink send"));
      return -1;
    }
    std::vector<char> buf(32 * 1024);
    for (;;) {
      ssize_t n = recv(fd_.get(), buf.data(), buf.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        Fail(Errno("netlink recv"));
        return -1;
      }
      // Walked by hand: NLMSG_OK compares signed with unsigned.
      auto len = static_cast<size_t>(n);
      for (size_t off = 0; off + sizeof(nlmsghdr) <= len;) {
        auto* h = reinterpret_cast<nlmsghdr*>(buf.data() + off);
        if (h->nlmsg_len < sizeof(nlmsghdr) || h->nlmsg_len > len - off) break;
        off += NLMSG_ALIGN(h->nlmsg_len);
        if (h->nlmsg_seq != seq) continue;
        if (h->nlmsg_type == NLMSG_DONE) return 0;
        if (h->nlmsg_type == NLMSG_ERROR) {
          auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(h));
          return -e->error;  // 0 is the ack
        }
        on_msg(h);
      }
    }
  }
  int Talk(NlRequest& req) {
    return Talk(req, [](nlmsghdr*) {});
  }

 private:
  UniqueFd fd_;
  uint32_t seq_ = 0;
};

struct Addr {
  uint32_t ip = 0;  // host order
  int prefix = 0;
};

// The interface's IPv4 addresses.
bool ListAddrs(Netlink& nl, int ifindex, std::vector<Addr>* out) {
  ifaddrmsg body{};
  body.ifa_family = AF_INET;
  NlRequest req(RTM_GETADDR, NLM_F_DUMP, &body, sizeof(body));
  int rc = nl.Talk(req, [&](nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWADDR) return;
    auto* ifa = static_cast<ifaddrmsg*>(NLMSG_DATA(h));
    if (ifa->ifa_family != AF_INET || static_cast<int>(ifa->ifa_index) != ifindex) return;
    int alen = static_cast<int>(IFA_PAYLOAD(h));
    for (auto* a = IFA_RTA(ifa); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
      if (a->rta_type == IFA_LOCAL && RTA_PAYLOAD(a) == 4) {
        uint32_t ip = 0;
        memcpy(&ip, RTA_DATA(a), 4);
        out->push_back({ntohl(ip), ifa->ifa_prefixlen});
      }
    }
  });
  if (rc > 0) return Fail("listing addresses: " + std::string(strerror(rc)));
  return rc == 0;
}

int AddrRequest(Netlink& nl, uint16_t type, uint16_t flags, int ifindex, const Addr& a) {
  ifaddrmsg body{};
  body.ifa_family = AF_INET;
  body.ifa_prefixlen = static_cast<uint8_t>(a.prefix);
  body.ifa_index = static_cast<uint32_t>(ifindex);
  NlRequest req(type, static_cast<uint16_t>(NLM_F_ACK | flags), &body, sizeof(body));
  req.Attr32(IFA_LOCAL, htonl(a.ip));
  req.Attr32(IFA_ADDRESS, htonl(a.ip));
  if (a.prefix < 31) {
    uint32_t mask = ~(~uint32_t{0} >> a.prefix);
    req.Attr32(IFA_BROADCAST, htonl(a.ip | ~mask));
  }
  return nl.Talk(req);
}

bool SetDefaultRoute(Netlink& nl, int ifindex, uint32_t gw) {
  rtmsg body{};
  body.rtm_family = AF_INET;
  body.rtm_table = RT_TABLE_MAIN;
  body.rtm_protocol = RTPROT_BOOT;
  body.rtm_scope = RT_SCOPE_UNIVERSE;
  body.rtm_type = RTN_UNICAST;
  NlRequest req(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, &body, sizeof(body));
  req.Attr32(RTA_GATEWAY, htonl(gw));
  req.Attr32(RTA_OIF, static_cast<uint32_t>(ifindex));
  int rc = nl.Talk(req);
  if (rc > 0) return Fail("default route via " + FormatIpv4(gw) + ": " + strerror(rc));
  return rc == 0;
}

bool IfFlags(int sock, const std::string& iface, short set, short clear) {
  ifreq ifr{};
  memcpy(ifr.ifr_name, iface.c_str(), iface.size());
  if (ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) return Fail(Errno("SIOCGIFFLAGS " + iface));
  short want = static_cast<short>((ifr.ifr_flags | set) & ~clear);
  if (want == ifr.ifr_flags) return true;
  ifr.ifr_flags = want;
  if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) return Fail(Errno("SIOCSIFFLAGS " + iface));
  return true;
}

// Sets the MAC when it differs: down, set, up (virtio-net may refuse a live
// change). Going down drops the interface's routes; the caller re-adds them.
bool SetMac(int sock, const FixupNic& nic, bool* changed) {
  ifreq ifr{};
  memcpy(ifr.ifr_name, nic.iface.c_str(), nic.iface.size());
  if (ioctl(sock, SIOCGIFHWADDR, &ifr) != 0) return Fail(Errno("SIOCGIFHWADDR " + nic.iface));
  if (memcmp(ifr.ifr_hwaddr.sa_data, nic.mac.data(), 6) == 0) return true;
  if (!IfFlags(sock, nic.iface, 0, IFF_UP)) return false;
  ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  memcpy(ifr.ifr_hwaddr.sa_data, nic.mac.data(), 6);
  if (ioctl(sock, SIOCSIFHWADDR, &ifr) != 0) {
    int e = errno;
    IfFlags(sock, nic.iface, IFF_UP, 0);  // leave it as it was: up
    errno = e;
    return Fail(Errno("SIOCSIFHWADDR " + nic.iface + " " + FormatMac(nic.mac)));
  }
  *changed = true;
  return true;
}

// A gratuitous ARP request (sender = target = our address) to the broadcast
// address, so neighbours drop what they cached for this address.
bool AnnounceArp(int ifindex, const FixupNic& nic) {
  UniqueFd fd(socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP)));
  if (!fd.valid()) return Fail(Errno("packet socket"));
  struct __attribute__((packed)) {
    arphdr h;
    uint8_t sha[6];
    uint32_t spa;
    uint8_t tha[6];
    uint32_t tpa;
  } pkt{};
  pkt.h.ar_hrd = htons(ARPHRD_ETHER);
  pkt.h.ar_pro = htons(ETH_P_IP);
  pkt.h.ar_hln = 6;
  pkt.h.ar_pln = 4;
  pkt.h.ar_op = htons(ARPOP_REQUEST);
  memcpy(pkt.sha, nic.mac.data(), 6);
  pkt.spa = pkt.tpa = htonl(nic.ip);
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons(ETH_P_ARP);
  to.sll_ifindex = ifindex;
  to.sll_halen = 6;
  memset(to.sll_addr, 0xff, 6);
  if (sendto(fd.get(), &pkt, sizeof(pkt), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) < 0) {
    return Fail(Errno("gratuitous ARP"));
  }
  return true;
}

}  // namespace

bool FixupNetwork(const FixupNic& nic, std::string* changed) {
  int ifindex = static_cast<int>(if_nametoindex(nic.iface.c_str()));
  if (ifindex == 0) return Fail(Errno("interface " + nic.iface));
  UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return Fail(Errno("socket"));
  bool mac_changed = false;
  if (!SetMac(sock.get(), nic, &mac_changed)) return false;
  *changed = mac_changed ? "mac " + FormatMac(nic.mac) : "mac unchanged";
  if (!IfFlags(sock.get(), nic.iface, IFF_UP, 0)) return false;

  Netlink nl;
  if (!nl.Open()) return false;
  std::vector<Addr> addrs;
  if (!ListAddrs(nl, ifindex, &addrs)) return false;
  bool have = false;
  for (const Addr& a : addrs) {
    if (a.ip == nic.ip && a.prefix == nic.prefix) {
      have = true;
      continue;
    }
    int rc = AddrRequest(nl, RTM_DELADDR, 0, ifindex, a);
    if (rc > 0 && rc != EADDRNOTAVAIL) {
      return Fail("removing " + FormatIpv4(a.ip) + "/" + std::to_string(a.prefix) + ": " + strerror(rc));
    }
    if (rc < 0) return false;
    *changed += ", removed " + FormatIpv4(a.ip) + "/" + std::to_string(a.prefix);
  }
  std::string cidr = FormatIpv4(nic.ip) + "/" + std::to_string(nic.prefix);
  if (!have) {
    int rc = AddrRequest(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, ifindex, {nic.ip, nic.prefix});
    if (rc > 0) return Fail("adding " + cidr + ": " + strerror(rc));
    if (rc < 0) return false;
    *changed += ", added " + cidr;
  } else {
    *changed += ", " + cidr + " unchanged";
  }
  if (nic.gateway) {
    if (!SetDefaultRoute(nl, ifindex, *nic.gateway)) return false;
    *changed += ", default via " + FormatIpv4(*nic.gateway);
  }
  if (!AnnounceArp(ifindex, nic)) return false;
  *changed += ", ARP announced";
  return true;
}

}  // namespace banger::agent
