// The guest fixup (daemon/guest_fixup.h, guest/agent/fixup.h) in a real guest:
// a cold-booted VM is told a new hostname, VM id and a clock one hour ahead
// (network off), then, with networking on, a new IP and MAC that the host
// side reaches. The test talks to the VM's agent socket itself (as the
// snapshot and fork code will through the daemon); the daemon never opens
// that VM's agent connection, since nothing here runs `vm exec`.
//
// Like network_e2e_test, main() builds the image in the host namespace, then
// re-executes this binary under `unshare --net`: every packet to a guest
// address stays inside that namespace.
#include <gtest/gtest.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>

#include "agent/protocol.h"
#include "daemon/guest_fixup.h"
#include "e2e_util.h"
#include "model/types.h"
#include "net/address.h"

namespace banger::e2e {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string Config(const std::string& network) {
  return "backend = \"qemu\"\nqemu_accel = \"tcg\"\ndefault_image_name = \"t\"\nstop_timeout = \"3s\"\n"
         "network = \"" +
         network + "\"\ntap_pool_size = 1\n[vm_defaults]\nvcpu_count = 1\nmemory_mib = 512\n";
}

int64_t HostNowNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

class FixupE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* home = std::getenv("BANGER_E2E_NETNS_HOME");
    if (home != nullptr) home_ = new BangerHome(home);
  }
  static void TearDownTestSuite() {
    delete home_;
    home_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(home_, nullptr) << "must run inside its own network namespace (see main)";
  }
  void TearDown() override {
    conn_.reset();
    home_->Banger({"daemon", "stop"});
  }

  // Creates a VM and connects to its agent socket directly.
  void Boot(const std::string& name) {
    CliRun c = home_->Banger({"vm", "create", "--name", name});
    ASSERT_EQ(c.code, 0) << c.err;
    vm_ = home_->BangerJson({"vm", "show", name});
    std::string sock = vm_["runtime"]["vm_dir"].get<std::string>() + "/agent.sock";
    auto deadline = Clock::now() + 240s;
    std::string last;
    while (Clock::now() < deadline) {
      auto fd = ConnectAgentUnix(sock, 2s);
      if (fd.ok()) {
        auto conn = AgentConn::Handshake(std::move(*fd), 3s);
        if (conn.ok()) {
          conn_ = std::move(*conn);
          // The agent answers before the image's init has run; a snapshot
          // is taken of a booted guest, so wait for its sysinit (which
          // mounts the tmpfs /run where the VM id override lives).
          bool booted = WaitUntil(
              [&] {
                return Exec({"grep", "-q", " /run tmpfs", "/proc/mounts"}).code == 0;
              },
              60s);
          ASSERT_TRUE(booted) << "the guest's init never mounted /run";
          return;
        }
        last = conn.error().message();
      } else {
        last = fd.error().message();
        std::this_thread::sleep_for(500ms);
      }
    }
    FAIL() << "the agent of " << name << " never answered: " << last;
  }

  struct Run {
    int code = -1;
    std::string out, err;
  };
  Run Exec(std::vector<std::string> argv) {
    ExecRequest req;
    req.argv = std::move(argv);
    Run r;
    auto ch = conn_->Exec(req);
    if (!ch.ok()) {
      r.err = ch.error().message();
      return r;
    }
    (*ch)->CloseStdin().ok();
    auto until = Clock::now() + 30s;
    for (;;) {
      auto ev = (*ch)->NextUntil(until);
      if (!ev.ok()) {
        r.err += ev.error().message();
        return r;
      }
      if (ev->kind == ExecEvent::kExit) {
        r.code = ev->exit.ShellCode();
        return r;
      }
      (ev->kind == ExecEvent::kStdout ? r.out : r.err) += ev->data;
    }
  }
  std::string Out(std::vector<std::string> argv) { return Trim(Exec(std::move(argv)).out); }

  static BangerHome* home_;
  Json vm_;
  std::unique_ptr<AgentConn> conn_;
};
BangerHome* FixupE2E::home_ = nullptr;

TEST_F(FixupE2E, HostnameVmIdClockAndEntropy) {
  ASSERT_NO_FATAL_FAILURE(home_->WriteConfig(Config("off")));
  ASSERT_NO_FATAL_FAILURE(Boot("fx1"));
  std::string old_id = vm_["id"];
  EXPECT_EQ(Out({"hostname"}), "fx1");
  EXPECT_EQ(Out({"/usr/local/sbin/banger-agent", "vm-id"}), old_id);
  std::string entropy_before = Out({"cat", "/proc/sys/kernel/random/entropy_avail"});

  GuestFixup f;
  f.hostname = "fx-new";
  f.vm_id = NewId();
  FixupSources src = FixupSources::Host();
  src.realtime_ns = [] { return HostNowNs() + int64_t{3600} * 1'000'000'000; };
  auto t0 = Clock::now();
  auto r = FixupGuest(*conn_, f, 20s, src);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  ASSERT_TRUE(r.ok()) << r.error().message();
  std::cout << "fixup report (" << took.count() << " ms host side):\n" << r->lines;
  EXPECT_NE(r->lines.find("fixup: entropy: added 64 bytes (512 bits credited)"), std::string::npos)
      << r->lines;
  // About an hour forward: the guest's own clock may be off by seconds under a loaded TCG host.
  {
    const std::string key = "fixup: clock: stepped by +";
    const size_t at = r->lines.find(key);
    ASSERT_NE(at, std::string::npos) << r->lines;
    const long long step = std::atoll(r->lines.c_str() + at + key.size());
    EXPECT_GE(step, 3540) << r->lines;
    EXPECT_LE(step, 3660) << r->lines;
  }
  EXPECT_NE(r->lines.find("fixup: hostname: fx1 -> fx-new"), std::string::npos) << r->lines;
  EXPECT_NE(r->lines.find("fixup: vm-id: " + old_id + " -> " + f.vm_id), std::string::npos) << r->lines;

  EXPECT_EQ(Out({"hostname"}), "fx-new");
  EXPECT_EQ(Out({"cat", "/etc/hostname"}), "fx-new");
  EXPECT_EQ(Out({"grep", "^127.0.1.1", "/etc/hosts"}), "127.0.1.1\tfx-new");
  EXPECT_EQ(Out({"/usr/local/sbin/banger-agent", "vm-id"}), f.vm_id);
  long long guest_now = std::atoll(Out({"date", "+%s"}).c_str());
  long long want = HostNowNs() / 1'000'000'000 + 3600;
  EXPECT_NEAR(static_cast<double>(guest_now), static_cast<double>(want), 5.0) << "guest date +%s";
  EXPECT_GE(std::atoi(Out({"cat", "/proc/sys/kernel/random/entropy_avail"}).c_str()),
            std::atoi(entropy_before.c_str()));

  // Idempotent: the same fixup again changes nothing but the clock.
  auto again = FixupGuest(*conn_, f, 20s, src);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_NE(again->lines.find("fixup: hostname: fx-new (unchanged)"), std::string::npos) << again->lines;
  EXPECT_NE(again->lines.find("fixup: vm-id: " + f.vm_id + " (unchanged)"), std::string::npos)
      << again->lines;

  // Validated in the guest: a bad hostname changes nothing, one line says why.
  Run bad = Exec({"/usr/local/sbin/banger-agent", "fixup", "--hostname", "bad name", "--vm-id", f.vm_id,
                  "--time", "1796000000000000000"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_EQ(bad.err,
            "banger-agent fixup: --hostname \"bad name\" may hold only letters, digits, '-' and '.'\n");
  EXPECT_EQ(Out({"hostname"}), "fx-new");

  // A new session's HELLO_ACK reports the new identity.
  conn_->Close("test: reconnecting raw");
  conn_.reset();
  std::string sock = vm_["runtime"]["vm_dir"].get<std::string>() + "/agent.sock";
  auto fd = ConnectAgentUnix(sock, 10s);
  ASSERT_TRUE(fd.ok()) << fd.error().message();
  std::string hello;
  agent::AppendMessage(&hello, 0, agent::Hello{.nonce = 7});
  ASSERT_EQ(::write(fd->get(), hello.data(), hello.size()), static_cast<ssize_t>(hello.size()));
  agent::FrameDecoder dec;
  std::optional<agent::HelloAck> ack;
  auto until = Clock::now() + 20s;
  while (!ack && Clock::now() < until) {
    pollfd p = {fd->get(), POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(fd->get(), buf, sizeof(buf));
    ASSERT_GT(n, 0);
    dec.Feed(std::string_view(buf, static_cast<size_t>(n)));
    while (auto fr = dec.Next()) {
      if (fr->type == static_cast<uint8_t>(agent::MsgType::kHelloAck))
        ack = agent::Parse<agent::HelloAck>(*fr);
    }
  }
  ASSERT_TRUE(ack) << "no HELLO_ACK";
  EXPECT_EQ(ack->nonce, 7u);
  EXPECT_EQ(ack->hostname, "fx-new");
  EXPECT_EQ(ack->vm_id, f.vm_id);
  fd->Reset();

  EXPECT_EQ(home_->Banger({"vm", "delete", "fx1"}).code, 0);
}

TEST_F(FixupE2E, NewAddressAndMacAnswerOnTheBridge) {
  ASSERT_NO_FATAL_FAILURE(home_->WriteConfig(Config("on")));
  ASSERT_NO_FATAL_FAILURE(Boot("fn1"));
  std::string old_ip = vm_["runtime"]["guest_ip"];
  ASSERT_EQ(old_ip, "172.16.0.2");
  auto old_ping = RunCommand({"busybox", "ping", "-c", "1", "-W", "5", old_ip});
  ASSERT_TRUE(old_ping.ok() && old_ping->exit_code == 0) << "the cold-booted address answers";

  GuestFixup f;
  f.hostname = "fn-fork";
  f.vm_id = NewId();
  f.nic = GuestNic{.mac = MacForIp("172.16.0.77"),
                   .ip = "172.16.0.77",
                   .prefix = 24,
                   .gateway = "172.16.0.1",
                   .dns = "172.16.0.1"};
  auto r = FixupGuest(*conn_, f, 20s);
  ASSERT_TRUE(r.ok()) << r.error().message();
  std::cout << "fixup report:\n" << r->lines;
  EXPECT_NE(r->lines.find("fixup: network: mac " + f.nic->mac +
                          ", removed 172.16.0.2/24, added 172.16.0.77/24, "
                          "default via 172.16.0.1, ARP announced"),
            std::string::npos)
      << r->lines;

  EXPECT_EQ(Out({"cat", "/sys/class/net/eth0/address"}), f.nic->mac);
  std::string addrs = Out({"ip", "-4", "-o", "addr", "show", "dev", "eth0"});
  EXPECT_NE(addrs.find("172.16.0.77/24"), std::string::npos) << addrs;
  EXPECT_EQ(addrs.find("172.16.0.2/"), std::string::npos) << addrs;
  EXPECT_NE(Out({"ip", "-4", "route"}).find("default via 172.16.0.1"), std::string::npos);
  EXPECT_EQ(Out({"cat", "/etc/resolv.conf"}), "nameserver 172.16.0.1");

  // From the host side of the bridge (this namespace only): the new address
  // answers, from the new MAC, and so does the guest's SSH server.
  auto ping = RunCommand({"busybox", "ping", "-c", "1", "-W", "5", "172.16.0.77"});
  ASSERT_TRUE(ping.ok());
  EXPECT_EQ(ping->exit_code, 0) << ping->out << ping->err;
  auto neigh = RunCommand({"ip", "neigh", "show", "172.16.0.77"});
  ASSERT_TRUE(neigh.ok());
  EXPECT_NE(neigh->out.find(f.nic->mac), std::string::npos) << neigh->out;
  // TCP to a listener in the guest, by its new address.
  ExecRequest listen;
  listen.argv = {"sh", "-c", "echo fork-says-hi | nc -l -p 7000"};
  auto listener = conn_->Exec(listen);
  ASSERT_TRUE(listener.ok()) << listener.error().message();
  std::string got;
  bool reached = WaitUntil(
      [&] {
        auto nc = RunCommand({"busybox", "nc", "-w", "3", "172.16.0.77", "7000"}, std::chrono::seconds(10));
        got = nc.ok() ? nc->out + nc->err : nc.error().message();
        return got.find("fork-says-hi") != std::string::npos;
      },
      30s);
  EXPECT_TRUE(reached) << got;
  listener->reset();
  // And the guest reaches the bridge (its default route and ARP for the gateway).
  EXPECT_EQ(Exec({"ping", "-c", "1", "-W", "5", "172.16.0.1"}).code, 0);

  conn_.reset();
  EXPECT_EQ(home_->Banger({"vm", "delete", "fn1"}).code, 0);
}

}  // namespace
}  // namespace banger::e2e

// As network_e2e_test: the image is built in the host namespace (it needs
// Debian's package registry; network off), then this binary runs again in a
// new network namespace with loopback up.
int main(int argc, char** argv) {
  return banger::e2e::NetnsMain(argc, argv,
                                {.test_name = "fixup_e2e_test",
                                 .home_env = "BANGER_E2E_NETNS_HOME",
                                 .home_prefix = "/tmp/bgf-",
                                 .config_toml = banger::e2e::Config("off"),
                                 .image_build_extra = {"--profile", "minimal"}});
}
