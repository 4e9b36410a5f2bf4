// The client against a scripted hostile agent over a socketpair: the guest
// is not trusted to read, to grant credit or to keep to the protocol
// (docs/agent-protocol.md, "Hostile guests").
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <thread>

#include "agent/client.h"
#include "agent/protocol.h"

namespace banger {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

bool Put(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

template <typename M>
std::string Msg(uint32_t channel, const M& m, uint8_t flags = 0) {
  std::string out;
  agent::AppendMessage(&out, channel, m, flags);
  return out;
}

// A fake agent: answers HELLO, then hands each OPEN's channel to on_open
// (which may take over the socket; returning false ends the fake).
class FakeAgent {
 public:
  explicit FakeAgent(std::function<bool(int fd, uint32_t channel)> on_open) : on_open_(std::move(on_open)) {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    host_ = UniqueFd(sv[0]);
    guest_ = UniqueFd(sv[1]);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeAgent() {
    ::shutdown(guest_.get(), SHUT_RDWR);
    thread_.join();
  }
  std::unique_ptr<AgentConn> Connect(AgentConnOptions opts) {
    auto conn = AgentConn::Handshake(std::move(host_), 10s, std::move(opts));
    EXPECT_TRUE(conn.ok()) << conn.error().message();
    return conn.ok() ? std::move(*conn) : nullptr;
  }

 private:
  void Serve() {
    agent::FrameDecoder dec;
    char buf[65536];
    for (;;) {
      while (auto f = dec.Next()) {
        if (auto h = agent::Parse<agent::Hello>(*f)) {
          if (!Put(guest_.get(), Msg(0, agent::HelloAck{.nonce = h->nonce}))) return;
        } else if (f->type == static_cast<uint8_t>(agent::MsgType::kOpen)) {
          if (!on_open_(guest_.get(), f->channel)) return;
        }
      }
      ssize_t n = ::read(guest_.get(), buf, sizeof buf);
      if (n <= 0) return;
      dec.Feed(std::string_view(buf, static_cast<size_t>(n)));
    }
  }

  std::function<bool(int, uint32_t)> on_open_;
  UniqueFd host_, guest_;
  std::thread thread_;
};

// Starts argv0 on the connection with the default request.
Result<std::unique_ptr<ExecChannel>> ExecOne(AgentConn& conn, const std::string& argv0) {
  ExecRequest req;
  req.argv = {argv0};
  return conn.Exec(req);
}

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Finding 2: PINGs flooded at a host while the guest reads nothing. The
// reader does not block on PONGs, so the host's own writes fail at the send
// deadline (and the connection with them) instead of hanging forever.
TEST(AgentHostileTest, PingFloodWithoutReadingCostsTheConnectionNotTheWriters) {
  FakeAgent fake([](int fd, uint32_t) {
    std::string pings;
    for (int i = 0; i < 64; ++i) pings += Msg(0, agent::Ping{.id = static_cast<uint64_t>(i)});
    while (Put(fd, pings)) {
    }
    return false;
  });
  AgentConnOptions opts;
  opts.send_timeout = 500ms;
  auto conn = fake.Connect(opts);
  ASSERT_TRUE(conn);
  auto t0 = Clock::now();
  ExecRequest req;
  req.argv = {"true"};
  req.open_timeout = 20s;
  auto ch = conn->Exec(req);  // the OPEN starts the flood
  ASSERT_FALSE(ch.ok());
  EXPECT_EQ(ch.error().kind(), ErrorKind::kUnavailable) << ch.error().message();
  EXPECT_LT(MsSince(t0), 10000) << ch.error().message();
  // Every later write fails at once.
  t0 = Clock::now();
  EXPECT_FALSE(conn->Ping(5s).ok());
  EXPECT_LT(MsSince(t0), 1000);
}

// Finding 4: a guest-chosen signal number is rejected, not added to 128.
TEST(AgentHostileTest, OutOfRangeSignalIsAProtocolViolation) {
  FakeAgent fake([](int fd, uint32_t ch) {
    std::string out = Msg(ch, agent::OpenOk{.pid = 1, .window = 0});
    out += Msg(ch, agent::Exit{.signaled = true, .signo = 0x7fffffff}, agent::kFlagFin);
    return Put(fd, out);
  });
  auto conn = fake.Connect({});
  ASSERT_TRUE(conn);
  auto ch = ExecOne(*conn, "true");
  if (!ch.ok()) {  // the violation may beat OPEN_OK's waiter
    EXPECT_NE(ch.error().message().find("protocol violation"), std::string::npos) << ch.error().message();
    return;
  }
  auto ev = (*ch)->NextUntil(Clock::now() + 10s);
  ASSERT_FALSE(ev.ok()) << "exit " << ev->exit.ShellCode();
  EXPECT_NE(ev.error().message().find("signal number 2147483647"), std::string::npos) << ev.error().message();
}

TEST(AgentHostileTest, ExitCodeAbove255IsAProtocolViolation) {
  FakeAgent fake([](int fd, uint32_t ch) {
    std::string out = Msg(ch, agent::OpenOk{.pid = 1, .window = 0});
    out += Msg(ch, agent::Exit{.code = 256}, agent::kFlagFin);
    return Put(fd, out);
  });
  auto conn = fake.Connect({});
  ASSERT_TRUE(conn);
  auto ch = ExecOne(*conn, "true");
  if (!ch.ok()) return;
  auto ev = (*ch)->NextUntil(Clock::now() + 10s);
  ASSERT_FALSE(ev.ok()) << "exit " << ev->exit.ShellCode();
  EXPECT_NE(ev.error().message().find("exit code 256"), std::string::npos) << ev.error().message();
}

// Finding 3: frames after EXIT lose the connection; the EXIT already
// received is still delivered, and nothing queues without bound.
TEST(AgentHostileTest, FramesAfterExitDropTheConnection) {
  FakeAgent fake([](int fd, uint32_t ch) {
    std::string out = Msg(ch, agent::OpenOk{.pid = 1, .window = 0});
    out += Msg(ch, agent::Exit{.code = 3}, agent::kFlagFin);
    if (!Put(fd, out)) return false;
    std::string more;
    for (int i = 0; i < 1000; ++i) more += Msg(ch, agent::Exit{.code = 4}, agent::kFlagFin);
    while (Put(fd, more)) {
    }
    return false;
  });
  auto conn = fake.Connect({});
  ASSERT_TRUE(conn);
  auto ch = ExecOne(*conn, "true");
  ASSERT_TRUE(ch.ok()) << ch.error().message();
  auto ev = (*ch)->NextUntil(Clock::now() + 10s);
  ASSERT_TRUE(ev.ok()) << ev.error().message();
  EXPECT_EQ(ev->kind, ExecEvent::kExit);
  EXPECT_EQ(ev->exit.code, 3);
  auto t0 = Clock::now();
  Status ping = conn->Ping(5s);
  EXPECT_FALSE(ping.ok());
  EXPECT_LT(MsSince(t0), 5000);
}

// Finding 5: no stdin credit, ever. WriteStdin gives up at its deadline,
// (AbortWakesAWriterWaitingForCredit: Abort wakes it at once).
TEST(AgentHostileTest, WriteStdinWithoutCreditHasADeadline) {
  FakeAgent fake([](int fd, uint32_t ch) { return Put(fd, Msg(ch, agent::OpenOk{.pid = 1, .window = 0})); });
  AgentConnOptions opts;
  opts.stdin_credit_timeout = 300ms;
  auto conn = fake.Connect(opts);
  ASSERT_TRUE(conn);
  auto ch = ExecOne(*conn, "cat");
  ASSERT_TRUE(ch.ok()) << ch.error().message();
  auto t0 = Clock::now();
  Status st = (*ch)->WriteStdin("hello");
  EXPECT_EQ(st.error().kind(), ErrorKind::kTimeout) << st.error().message();
  EXPECT_LT(MsSince(t0), 5000);
}

TEST(AgentHostileTest, AbortWakesAWriterWaitingForCredit) {
  FakeAgent fake([](int fd, uint32_t ch) { return Put(fd, Msg(ch, agent::OpenOk{.pid = 1, .window = 0})); });
  auto conn = fake.Connect({});  // stdin_credit_timeout: 60 s
  ASSERT_TRUE(conn);
  auto ch = ExecOne(*conn, "cat");
  ASSERT_TRUE(ch.ok()) << ch.error().message();
  std::thread aborter([&] {
    std::this_thread::sleep_for(200ms);
    (*ch)->Abort("given up");
  });
  auto t0 = Clock::now();
  Status st = (*ch)->WriteStdin("hello");
  aborter.join();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("given up"), std::string::npos) << st.error().message();
  EXPECT_LT(MsSince(t0), 5000);
}

// Finding 3: frames on a channel never opened lose the connection.
TEST(AgentHostileTest, UnknownChannelFloodDropsTheConnection) {
  FakeAgent fake([](int fd, uint32_t ch) {
    std::string out = Msg(ch, agent::OpenOk{.pid = 1, .window = 0});
    for (int i = 0; i < 100; ++i) out += Msg(ch + 1000, agent::Window{.delta = 1});
    return Put(fd, out);
  });
  auto conn = fake.Connect({});
  ASSERT_TRUE(conn);
  auto ch = ExecOne(*conn, "cat");
  ASSERT_TRUE(ch.ok()) << ch.error().message();
  auto ev = (*ch)->NextUntil(Clock::now() + 10s);
  ASSERT_FALSE(ev.ok());
  EXPECT_NE(ev.error().message().find("never opened"), std::string::npos) << ev.error().message();
}

}  // namespace
}  // namespace banger
