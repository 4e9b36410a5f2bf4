// PortService over a real in-memory store and fake echo guests: a taken
// host port fails Reserve/Add, listeners follow VmmUp/VmmDown (the port is
// free on return), Remove frees it, and the per-port cap holds.
#include "daemon/port_service.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <thread>

#include "daemon/testing/fake_relay_guest.h"
#include "store/store_test_util.h"

namespace banger {
namespace {

using namespace std::chrono_literals;

// A port that was free a moment ago.
int FreePort() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

// Whether 127.0.0.1:port can be bound now (nobody listens on it).
bool Bindable(int port) {
  PortMapping p;
  p.host_port = port;
  p.guest_port = 1;
  return BindPort(p).ok();
}

UniqueFd Connect(int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return {};
  return fd;
}

// Sends `msg`, half-closes, reads to EOF (bounded).
std::string RoundTrip(int port, const std::string& msg) {
  UniqueFd fd = Connect(port);
  if (!fd.valid()) return "<connect failed>";
  (void)!::write(fd.get(), msg.data(), msg.size());
  ::shutdown(fd.get(), SHUT_WR);
  std::string out;
  char buf[4096];
  auto until = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
  return out + "<timeout>";
}

class PortServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Store::Open(":memory:");
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
    Image img = MakeImage("base");
    ASSERT_TRUE(store_->InsertImage(img).ok());
    vm_ = MakeVm("web", img.id);
    ASSERT_TRUE(store_->InsertVm(vm_).ok());
    PortServiceOptions o;
    o.max_conns_per_port = 1;
    o.relay.tick = 20ms;
    o.shutdown_wait = 5s;
    svc_ = std::make_unique<PortService>(
        *store_,
        [this](const PortMapping& p) -> Result<std::unique_ptr<RelayGuest>> {
          ++opened_;
          last_guest_port_ = p.guest_port;
          if (p.vm_id != vm_.id) return Error::NotFound("vm");
          return std::unique_ptr<RelayGuest>(new FakeRelayGuest());
        },
        [this](const std::string& vm) {
          std::lock_guard<std::mutex> lk(mu_);
          return up_.count(vm) > 0;
        },
        o);
  }
  void SetUp(bool vmm) {
    std::lock_guard<std::mutex> lk(mu_);
    if (vmm) {
      up_.insert(vm_.id);
    } else {
      up_.erase(vm_.id);
    }
  }
  void WaitNoConnections() {
    auto until = std::chrono::steady_clock::now() + 5s;
    while (svc_->ActiveConnections(vm_.id) > 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(10ms);
    ASSERT_EQ(svc_->ActiveConnections(vm_.id), 0);
  }
  PortMapping Port(int host, int guest) {
    PortMapping p;
    p.host_port = host;
    p.guest_port = guest;
    return p;
  }

  std::unique_ptr<Store> store_;
  VmRecord vm_;
  std::unique_ptr<PortService> svc_;
  std::mutex mu_;
  std::set<std::string> up_;
  std::atomic<int> opened_{0};
  std::atomic<int> last_guest_port_{0};
};

TEST_F(PortServiceTest, ReserveFailsOnATakenPortAndKeepsNothing) {
  int free_port = FreePort();
  int taken = FreePort();
  PortMapping holder = Port(taken, 1);
  auto held = BindPort(holder);
  ASSERT_TRUE(held.ok());
  auto r = svc_->Reserve({Port(free_port, 80), Port(taken, 81)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kConflict);
  EXPECT_EQ(r.error().message(), "host port 127.0.0.1:" + std::to_string(taken) + "/tcp is in use");
  EXPECT_TRUE(Bindable(free_port));  // the first one was given back
}

TEST_F(PortServiceTest, ListenersFollowTheVmm) {
  SetUp(true);
  int port = FreePort();
  auto r = svc_->Reserve({Port(port, 8080)});
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_TRUE(svc_->Attach(vm_.id, std::move(*r)).ok());
  EXPECT_EQ(RoundTrip(port, "ping"), "ping");
  EXPECT_EQ(last_guest_port_, 8080);
  auto list = svc_->List(vm_.id);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1U);
  EXPECT_TRUE((*list)[0].listening);

  SetUp(false);
  svc_->VmmDown(vm_.id);
  EXPECT_TRUE(Bindable(port));  // free as soon as VmmDown returned
  list = svc_->List(vm_.id);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1U);  // still recorded
  EXPECT_FALSE((*list)[0].listening);

  SetUp(true);
  svc_->VmmUp(vm_.id);
  WaitNoConnections();  // the cap is 1: the first connection's thread must have ended
  EXPECT_EQ(RoundTrip(port, "again"), "again");
  ASSERT_TRUE(svc_->Remove(vm_.id, Port(port, 0)).ok());
  EXPECT_TRUE(Bindable(port));
  EXPECT_EQ(svc_->Remove(vm_.id, Port(port, 0)).error().kind(), ErrorKind::kNotFound);
}

TEST_F(PortServiceTest, AddChecksTheHostAndTheStore) {
  int port = FreePort();
  auto a = svc_->Add(vm_.id, Port(port, 22));
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_FALSE(a->listening);  // no VMM: recorded, test-bound, released
  EXPECT_TRUE(Bindable(port));
  auto again = svc_->Add(vm_.id, Port(port, 23));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind(), ErrorKind::kConflict);
  int taken = FreePort();
  auto held = BindPort(Port(taken, 1));
  ASSERT_TRUE(held.ok());
  auto busy = svc_->Add(vm_.id, Port(taken, 22));
  ASSERT_FALSE(busy.ok());
  EXPECT_NE(busy.error().message().find("is in use"), std::string::npos);
  auto list = svc_->List(vm_.id);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1U);  // the failed one left no row

  // Reconcile at startup listens on the ports of VMs with a VMM.
  SetUp(true);
  svc_->ReconcileAll();
  WaitNoConnections();
  EXPECT_EQ(RoundTrip(port, "rec"), "rec");
}

TEST_F(PortServiceTest, PerPortCapClosesTheExtraConnection) {
  SetUp(true);
  int port = FreePort();
  ASSERT_TRUE(svc_->Add(vm_.id, Port(port, 80)).ok());
  UniqueFd first = Connect(port);
  ASSERT_TRUE(first.valid());
  auto until = std::chrono::steady_clock::now() + 5s;
  while (svc_->ActiveConnections(vm_.id) < 1 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(svc_->ActiveConnections(vm_.id), 1);
  EXPECT_EQ(RoundTrip(port, "x"), "");  // accepted and closed at once
  first.Reset();
  WaitNoConnections();
  EXPECT_EQ(RoundTrip(port, "y"), "y");
}

TEST_F(PortServiceTest, ShutdownEndsLiveConnections) {
  SetUp(true);
  int port = FreePort();
  ASSERT_TRUE(svc_->Add(vm_.id, Port(port, 80)).ok());
  UniqueFd c = Connect(port);
  ASSERT_TRUE(c.valid());
  auto until = std::chrono::steady_clock::now() + 5s;
  while (svc_->ActiveConnections(vm_.id) < 1 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  auto t0 = std::chrono::steady_clock::now();
  svc_->Shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(svc_->ActiveConnections(vm_.id), 0);
  EXPECT_TRUE(Bindable(port));
}

}  // namespace
}  // namespace banger
