// FixupGuest against a fake agent connection: what it asks the guest to run,
// that the entropy goes through stdin only, and how the guest's answers
// (success, a failed step, no agent support, silence) become results. The
// guest side runs for real in tests/e2e/fixup_e2e_test.cc.
#include "daemon/guest_fixup.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <thread>

#include "net/testing/fake_net_ops.h"

namespace banger {
namespace {

using namespace std::chrono_literals;

struct Recorded {
  ExecRequest req;
  std::string stdin_data;
  bool stdin_closed = false;
  bool aborted = false;
};

class FakeChannel : public ExecChannel {
 public:
  FakeChannel(Recorded* rec, std::deque<ExecEvent> events) : rec_(rec), events_(std::move(events)) {}
  Status WriteStdin(std::string_view data) override {
    if (rec_->stdin_closed) return Error::Internal("stdin written after EOF");
    rec_->stdin_data.append(data);
    return OkStatus();
  }
  Status CloseStdin() override {
    rec_->stdin_closed = true;
    return OkStatus();
  }
  Status Signal(int) override { return OkStatus(); }
  Status Resize(uint16_t, uint16_t) override { return OkStatus(); }
  Result<ExecEvent> Next() override { return NextUntil(std::chrono::steady_clock::now() + 10s); }
  Result<ExecEvent> NextUntil(std::chrono::steady_clock::time_point deadline) override {
    if (events_.empty()) {  // a guest that never answers
      std::this_thread::sleep_until(deadline);
      return Error::Timeout("no event");
    }
    ExecEvent ev = std::move(events_.front());
    events_.pop_front();
    return ev;
  }
  void Abort(const std::string&) override { rec_->aborted = true; }

 private:
  Recorded* rec_;
  std::deque<ExecEvent> events_;
};

class FakeConn : public AgentConn {
 public:
  explicit FakeConn(std::deque<ExecEvent> events) : events_(std::move(events)) {}
  const AgentInfo& info() const override { return info_; }
  Result<std::unique_ptr<ExecChannel>> Exec(const ExecRequest& req) override {
    ++execs;
    rec.req = req;
    return std::unique_ptr<ExecChannel>(std::make_unique<FakeChannel>(&rec, events_));
  }
  Status Ping(std::chrono::milliseconds) override { return OkStatus(); }
  void Close(const std::string&) override {}

  Recorded rec;
  int execs = 0;

 private:
  AgentInfo info_;
  std::deque<ExecEvent> events_;
};

ExecEvent Out(std::string s, ExecEvent::Kind k = ExecEvent::kStdout) {
  ExecEvent ev;
  ev.kind = k;
  ev.data = std::move(s);
  return ev;
}
ExecEvent Exit(int code) {
  ExecEvent ev;
  ev.kind = ExecEvent::kExit;
  ev.exit.code = code;
  return ev;
}

FixupSources Fixed() {
  FixupSources s;
  s.realtime_ns = [] { return int64_t{1796000000123456789}; };
  s.random = [](uint8_t* buf, size_t n) -> Status {
    for (size_t i = 0; i < n; ++i) buf[i] = static_cast<uint8_t>(0xA0 + i % 16);
    return OkStatus();
  };
  return s;
}

GuestFixup Identity() {
  GuestFixup f;
  f.hostname = "fork-1";
  f.vm_id = std::string(64, 'b');
  return f;
}

std::string Joined(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

TEST(GuestFixupTest, RunsTheAgentFixupWithEntropyOnStdinOnly) {
  FakeConn conn({Out("fixup: clock: stepped by +0.001 s\n"), Out("fixup: done in 900 us\n"), Exit(0)});
  auto r = FixupGuest(conn, Identity(), 5s, Fixed());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->lines, "fixup: clock: stepped by +0.001 s\nfixup: done in 900 us\n");
  EXPECT_EQ(Joined(conn.rec.req.argv), "/usr/local/sbin/banger-agent fixup --hostname fork-1 --vm-id " +
                                           std::string(64, 'b') + " --time stdin --entropy-stdin 64");
  // stdin: the time (8 bytes, big-endian ns), then the entropy.
  ASSERT_EQ(conn.rec.stdin_data.size(), 8 + kFixupEntropyBytes);
  uint64_t t = 0;
  for (int i = 0; i < 8; ++i) t = t << 8 | static_cast<uint8_t>(conn.rec.stdin_data[i]);
  EXPECT_EQ(t, 1796000000123456789u);
  EXPECT_EQ(static_cast<uint8_t>(conn.rec.stdin_data[8 + 1]), 0xA1);
  EXPECT_TRUE(conn.rec.stdin_closed);
  EXPECT_FALSE(conn.rec.aborted);
  // Nothing of the entropy in the command line.
  for (const auto& a : conn.rec.req.argv)
    EXPECT_EQ(a.find(conn.rec.stdin_data.substr(0, 4)), std::string::npos);
}

TEST(GuestFixupTest, NicSettingsAreTheColdBootOnes) {
  testing::FakeNetOps ops;
  DaemonConfig cfg;
  cfg.network = "on";
  auto net = VmNetwork::Create(ops, cfg);
  ASSERT_TRUE(net.ok()) << net.error().message();
  VmRecord vm;
  vm.id = std::string(64, 'c');
  vm.name = "web";
  vm.runtime.guest_ip = "172.16.0.9";
  GuestFixup f = GuestFixupFor(vm, net->get());
  EXPECT_EQ(f.hostname, "web");
  EXPECT_EQ(f.vm_id, vm.id);
  ASSERT_TRUE(f.nic);
  // The kernel command line of a cold boot says the same.
  EXPECT_EQ((*net)->KernelArgs(vm), " banger.ip=" + f.nic->ip + "/" + std::to_string(f.nic->prefix) +
                                        " banger.gw=" + f.nic->gateway + " banger.dns=" + f.nic->dns);
  EXPECT_EQ(f.nic->mac, MacForIp("172.16.0.9"));

  FakeConn conn({Exit(0)});
  ASSERT_TRUE(FixupGuest(conn, f, 5s, Fixed()).ok());
  EXPECT_NE(Joined(conn.rec.req.argv)
                .find(" --mac " + f.nic->mac + " --ip 172.16.0.9/24 --gateway 172.16.0.1 --dns 172.16.0.1"),
            std::string::npos)
      << Joined(conn.rec.req.argv);

  EXPECT_FALSE(GuestFixupFor(vm, nullptr).nic);  // networking off
  vm.runtime.guest_ip.clear();
  EXPECT_FALSE(GuestFixupFor(vm, net->get()).nic);  // a VM created while it was off
}

TEST(GuestFixupTest, AFailedStepIsOneLineWithTheGuestsErrors) {
  FakeConn conn({Out("fixup: clock: stepped by +0.001 s\n"),
                 Out("banger-agent fixup: hostname: sethostname: Operation not permitted\n"
                     "banger-agent fixup: network: interface eth0: No such device\n",
                     ExecEvent::kStderr),
                 Exit(1)});
  auto r = FixupGuest(conn, Identity(), 5s, Fixed());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kInternal);
  EXPECT_EQ(r.error().message(),
            "guest fixup failed (exit 1): banger-agent fixup: hostname: sethostname: Operation not permitted;"
            "banger-agent fixup: network: interface eth0: No such device");
}

// The end of stdout is not the exit: a failure that follows it is a failure.
TEST(GuestFixupTest, StdoutEofBeforeAFailedExitIsStillAFailure) {
  FakeConn conn({Out("fixup: clock: stepped by +0.001 s\n"), Out("", ExecEvent::kStdoutEof),
                 Out("banger-agent fixup: clock: nope\n", ExecEvent::kStderr), Exit(1)});
  auto r = FixupGuest(conn, Identity(), 5s, Fixed());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "guest fixup failed (exit 1): banger-agent fixup: clock: nope");
}

TEST(GuestFixupTest, AnAgentWithoutFixupSaysToRebuildTheImage) {
  FakeConn conn({Out("sh: banger-agent: not found\n", ExecEvent::kStderr), Exit(127)});
  auto r = FixupGuest(conn, Identity(), 5s, Fixed());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("rebuild it"), std::string::npos) << r.error().message();
}

TEST(GuestFixupTest, ASilentGuestTimesOutAndIsAborted) {
  FakeConn conn({});
  auto t0 = std::chrono::steady_clock::now();
  auto r = FixupGuest(conn, Identity(), 100ms, Fixed());
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTimeout);
  EXPECT_TRUE(conn.rec.aborted);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(conn.rec.req.open_timeout, 100ms);
}

TEST(GuestFixupTest, HostRandomnessFailureRunsNothing) {
  FixupSources src = Fixed();
  src.random = [](uint8_t*, size_t) -> Status { return Error::Unavailable("getrandom: ENOSYS"); };
  FakeConn conn({Exit(0)});
  auto r = FixupGuest(conn, Identity(), 5s, src);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "guest fixup: host entropy: getrandom: ENOSYS");
  EXPECT_EQ(conn.execs, 0);
}

TEST(GuestFixupTest, AHostileGuestsOutputIsBounded) {
  std::deque<ExecEvent> evs;
  for (int i = 0; i < 100; ++i) evs.push_back(Out(std::string(4096, 'x')));
  evs.push_back(Exit(0));
  FakeConn conn(evs);
  auto r = FixupGuest(conn, Identity(), 5s, Fixed());
  ASSERT_TRUE(r.ok());
  EXPECT_LE(r->lines.size(), 16u * 1024);
}

}  // namespace
}  // namespace banger
