// Host networking against the real kernel: iproute2, nft and UDP sockets.
//
// SAFETY: main() moves this process into a network namespace of its own
// (unshare(CLONE_NEWNET)) before any test runs, and checks that it did; if
// that is impossible every test is skipped. Links, addresses, routes, nft
// rules and packets therefore exist only in that namespace, which the kernel
// destroys when the process exits. gtest_discover_tests runs each test in a
// process of its own, so each test also gets a fresh namespace.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "base/process.h"
#include "base/unique_fd.h"
#include "net/address.h"
#include "net/bridge.h"
#include "net/dns_message.h"
#include "net/dns_responder.h"
#include "net/nat.h"
#include "net/net_ops.h"
#include "net/tap_pool.h"

namespace banger {
namespace {

bool g_in_private_netns = false;
std::string g_netns_error;

std::string g_host_netns;  // the namespace we started in: never to be used

std::string ReadNetnsId() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/ns/net", ec);
  return ec ? "" : p.string();
}

// Moves this process into a new, empty network namespace (lo up) and checks
// it is not the host's. Returns "" or why it could not.
std::string EnterFreshNetns() {
  std::string before = ReadNetnsId();
  if (::unshare(CLONE_NEWNET) != 0) {
    return std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno) + " (needs root or CAP_SYS_ADMIN)";
  }
  std::string after = ReadNetnsId();
  if (after.empty() || after == before || after == g_host_netns) {
    std::fprintf(stderr, "net_integration_test: namespace switch not confirmed (%s -> %s); aborting\n",
                 before.c_str(), after.c_str());
    std::abort();
  }
  auto lo = RunChecked({"ip", "link", "set", "lo", "up"});
  if (!lo.ok()) return "bringing lo up: " + lo.error().message();
  return "";
}

// Every test starts in a namespace of its own, even when the whole binary
// runs as one process (each test then sees no links left by another).
class NetIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!g_in_private_netns) GTEST_SKIP() << "no private network namespace: " << g_netns_error;
    std::string err = EnterFreshNetns();
    if (!err.empty()) GTEST_SKIP() << "no private network namespace: " << err;
  }
};

constexpr const char* kBridge = "br-fc";
constexpr const char* kBridgeIp = "172.16.0.1";

std::string Ip(std::vector<std::string> args) {
  args.insert(args.begin(), "ip");
  auto r = RunChecked(args);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? r->out : "";
}

std::vector<std::string> PoolTaps() {
  auto links = RealNetOps().ListLinks("bgtap");
  EXPECT_TRUE(links.ok());
  std::vector<std::string> out;
  if (links.ok()) {
    for (const auto& l : *links) out.push_back(l.name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------- bridge ----------------

TEST_F(NetIntegration, BridgeCreatedIdempotently) {
  NetOps& ops = RealNetOps();
  for (int i = 0; i < 2; ++i) {
    Status st = Bridge::Ensure(ops, kBridge, kBridgeIp, "24");
    ASSERT_TRUE(st.ok()) << "round " << i << ": " << st.error().message();
  }
  auto l = ops.GetLink(kBridge);
  ASSERT_TRUE(l.ok() && l->has_value());
  EXPECT_EQ((*l)->kind, "bridge");
  EXPECT_TRUE((*l)->up);
  EXPECT_EQ((*l)->ipv4, std::vector<std::string>{"172.16.0.1/24"});
  auto routes = ops.ListRoutes();
  ASSERT_TRUE(routes.ok());
  bool found = false;
  for (const auto& r : *routes) found |= r.dst == "172.16.0.0/24" && r.dev == kBridge;
  EXPECT_TRUE(found);
  EXPECT_FALSE(ops.GetLink("nope0")->has_value());
}

TEST_F(NetIntegration, NonBridgeNameRefused) {
  Ip({"link", "add", kBridge, "type", "veth", "peer", "name", "peer0"});
  Status st = Bridge::Ensure(RealNetOps(), kBridge, kBridgeIp, "24");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kConflict);
  EXPECT_NE(st.error().message().find("bridge name br-fc is taken by a veth link"), std::string::npos)
      << st.error().message();
  EXPECT_EQ((*RealNetOps().GetLink(kBridge))->kind, "veth");
  EXPECT_TRUE((*RealNetOps().GetLink(kBridge))->ipv4.empty());  // untouched
}

TEST_F(NetIntegration, CollidingRouteRefused) {
  Ip({"tuntap", "add", "dev", "uplink0", "mode", "tap"});
  Ip({"addr", "add", "172.16.9.1/16", "dev", "uplink0"});
  Ip({"link", "set", "uplink0", "up"});
  Status st = Bridge::Ensure(RealNetOps(), kBridge, kBridgeIp, "24");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kConflict);
  EXPECT_NE(st.error().message().find("collides with the host route 172.16.0.0/16 on uplink0"),
            std::string::npos)
      << st.error().message();
  EXPECT_FALSE(RealNetOps().GetLink(kBridge)->has_value());
  // A route without a device (blackhole) collides too.
  Ip({"route", "add", "blackhole", "172.31.0.0/20"});
  Status bh = Bridge::Ensure(RealNetOps(), kBridge, "172.31.0.1", "24");
  ASSERT_FALSE(bh.ok());
  EXPECT_NE(bh.error().message().find("172.31.0.0/20 (blackhole)"), std::string::npos)
      << bh.error().message();
  EXPECT_TRUE(Bridge::Ensure(RealNetOps(), kBridge, "172.30.0.1", "24").ok());
}

// Drops CAP_NET_ADMIN (effective, permitted, inheritable and bounding set,
// so exec'd tools lose it too) in a forked child and checks the error.
TEST_F(NetIntegration, MissingNetAdminIsNamed) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(p[0]);
    std::string msg;
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::prctl(PR_CAPBSET_DROP, CAP_NET_ADMIN, 0, 0, 0) != 0 || ::syscall(SYS_capget, &hdr, data) != 0) {
      msg = "setup failed";
    } else {
      data[0].effective &= ~(1u << CAP_NET_ADMIN);
      data[0].permitted &= ~(1u << CAP_NET_ADMIN);
      data[0].inheritable &= ~(1u << CAP_NET_ADMIN);
      if (::syscall(SYS_capset, &hdr, data) != 0) {
        msg = "setup failed";
      } else {
        Status st = Bridge::Ensure(RealNetOps(), kBridge, kBridgeIp, "24");
        msg = std::string(HaveNetAdmin() ? "cap\n" : "nocap\n") + (st.ok() ? "ok" : st.error().message());
      }
    }
    ssize_t n = ::write(p[1], msg.data(), msg.size());
    (void)n;
    _exit(0);
  }
  ::close(p[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) out.append(buf, n);
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_NE(out, "setup failed");
  EXPECT_EQ(out.rfind("nocap\n", 0), 0u) << out;
  EXPECT_NE(out.find("CAP_NET_ADMIN"), std::string::npos) << out;
  EXPECT_NE(out.find("setting up bridge br-fc"), std::string::npos) << out;
  EXPECT_TRUE(HaveNetAdmin());  // the parent kept it
}

// ---------------- tap pool ----------------

// The kernel gives an unpinned bridge its lowest port address; taps come and
// go with VMs, so without the pin the gateway's MAC would move under the
// guests' ARP caches (and the host's neighbour table would be flushed).
TEST_F(NetIntegration, BridgeMacStaysPinnedWhileTapsComeAndGo) {
  NetOps& ops = RealNetOps();
  ASSERT_TRUE(Bridge::Ensure(ops, kBridge, kBridgeIp, "24").ok());
  auto mac = [&] {
    auto l = ops.GetLink(kBridge);
    return l.ok() && l->has_value() ? (*l)->mac : std::string("?");
  };
  EXPECT_EQ(mac(), "0a:00:ac:10:00:01");
  TapPool pool(ops, kBridge, 0);
  std::vector<std::string> taps;
  for (int i = 0; i < 6; ++i) {
    auto t = pool.Acquire();
    ASSERT_TRUE(t.ok()) << t.error().message();
    taps.push_back(*t);
    EXPECT_EQ(mac(), "0a:00:ac:10:00:01") << "after adding " << *t;
  }
  for (const auto& t : taps) {
    ASSERT_TRUE(pool.Release(t).ok());
    EXPECT_EQ(mac(), "0a:00:ac:10:00:01") << "after removing " << t;
  }
  // A bridge made without the pin (an older banger) gets it back.
  Ip({"link", "set", "dev", kBridge, "address", "02:11:22:33:44:55"});
  ASSERT_TRUE(Bridge::Ensure(ops, kBridge, kBridgeIp, "24").ok());
  EXPECT_EQ(mac(), "0a:00:ac:10:00:01");
}

TEST_F(NetIntegration, TapPoolCreateAcquireReleaseReconcile) {
  NetOps& ops = RealNetOps();
  ASSERT_TRUE(Bridge::Ensure(ops, kBridge, kBridgeIp, "24").ok());
  {
    TapPool pool(ops, kBridge, 2);
    Status st = pool.Fill();
    ASSERT_TRUE(st.ok()) << st.error().message();
    EXPECT_EQ(PoolTaps(), (std::vector<std::string>{"bgtap0", "bgtap1"}));
    for (const auto& n : PoolTaps()) {
      auto l = ops.GetLink(n);
      ASSERT_TRUE(l.ok() && l->has_value());
      EXPECT_EQ((*l)->kind, "tap");
      EXPECT_EQ((*l)->master, kBridge);
      EXPECT_TRUE((*l)->up);
    }
    auto a = pool.Acquire(), b = pool.Acquire(), c = pool.Acquire();
    ASSERT_TRUE(a.ok() && b.ok() && c.ok()) << (c.ok() ? "" : c.error().message());
    EXPECT_EQ(PoolTaps(), (std::vector<std::string>{"bgtap0", "bgtap1", "bgtap2"}));
    ASSERT_TRUE(pool.Release(*a).ok());
    ASSERT_TRUE(pool.Release(*b).ok());
    ASSERT_TRUE(pool.Release(*c).ok());
    EXPECT_EQ(PoolTaps().size(), 2u);  // back to the pool size
    // Hold one across the "daemon restart" below.
    auto held = pool.Acquire();
    ASSERT_TRUE(held.ok());
    EXPECT_EQ(*held, "bgtap0");
  }
  // Leftovers a dead daemon might leave: an extra tap and a detached one.
  Ip({"tuntap", "add", "dev", "bgtap7", "mode", "tap"});
  Ip({"tuntap", "add", "dev", "bgtap9", "mode", "tap"});
  Ip({"link", "set", "bgtap1", "nomaster"});
  TapPool pool(ops, kBridge, 1);
  Status st = pool.Reconcile({"bgtap0"});
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(pool.InUse(), std::set<std::string>{"bgtap0"});
  ASSERT_EQ(pool.FreeTaps().size(), 1u);
  EXPECT_EQ(PoolTaps().size(), 2u);  // the one in use + one free
  auto free_link = ops.GetLink(pool.FreeTaps()[0]);
  EXPECT_EQ((*free_link)->master, kBridge);
  ASSERT_TRUE(pool.Release("bgtap0").ok());  // the VM stopped: pool full, so deleted
  EXPECT_EQ(PoolTaps().size(), 1u);
}

// Taps are made for the VMM user, so an unprivileged VMM can attach: the
// kernel reports the owner, a tap with another owner is made again at
// reconcile, and a process running as that user can really attach (TUNSETIFF).
TEST_F(NetIntegration, TapPoolTapsBelongToTheVmmUser) {
  NetOps& ops = RealNetOps();
  ASSERT_TRUE(Bridge::Ensure(ops, kBridge, kBridgeIp, "24").ok());
  const TapPool::Owner owner{"", 4242};                   // a uid without a name: iproute2 prints the number
  Ip({"tuntap", "add", "dev", "bgtap0", "mode", "tap"});  // a root-only leftover
  TapPool pool(ops, kBridge, 2, TapPool::kDefaultPrefix, owner);
  Status st = pool.Reconcile({});
  ASSERT_TRUE(st.ok()) << st.error().message();
  ASSERT_EQ(PoolTaps(), (std::vector<std::string>{"bgtap0", "bgtap1"}));
  for (const auto& n : PoolTaps()) {
    auto l = ops.GetLink(n);
    ASSERT_TRUE(l.ok() && l->has_value());
    EXPECT_EQ((*l)->tap_user, "4242") << n;
    EXPECT_EQ((*l)->master, kBridge);
  }
  // A child that drops to uid 4242 attaches to bgtap0 (it could not to a
  // root-only tap).
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(4242) != 0 || ::setuid(4242) != 0) ::_exit(2);
    int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) ::_exit(errno == EACCES ? 4 : 3);  // the device node itself is not open to all here
    struct ifreq ifr = {};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    std::snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", "bgtap0");
    ::_exit(::ioctl(fd, TUNSETIFF, &ifr) == 0 ? 0 : 5);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 4) GTEST_SKIP() << "/dev/net/tun is not open to unprivileged users on this host";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "uid 4242 could not attach to its tap";
}

// ---------------- NAT ----------------

bool NftUsable(std::string* why) {
  auto r = RunCommand({"nft", "list", "tables"});
  if (!r.ok()) {
    *why = r.error().message();
    return false;
  }
  if (r->exit_code != 0) {
    *why = r->err;
    return false;
  }
  return true;
}

TEST_F(NetIntegration, NatRulesPerVm) {
  std::string why;
  if (!NftUsable(&why)) GTEST_SKIP() << "nft is unusable here: " << why;
  NetOps& ops = RealNetOps();
  ASSERT_TRUE(Bridge::Ensure(ops, kBridge, kBridgeIp, "24").ok());
  ASSERT_TRUE(ops.SetIpForward(false).ok());
  Nat nat(ops);
  EXPECT_TRUE(nat.ListVmIds()->empty());

  Status st = nat.Enable("vm-one", "172.16.0.2", kBridge, "24");
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_TRUE(*ops.IpForwardEnabled());
  ASSERT_TRUE(nat.Enable("vm-two", "172.16.0.3", kBridge, "24").ok());
  ASSERT_TRUE(nat.Enable("vm-two", "172.16.0.3", kBridge, "24").ok());  // idempotent
  EXPECT_EQ(*nat.ListVmIds(), (std::set<std::string>{"vm-one", "vm-two"}));

  auto text = RunChecked({"nft", "list", "table", "ip", "banger"});
  ASSERT_TRUE(text.ok());
  const std::string& t = text->out;
  EXPECT_NE(t.find("ip saddr 172.16.0.2 ip daddr != 172.16.0.0/24 oifname != \"br-fc\" masquerade comment "
                   "\"banger-vm:vm-one\""),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("iifname \"br-fc\" ip saddr 172.16.0.3 accept comment \"banger-vm:vm-two\""),
            std::string::npos)
      << t;
  size_t count = 0;
  for (size_t pos = 0; (pos = t.find("banger-vm:vm-two", pos)) != std::string::npos; ++pos) ++count;
  EXPECT_EQ(count, 3u) << t;

  ASSERT_TRUE(nat.Disable("vm-one").ok());
  EXPECT_EQ(*nat.ListVmIds(), std::set<std::string>{"vm-two"});
  auto t2 = RunChecked({"nft", "list", "table", "ip", "banger"});
  ASSERT_TRUE(t2.ok());
  EXPECT_EQ(t2->out.find("vm-one"), std::string::npos);
  ASSERT_TRUE(nat.Disable("vm-two").ok());
  EXPECT_TRUE(nat.ListVmIds()->empty());
  auto gone = RunCommand({"nft", "list", "table", "ip", "banger"});
  ASSERT_TRUE(gone.ok());
  EXPECT_NE(gone->exit_code, 0);  // no table left
}

// ---------------- DNS ----------------

struct DnsReply {
  bool ok = false;
  DnsResponse r;
};

DnsReply Query(const std::string& server_ip, uint16_t port, const std::string& name, uint16_t qtype,
               uint16_t id = 0x4242, int timeout_ms = 3000) {
  DnsReply out;
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  auto msg = BuildDnsQuery(id, name, qtype);
  if (!fd.valid() || !msg.ok()) return out;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(*ParseIpv4(server_ip));
  if (::sendto(fd.get(), msg->data(), msg->size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
    return out;
  pollfd pfd{fd.get(), POLLIN, 0};
  if (::poll(&pfd, 1, timeout_ms) != 1) return out;
  uint8_t buf[1500];
  ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
  if (n <= 0) return out;
  auto r = ParseDnsResponse(buf, static_cast<size_t>(n));
  if (!r.ok()) return out;
  out.ok = true;
  out.r = *r;
  return out;
}

// A stand-in for the upstream resolver: answers every A query with
// 203.0.113.7 (a documentation address; only ever data here).
class FakeUpstream {
 public:
  FakeUpstream() {
    fd_.Reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeUpstream() {
    stop_ = true;
    thread_.join();
  }
  uint16_t port() const { return port_; }
  int queries() const { return queries_; }

 private:
  void Serve() {
    while (!stop_) {
      pollfd pfd{fd_.get(), POLLIN, 0};
      if (::poll(&pfd, 1, 100) != 1) continue;
      uint8_t buf[1500];
      sockaddr_in from{};
      socklen_t flen = sizeof from;
      ssize_t n = ::recvfrom(fd_.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
      if (n <= 0) continue;
      auto q = ParseDnsQuery(buf, static_cast<size_t>(n));
      if (!q.ok()) continue;
      ++queries_;
      DnsBytes a = BuildDnsAnswer(*q, buf, 0xcb007107, kDnsRcodeNoError, 60);
      ::sendto(fd_.get(), a.data(), a.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
    }
  }
  UniqueFd fd_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::thread thread_;
};

TEST_F(NetIntegration, DnsAnswersVmNamesAndForwardsTheRest) {
  FakeUpstream upstream;
  DnsResponder::Options o;
  o.listen_addr = "127.0.0.1";
  o.port = 0;
  o.upstream = "127.0.0.1:" + std::to_string(upstream.port());
  DnsResponder dns(o);
  ASSERT_TRUE(dns.SetRecord("t1.vm", "172.16.0.2").ok());
  Status st = dns.Start();
  ASSERT_TRUE(st.ok()) << st.error().message();
  ASSERT_NE(dns.port(), 0);

  auto a = Query("127.0.0.1", dns.port(), "t1.vm", kDnsTypeA, 0x1111);
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.r.id, 0x1111);
  EXPECT_EQ(a.r.rcode, kDnsRcodeNoError);
  EXPECT_TRUE(a.r.authoritative);
  EXPECT_EQ(a.r.a_records, std::vector<uint32_t>{0xac100002});

  auto upper = Query("127.0.0.1", dns.port(), "T1.VM", kDnsTypeA);
  ASSERT_TRUE(upper.ok);
  EXPECT_EQ(upper.r.a_records.size(), 1u);

  auto aaaa = Query("127.0.0.1", dns.port(), "t1.vm", kDnsTypeAAAA);
  ASSERT_TRUE(aaaa.ok);
  EXPECT_EQ(aaaa.r.rcode, kDnsRcodeNoError);
  EXPECT_TRUE(aaaa.r.a_records.empty());

  auto nx = Query("127.0.0.1", dns.port(), "nobody.vm", kDnsTypeA);
  ASSERT_TRUE(nx.ok);
  EXPECT_EQ(nx.r.rcode, kDnsRcodeNxDomain);
  EXPECT_EQ(upstream.queries(), 0);

  // Names are live: added and removed while running.
  ASSERT_TRUE(dns.SetRecord("t2", "172.16.0.3").ok());
  EXPECT_EQ(Query("127.0.0.1", dns.port(), "t2.vm", kDnsTypeA).r.a_records,
            std::vector<uint32_t>{0xac100003});
  dns.RemoveRecord("t1.vm");
  EXPECT_EQ(Query("127.0.0.1", dns.port(), "t1.vm", kDnsTypeA).r.rcode, kDnsRcodeNxDomain);

  auto fwd = Query("127.0.0.1", dns.port(), "example.org", kDnsTypeA, 0x2222);
  ASSERT_TRUE(fwd.ok);
  EXPECT_EQ(fwd.r.id, 0x2222);  // the client's id, not the one used upstream
  EXPECT_EQ(fwd.r.rcode, kDnsRcodeNoError);
  EXPECT_EQ(fwd.r.a_records, std::vector<uint32_t>{0xcb007107});
  EXPECT_EQ(upstream.queries(), 1);

  // Concurrent clients each get their own answer.
  std::vector<std::thread> ts;
  ts.reserve(8);
  std::atomic<int> good{0};
  for (int i = 0; i < 8; ++i) {
    ts.emplace_back([&, i] {
      uint16_t id = static_cast<uint16_t>(0x3000 + i);
      auto r = Query("127.0.0.1", dns.port(), "host" + std::to_string(i) + ".example.org", kDnsTypeA, id);
      if (r.ok && r.r.id == id && r.r.a_records.size() == 1) ++good;
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(good, 8);

  uint16_t port = dns.port();
  dns.Stop();
  EXPECT_FALSE(dns.running());
  EXPECT_FALSE(Query("127.0.0.1", port, "t2.vm", kDnsTypeA, 1, 300).ok);
}

TEST_F(NetIntegration, DnsBindsTheBridgeAddressBeforeTheBridgeExists) {
  DnsResponder::Options o;
  o.listen_addr = kBridgeIp;
  o.port = 5353;
  o.upstream = "";  // no forwarding: SERVFAIL
  DnsResponder dns(o);
  ASSERT_TRUE(dns.SetRecord("t1.vm", "172.16.0.2").ok());
  Status st = dns.Start();
  ASSERT_TRUE(st.ok()) << st.error().message();
  ASSERT_TRUE(Bridge::Ensure(RealNetOps(), kBridge, kBridgeIp, "24").ok());
  auto a = Query(kBridgeIp, 5353, "t1.vm", kDnsTypeA);
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.r.a_records, std::vector<uint32_t>{0xac100002});
  auto other = Query(kBridgeIp, 5353, "example.org", kDnsTypeA);
  ASSERT_TRUE(other.ok);
  EXPECT_EQ(other.r.rcode, kDnsRcodeServFail);

  // A second responder on the same address and port: a clear conflict.
  DnsResponder dup(o);
  Status st2 = dup.Start();
  ASSERT_FALSE(st2.ok());
  EXPECT_EQ(st2.error().kind(), ErrorKind::kConflict);
  EXPECT_NE(st2.error().message().find("172.16.0.1:5353"), std::string::npos) << st2.error().message();
}

}  // namespace
}  // namespace banger

int main(int argc, char** argv) {
  // Before anything else: leave the host's network namespace.
  banger::g_host_netns = banger::ReadNetnsId();
  if (banger::g_host_netns.empty()) {
    banger::g_netns_error = "cannot read /proc/self/ns/net";
  } else {
    banger::g_netns_error = banger::EnterFreshNetns();
    banger::g_in_private_netns = banger::g_netns_error.empty();
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
