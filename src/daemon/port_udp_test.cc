// Published UDP ports (daemon/port_udp.h) against a fake framed echo guest
// on a real loopback UDP socket: flows per client, the flow cap, idle
// flows, a guest command that exits, and the frame codec.
#include "daemon/port_udp.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "base/unique_fd.h"

namespace banger {
namespace {

using namespace std::chrono_literals;

// Echoes each framed datagram back framed; `exits` makes its command exit
// after the first datagram instead (its half frame is never completed).
class FakeUdpGuest final : public RelayGuest {
 public:
  explicit FakeUdpGuest(bool exits) : exits_(exits) {}
  Status Write(std::string_view data) override {
    std::lock_guard<std::mutex> lk(mu_);
    if (aborted_) return Error::Unavailable("aborted");
    out_.emplace_back(exits_ ? std::string("\x00\x09half", 6) : std::string(data));
    if (exits_) out_.emplace_back();  // "" = EXIT
    cv_.notify_all();
    return OkStatus();
  }
  Status CloseWrite() override { return OkStatus(); }
  Result<ExecEvent> Next() override {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return aborted_ || !out_.empty(); });
    if (aborted_) return Error::Unavailable("aborted");
    ExecEvent ev;
    ev.data = std::move(out_.front());
    out_.pop_front();
    if (ev.data.empty()) ev.kind = ExecEvent::kExit;
    return ev;
  }
  void Abort(const std::string&) override {
    std::lock_guard<std::mutex> lk(mu_);
    aborted_ = true;
    cv_.notify_all();
  }

 private:
  bool exits_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> out_;
  bool aborted_ = false;
};

UniqueFd UdpSocket(int* port) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
  if (port) *port = ntohs(a.sin_port);
  return fd;
}

std::string Ask(int fd, int port, const std::string& msg, std::chrono::milliseconds wait = 3000ms) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  (void)::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return "";
  char buf[70000];
  ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

class PortUdpTest : public ::testing::Test {
 protected:
  void Start(UdpOptions o, bool exits = false) {
    port_fd_ = UdpSocket(&port_);
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    wake_r_ = UniqueFd(p[0]);
    wake_w_ = UniqueFd(p[1]);
    server_ = std::thread([this, o, exits] {
      ServeUdpPort(
          port_fd_.get(), wake_r_.get(), "test",
          [this, exits]() -> Result<std::unique_ptr<RelayGuest>> {
            ++opened_;
            return std::unique_ptr<RelayGuest>(new FakeUdpGuest(exits));
          },
          o);
    });
  }
  void TearDown() override {
    if (server_.joinable()) {
      char b = 1;
      ASSERT_EQ(::write(wake_w_.get(), &b, 1), 1);
      server_.join();
    }
  }
  static UdpOptions Fast() {
    UdpOptions o;
    o.tick = 20ms;
    return o;
  }

  UniqueFd port_fd_, wake_r_, wake_w_;
  int port_ = 0;
  std::thread server_;
  std::atomic<int> opened_{0};
};

TEST(UdpFrame, RoundTripsAndWaitsForWholeFrames) {
  std::string buf, d;
  AppendUdpFrame(&buf, "abc");
  AppendUdpFrame(&buf, "");
  AppendUdpFrame(&buf, std::string(65535, 'z'));
  std::string half = buf.substr(0, 7);
  EXPECT_TRUE(TakeUdpFrame(&half, &d));
  EXPECT_EQ(d, "abc");
  EXPECT_TRUE(TakeUdpFrame(&half, &d));
  EXPECT_EQ(d, "");
  EXPECT_FALSE(TakeUdpFrame(&half, &d));  // the third is cut off
  ASSERT_TRUE(TakeUdpFrame(&buf, &d));
  ASSERT_TRUE(TakeUdpFrame(&buf, &d));
  ASSERT_TRUE(TakeUdpFrame(&buf, &d));
  EXPECT_EQ(d.size(), 65535U);
  EXPECT_TRUE(buf.empty());
}

TEST_F(PortUdpTest, EachClientIsItsOwnFlow) {
  Start(Fast());
  UniqueFd a = UdpSocket(nullptr), b = UdpSocket(nullptr);
  EXPECT_EQ(Ask(a.get(), port_, "from-a"), "from-a");
  EXPECT_EQ(Ask(b.get(), port_, "from-b"), "from-b");
  EXPECT_EQ(Ask(a.get(), port_, "again-a"), "again-a");
  EXPECT_EQ(opened_.load(), 2);
}

TEST_F(PortUdpTest, ClientsBeyondTheCapAreDropped) {
  UdpOptions o = Fast();
  o.max_flows = 1;
  Start(o);
  UniqueFd a = UdpSocket(nullptr), b = UdpSocket(nullptr);
  EXPECT_EQ(Ask(a.get(), port_, "a"), "a");
  EXPECT_EQ(Ask(b.get(), port_, "b", 500ms), "");
  EXPECT_EQ(Ask(a.get(), port_, "a2"), "a2");  // the first flow is unaffected
}

TEST_F(PortUdpTest, AnIdleFlowEndsAndTheNextDatagramOpensANewOne) {
  UdpOptions o = Fast();
  o.idle_timeout = 200ms;
  Start(o);
  UniqueFd a = UdpSocket(nullptr);
  EXPECT_EQ(Ask(a.get(), port_, "1"), "1");
  std::this_thread::sleep_for(800ms);
  EXPECT_EQ(Ask(a.get(), port_, "2"), "2");
  EXPECT_EQ(opened_.load(), 2);
}

TEST_F(PortUdpTest, AGuestCommandThatExitsEndsOnlyItsFlow) {
  Start(Fast(), /*exits=*/true);
  UniqueFd a = UdpSocket(nullptr);
  EXPECT_EQ(Ask(a.get(), port_, "x", 500ms), "");  // half a frame is never sent on
  // The port still serves: the next datagram opens a new flow.
  std::this_thread::sleep_for(300ms);
  (void)Ask(a.get(), port_, "y", 500ms);
  EXPECT_EQ(opened_.load(), 2);
}

}  // namespace
}  // namespace banger
