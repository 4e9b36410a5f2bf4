// The port relay against a fake echo guest over a socketpair: round trip,
// half-close, back pressure on a large transfer, stop, idle and a guest
// that grants no credit.
#include "daemon/port_relay.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "base/unique_fd.h"
#include "daemon/testing/fake_relay_guest.h"

namespace banger {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Pair {
  UniqueFd relay_end, test_end;
};

Pair MakePair() {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ::fcntl(sv[0], F_SETFL, O_NONBLOCK);
  return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

// Reads until EOF or `deadline`; "" plus false on timeout.
bool ReadToEof(int fd, std::string& out, std::chrono::milliseconds deadline) {
  auto until = Clock::now() + deadline;
  char buf[65536];
  while (Clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
    out.append(buf, static_cast<size_t>(n));
  }
  return false;
}

RelayOptions Fast() {
  RelayOptions o;
  o.tick = 20ms;
  o.linger = 500ms;
  return o;
}

TEST(PortRelay, EchoesAndPassesHalfClose) {
  Pair p = MakePair();
  FakeRelayGuest guest;
  std::atomic<bool> stop{false};
  RelayResult res;
  std::thread t([&] { res = RunRelay(p.relay_end.get(), guest, Fast(), stop); });
  ASSERT_EQ(::write(p.test_end.get(), "hello", 5), 5);
  ::shutdown(p.test_end.get(), SHUT_WR);
  std::string got;
  EXPECT_TRUE(ReadToEof(p.test_end.get(), got, 5s));
  EXPECT_EQ(got, "hello");
  p.test_end.Reset();
  t.join();
  EXPECT_EQ(res.up_bytes, 5U);
  EXPECT_EQ(res.down_bytes, 5U);
  EXPECT_EQ(res.end, "guest side closed");
}

// A guest peer that answers and closes first (an HTTP/1.0 server): its
// stdout EOF reaches the host as a half-close while the host may still
// send; EXIT follows only once the host closes too.
class CloseFirstGuest final : public RelayGuest {
 public:
  Status Write(std::string_view data) override {
    std::lock_guard<std::mutex> lk(mu_);
    after_eof_ += data;
    return OkStatus();
  }
  Status CloseWrite() override {
    std::lock_guard<std::mutex> lk(mu_);
    host_closed_ = true;
    cv_.notify_all();
    return OkStatus();
  }
  Result<ExecEvent> Next() override {
    std::unique_lock<std::mutex> lk(mu_);
    ExecEvent ev;
    if (step_ == 0) {
      ev.data = "answer";
    } else if (step_ == 1) {
      ev.kind = ExecEvent::kStdoutEof;
    } else {
      cv_.wait(lk, [&] { return host_closed_ || aborted_; });
      if (aborted_) return Error::Unavailable("aborted");
      ev.kind = ExecEvent::kExit;
    }
    ++step_;
    return ev;
  }
  void Abort(const std::string&) override {
    std::lock_guard<std::mutex> lk(mu_);
    aborted_ = true;
    cv_.notify_all();
  }
  std::string after_eof() {
    std::lock_guard<std::mutex> lk(mu_);
    return after_eof_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int step_ = 0;
  bool host_closed_ = false, aborted_ = false;
  std::string after_eof_;
};

TEST(PortRelay, GuestCloseReachesTheHostAsEof) {
  Pair p = MakePair();
  CloseFirstGuest guest;
  std::atomic<bool> stop{false};
  RelayResult res;
  std::thread t([&] { res = RunRelay(p.relay_end.get(), guest, Fast(), stop); });
  // The host has not closed, yet it reads the answer and then EOF.
  std::string got;
  EXPECT_TRUE(ReadToEof(p.test_end.get(), got, 5s));
  EXPECT_EQ(got, "answer");
  // Half-closed only: what the host still sends reaches the guest.
  ASSERT_EQ(::write(p.test_end.get(), "late", 4), 4);
  auto until = Clock::now() + 5s;
  while (guest.after_eof() != "late" && Clock::now() < until) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(guest.after_eof(), "late");
  p.test_end.Reset();
  t.join();
  EXPECT_EQ(res.end, "guest side closed");
}

TEST(PortRelay, LargeTransferStaysBounded) {
  Pair p = MakePair();
  FakeRelayGuest guest(/*limit=*/32 * 1024);
  std::atomic<bool> stop{false};
  RelayResult res;
  std::thread t([&] { res = RunRelay(p.relay_end.get(), guest, Fast(), stop); });
  std::string data(8 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + i / 251);
  std::thread writer([&] {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(p.test_end.get(), data.data() + off, std::min<size_t>(65536, data.size() - off));
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::shutdown(p.test_end.get(), SHUT_WR);
  });
  std::string got;
  EXPECT_TRUE(ReadToEof(p.test_end.get(), got, 60s));
  writer.join();
  p.test_end.Reset();
  t.join();
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
  EXPECT_LE(guest.max_queued, 32U * 1024);
}

TEST(PortRelay, StopEndsAQuietConnection) {
  Pair p = MakePair();
  FakeRelayGuest guest;
  std::atomic<bool> stop{false};
  std::atomic<bool> done{false};
  std::thread t([&] {
    RunRelay(p.relay_end.get(), guest, Fast(), stop);
    done = true;
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(done);
  auto t0 = Clock::now();
  stop = true;
  t.join();
  EXPECT_LT(Clock::now() - t0, 2s);
  EXPECT_TRUE(guest.aborted());
}

TEST(PortRelay, IdleConnectionIsClosed) {
  Pair p = MakePair();
  FakeRelayGuest guest;
  std::atomic<bool> stop{false};
  RelayOptions o = Fast();
  o.idle_timeout = 300ms;
  RelayResult res;
  auto t0 = Clock::now();
  std::thread t([&] { res = RunRelay(p.relay_end.get(), guest, o, stop); });
  std::string got;
  EXPECT_TRUE(ReadToEof(p.test_end.get(), got, 5s));  // the host side sees the end
  t.join();
  EXPECT_GE(Clock::now() - t0, 300ms);
  EXPECT_NE(res.end.find("idle"), std::string::npos) << res.end;
}

TEST(PortRelay, GuestWithoutCreditCostsOnlyItsConnection) {
  Pair p = MakePair();
  FakeRelayGuest guest;
  guest.stall = true;
  guest.stall_for = 300ms;  // the agent connection's credit timeout
  std::atomic<bool> stop{false};
  RelayResult res;
  std::thread t([&] { res = RunRelay(p.relay_end.get(), guest, Fast(), stop); });
  ASSERT_EQ(::write(p.test_end.get(), "x", 1), 1);
  std::string got;
  EXPECT_TRUE(ReadToEof(p.test_end.get(), got, 5s));
  t.join();
  EXPECT_NE(res.end.find("no stdin credit"), std::string::npos) << res.end;
}

TEST(PortRelay, HostThatStopsReadingIsBoundedByIdle) {
  Pair p = MakePair();
  FakeRelayGuest guest(1 << 20);
  std::atomic<bool> stop{false};
  RelayOptions o = Fast();
  o.idle_timeout = 400ms;
  std::atomic<bool> done{false};
  std::thread t([&] {
    RunRelay(p.relay_end.get(), guest, o, stop);
    done = true;
  });
  // Fill both directions; never read: the relay's send blocks, then gives up.
  std::string chunk(65536, 'a');
  ::fcntl(p.test_end.get(), F_SETFL, O_NONBLOCK);
  for (int i = 0; i < 64; ++i) (void)!::write(p.test_end.get(), chunk.data(), chunk.size());
  auto t0 = Clock::now();
  while (!done && Clock::now() - t0 < 10s) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(done);
  t.join();
}

}  // namespace
}  // namespace banger
