// End to end with host networking on, entirely inside a network namespace
// this test creates (main() re-executes the binary under `unshare --net`):
// bridge, taps, guest IPs, the DNS responder, reaching a guest's SSH port.
// Nothing here touches the host's own network namespace.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include "e2e_util.h"

namespace banger::e2e {

constexpr int kPoolSize = 2;

inline std::string Config(const std::string& network) {
  return "backend = \"qemu\"\nqemu_accel = \"tcg\"\ndefault_image_name = \"t\"\nnetwork = \"" + network +
         "\"\ntap_pool_size = " + std::to_string(kPoolSize) +
         "\n[vm_defaults]\nvcpu_count = 1\nmemory_mib = 512\n";
}

namespace {

int CountTaps() {
  auto r = RunCommand({"ip", "-o", "link", "show"});
  if (!r.ok()) return -1;
  int n = 0;
  size_t pos = 0;
  while ((pos = r->out.find(": bgtap", pos)) != std::string::npos) {
    ++n;
    ++pos;
  }
  return n;
}

TEST(NetworkE2E, GuestsGetAddressesNamesAndReachEachOther) {
  const char* home = std::getenv("BANGER_E2E_NETNS_HOME");
  ASSERT_NE(home, nullptr) << "must run inside its own network namespace (see main)";
  BangerHome h(home);
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(Config("on")));
  ASSERT_EQ(h.Banger({"vm", "create", "--name", "n1"}).code, 0);
  ASSERT_EQ(h.Banger({"vm", "create", "--name", "n2"}).code, 0);
  Json v1 = h.BangerJson({"vm", "show", "n1"});
  Json v2 = h.BangerJson({"vm", "show", "n2"});
  std::string ip1 = v1["runtime"]["guest_ip"], ip2 = v2["runtime"]["guest_ip"];
  EXPECT_EQ(ip1, "172.16.0.2");
  EXPECT_EQ(ip2, "172.16.0.3");
  EXPECT_FALSE(v1["handles"]["tap_device"].get<std::string>().empty());

  // The guest's eth0 has its address, and it resolves the other VM by name.
  CliRun addr = h.Banger({"vm", "exec", "n1", "--", "ip", "-4", "addr", "show", "eth0"});
  EXPECT_NE(addr.out.find(ip1 + "/24"), std::string::npos) << addr.out << addr.err;
  CliRun look = h.Banger({"vm", "exec", "n1", "--", "nslookup", "n2.vm", "172.16.0.1"});
  EXPECT_NE(look.out.find(ip2), std::string::npos) << look.out << look.err;
  CliRun ping = h.Banger({"vm", "exec", "n1", "--", "ping", "-c", "1", "-W", "5", ip2});
  EXPECT_EQ(ping.code, 0) << ping.out << ping.err;
  // By name, through the guest's resolv.conf (the daemon's DNS responder on the bridge).
  CliRun by_name = h.Banger({"vm", "exec", "n1", "--", "ping", "-c", "1", "-W", "5", "n2.vm"});
  EXPECT_EQ(by_name.code, 0) << by_name.out << by_name.err;

  // The host (this namespace) reaches a guest's SSH server at its address.
  std::string banner;
  for (int i = 0; i < 60 && banner.rfind("SSH-", 0) != 0; ++i) {
    banner = TcpBanner(ip2, 22);
    if (banner.rfind("SSH-", 0) != 0) ::sleep(1);
  }
  EXPECT_EQ(banner.rfind("SSH-", 0), 0u) << banner;
  // `vm ssh` goes straight to that address when it answers.
  CliRun ssh = h.Banger({"vm", "ssh", "n2", "--", "uname", "-n"});
  EXPECT_EQ(ssh.code, 0) << ssh.err;
  EXPECT_EQ(ssh.out, "n2\n");

  // kill -9 of the daemon keeps the taps of running VMs.
  pid_t daemon = h.DaemonPid();
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] { return !RealProcessOps().Alive(daemon); }, std::chrono::seconds(5)));
  Json again = h.BangerJson({"vm", "show", "n1"});
  EXPECT_EQ(again["handles"]["tap_device"], v1["handles"]["tap_device"]);
  EXPECT_EQ(h.Banger({"vm", "exec", "n1", "--", "ping", "-c", "1", "-W", "5", ip2}).code, 0);

  // NAT: an "outside world" namespace behind a veth runs a TCP server. A VM
  // reaches it only while NAT is on for it (`vm set --nat` applies live).
  std::string outside = "bgout-" + std::to_string(::getpid());
  struct OutsideNs {
    std::string name;
    ~OutsideNs() { (void)RunCommand({"ip", "netns", "del", name}); }
  } outside_ns{outside};
  ASSERT_TRUE(RunChecked({"ip", "netns", "add", outside}).ok());
  ASSERT_TRUE(RunChecked({"ip", "link", "add", "bgveth0", "type", "veth", "peer", "name", "bgveth1"}).ok());
  ASSERT_TRUE(RunChecked({"ip", "link", "set", "bgveth1", "netns", outside}).ok());
  ASSERT_TRUE(RunChecked({"ip", "addr", "add", "198.51.100.1/24", "dev", "bgveth0"}).ok());
  ASSERT_TRUE(RunChecked({"ip", "link", "set", "bgveth0", "up"}).ok());
  ASSERT_TRUE(
      RunChecked({"ip", "netns", "exec", outside, "ip", "addr", "add", "198.51.100.2/24", "dev", "bgveth1"})
          .ok());
  ASSERT_TRUE(RunChecked({"ip", "netns", "exec", outside, "ip", "link", "set", "bgveth1", "up"}).ok());
  ASSERT_TRUE(RunChecked({"ip", "netns", "exec", outside, "ip", "link", "set", "lo", "up"}).ok());
  // A one-line answer for every connection, for the whole test.
  auto server = SpawnDetached({.argv = {"ip", "netns", "exec", outside, "busybox", "nc", "-ll", "-p", "8080",
                                        "-e", "/bin/echo", "outside-says-hi"}});
  ASSERT_TRUE(server.ok()) << server.error().message();
  struct Killer {
    pid_t pid;
    ~Killer() { RealProcessOps().Signal(pid, SIGKILL).ok(); }
  } kill_server{*server};
  // The server answers inside its own namespace before anything is judged
  // (otherwise "blocked" below would prove nothing).
  bool listening = WaitUntil(
      [&] {
        auto r =
            RunCommand({"ip", "netns", "exec", outside, "busybox", "nc", "-w", "2", "127.0.0.1", "8080"});
        return r.ok() && r->out.find("outside-says-hi") != std::string::npos;
      },
      std::chrono::seconds(10));
  ASSERT_TRUE(listening) << "the outside server never answered on its own loopback";
  auto reach = [&](const std::string& vm) {
    return h.Banger({"vm", "exec", vm, "--", "nc", "-w", "5", "198.51.100.2", "8080"});
  };
  auto diagnose = [&] {
    std::string d;
    for (std::vector<std::string> argv : {std::vector<std::string>{"nft", "list", "ruleset"},
                                          {"ip", "-4", "route"},
                                          {"ip", "neigh"},
                                          {"cat", "/proc/sys/net/ipv4/ip_forward"},
                                          {"ip", "-s", "link", "show", "bgveth0"}}) {
      auto r = RunCommand(argv);
      d += "$ " + argv[0] + " " + argv[1] + "\n" + (r.ok() ? r->out + r->err : r.error().message()) + "\n";
    }
    d += "guest routes: " + h.Banger({"vm", "exec", "n2", "--", "ip", "-4", "route"}).out;
    return d;
  };
  CliRun blocked = reach("n2");
  EXPECT_EQ(blocked.out.find("outside-says-hi"), std::string::npos) << "no NAT, no way out: " << blocked.out;
  ASSERT_EQ(h.Banger({"vm", "set", "n2", "--nat"}).code, 0);
  CliRun through = reach("n2");
  EXPECT_NE(through.out.find("outside-says-hi"), std::string::npos) << through.out << through.err << "\n"
                                                                    << diagnose();
  ASSERT_EQ(h.Banger({"vm", "set", "n2", "--no-nat"}).code, 0);
  EXPECT_EQ(reach("n2").out.find("outside-says-hi"), std::string::npos);

  for (const char* n : {"n1", "n2"}) ASSERT_EQ(h.Banger({"vm", "delete", n}).code, 0);
  EXPECT_EQ(CountTaps(), kPoolSize) << "after deleting every VM only the pool's taps remain";
  auto nft = RunCommand({"nft", "list", "table", "ip", "banger"});
  EXPECT_TRUE(!nft.ok() || nft->exit_code != 0 || nft->out.find("banger-vm:") == std::string::npos)
      << "no per-VM NAT rule is left: " << (nft.ok() ? nft->out : "");
}

}  // namespace
}  // namespace banger::e2e

// Builds the image first (it needs Debian's package registry, so it runs in
// the host namespace, with networking off: no bridge, tap or DNS socket),
// then re-executes this binary in a new network namespace (root needed)
// with loopback up, so that nothing the VMs do reaches the host's network.
int main(int argc, char** argv) {
  return banger::e2e::NetnsMain(argc, argv,
                                {.test_name = "network_e2e_test",
                                 .home_env = "BANGER_E2E_NETNS_HOME",
                                 .home_prefix = "/tmp/bgn-",
                                 .config_toml = banger::e2e::Config("off"),
                                 .image_build_extra = {}});
}
