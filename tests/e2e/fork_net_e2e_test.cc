// `vm fork` with host networking on (QEMU TCG, the minimal image with the
// agent), entirely inside a network namespace this test creates (main()
// re-executes the binary under `unshare --net`, as network_e2e_test): a
// source VM with a file in /root is forked three times. Each fork has its own
// address and MAC (the guest's eth0 carries them, the host's neighbour table
// learns them), answers ping and its SSH port from the host at that address,
// has its own hostname and vm id, and a file written in one fork is in no
// other VM.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <set>

#include "e2e_util.h"
#include "net/address.h"

namespace banger::e2e {
namespace {

using namespace std::chrono_literals;

std::string Config(const std::string& network) {
  return "backend = \"qemu\"\nqemu_accel = \"tcg\"\ndefault_image_name = \"t\"\nstop_timeout = \"3s\"\n"
         "network = \"" +
         network +
         "\"\ntap_pool_size = 1\n[vm_defaults]\nvcpu_count = 1\nmemory_mib = 256\n"
         "work_disk_size = \"128M\"\nsystem_overlay_size = \"512M\"\n";
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

TEST(ForkNetE2E, ForksHaveTheirOwnAddressIdentityAndDisks) {
  const char* home = std::getenv("BANGER_E2E_NETNS_HOME");
  ASSERT_NE(home, nullptr) << "must run inside its own network namespace (see main)";
  BangerHome h(home);
  ASSERT_NO_FATAL_FAILURE(h.WriteConfig(Config("on")));
  auto exec = [&](const std::string& vm, const std::string& script) {
    CliRun r = h.Banger({"vm", "exec", vm, "--", "sh", "-c", script}, 240s);
    EXPECT_EQ(r.code, 0) << vm << ": " << script << ": " << r.err;
    return Trim(r.out);
  };

  ASSERT_EQ(h.Banger({"vm", "create", "--name", "src"}).code, 0);
  exec("src", "echo hello > /root/f && sync");  // waits for the agent
  // No wait for the image's init: the agent answers before it has run, and
  // a fork taken that early must keep its own vm id too (/run is mounted
  // before the agent starts, guest/init/init.sh).
  Json fork = h.BangerJson({"vm", "fork", "src", "--name", "c", "--count", "3"});
  ASSERT_TRUE(fork.is_array() && fork.size() == 3) << fork.dump();

  std::vector<std::string> vms{"src"};
  for (const auto& f : fork) vms.push_back(f["name"]);
  std::set<std::string> ips, macs, hostnames, ids;
  for (const auto& vm : vms) {
    SCOPED_TRACE(vm);
    Json show = h.BangerJson({"vm", "show", vm});
    EXPECT_EQ(show["state"], "running");
    const std::string ip = show["runtime"]["guest_ip"];
    EXPECT_TRUE(ips.insert(ip).second) << "address " << ip << " is given twice";
    const std::string mac = exec(vm, "cat /sys/class/net/eth0/address");
    EXPECT_EQ(mac, MacForIp(ip));
    EXPECT_TRUE(macs.insert(mac).second) << "MAC " << mac << " is given twice";
    // eth0 has this VM's address only (a fork drops the source's).
    const std::string addrs = exec(vm, "ip -4 -o addr show dev eth0");
    EXPECT_NE(addrs.find(" " + ip + "/24"), std::string::npos) << addrs;
    EXPECT_EQ(std::count(addrs.begin(), addrs.end(), '\n'), 0) << "more than one address: " << addrs;
    const std::string hostname = exec(vm, "hostname");
    EXPECT_EQ(hostname, vm);
    hostnames.insert(hostname);
    // The guest's vm id: from the kernel command line for the source, from
    // the fixup's /run/banger/vm_id for a fork.
    const std::string id = exec(vm, "/usr/local/sbin/banger-agent vm-id");
    EXPECT_EQ(id, show["id"].get<std::string>());
    if (vm != "src") {
      EXPECT_EQ(exec(vm, "cat /run/banger/vm_id"), id);
    }
    ids.insert(id);
    EXPECT_EQ(exec(vm, "cat /root/f"), "hello");
    // One tmpfs on /run: the initramfs's, which the image's init kept.
    EXPECT_EQ(exec(vm, "grep -c ' /run ' /proc/mounts"), "1");
  }
  EXPECT_EQ(ips.size(), 4u);
  EXPECT_EQ(macs.size(), 4u);
  EXPECT_EQ(hostnames.size(), 4u);
  EXPECT_EQ(ids.size(), 4u);

  // From the host side of the bridge (this namespace only): every address
  // answers, from its own MAC, and so does the guest's SSH server there.
  for (const auto& vm : vms) {
    SCOPED_TRACE(vm);
    Json show = h.BangerJson({"vm", "show", vm});
    const std::string ip = show["runtime"]["guest_ip"];
    auto ping = RunCommand({"busybox", "ping", "-c", "1", "-W", "5", ip});
    ASSERT_TRUE(ping.ok()) << ping.error().message();
    EXPECT_EQ(ping->exit_code, 0) << ping->out << ping->err;
    auto neigh = RunCommand({"ip", "neigh", "show", ip});
    ASSERT_TRUE(neigh.ok());
    EXPECT_NE(neigh->out.find(MacForIp(ip)), std::string::npos) << neigh->out;
    std::string banner;
    EXPECT_TRUE(WaitUntil(
        [&] {
          banner = TcpBanner(ip, 22);
          return banner.rfind("SSH-", 0) == 0;
        },
        30s))
        << "no SSH banner at " << ip << ":22: " << banner;
  }

  // A write in one fork is its own.
  exec("c-1", "echo mine > /root/only1 && sync");
  for (const auto& other : {"c-2", "c-3", "src"}) {
    EXPECT_EQ(exec(other, "test -e /root/only1 && echo yes || echo no"), "no") << other;
  }
  EXPECT_EQ(exec("c-1", "cat /root/only1"), "mine");

  for (const auto& vm : vms) EXPECT_EQ(h.Banger({"vm", "delete", vm}, 120s).code, 0) << vm;
}

}  // namespace
}  // namespace banger::e2e

// The image is built in the host namespace (Debian's package registry;
// network off), then this binary runs again in a new network namespace with
// loopback up, so every packet to a guest address stays inside it.
int main(int argc, char** argv) {
  return banger::e2e::NetnsMain(argc, argv,
                                {.test_name = "fork_net_e2e_test",
                                 .home_env = "BANGER_E2E_NETNS_HOME",
                                 .home_prefix = "/tmp/bgk-",
                                 .config_toml = banger::e2e::Config("off"),
                                 .image_build_extra = {"--profile", "minimal"}});
}
