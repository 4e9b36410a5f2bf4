// The host's guest-agent client (agent/client.h) against a hostile guest: a
// socketpair whose far end is a scripted "guest" thread. The input is the
// script: raw bytes, frames of any type on any channel, and well-formed
// messages that echo what the host sent (the HELLO's nonce, the OPEN's
// channel, a PING's id) so the script gets past the handshake into exec and
// flow control. The host runs Handshake, Exec (stdin, resize, signal, output
// until the exit) and Ping, the way the daemon does. Invariants: nothing
// crashes, leaks or hangs (libFuzzer's -timeout); output never exceeds the
// credit the host granted.
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

#include "agent/client.h"
#include "agent/protocol.h"
#include "base/unique_fd.h"
#include "fuzz/fuzz_util.h"

namespace banger {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class Guest {
 public:
  Guest(UniqueFd fd, std::string script, const std::atomic<bool>& host_done)
      : fd_(std::move(fd)), script_(std::move(script)), host_done_(host_done) {}

  void Run() {
    fuzz::Input in(reinterpret_cast<const uint8_t*>(script_.data()), script_.size());
    while (!in.empty() && sent_ok_) Step(in);
    fd_.Reset();  // the guest goes away: the host must notice
  }

 private:
  template <typename M>
  void Send(uint32_t channel, const M& m, uint8_t flags = 0) {
    std::string out;
    agent::AppendMessage(&out, channel, m, flags);
    SendRaw(out);
  }
  void SendRaw(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        sent_ok_ = false;
        return;
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

  // Reads what the host sent, waiting up to `wait` for at least one frame.
  void ReadHost(std::chrono::milliseconds wait) {
    auto deadline = Clock::now() + wait;
    bool got = false;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd p{fd_.get(), POLLIN, 0};
      int r = ::poll(&p, 1, got ? 0 : static_cast<int>(std::max<int64_t>(left, 0)));
      if (r <= 0) return;
      char buf[65536];
      ssize_t n = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) return;
      dec_.Feed(std::string_view(buf, static_cast<size_t>(n)));
      while (auto f = dec_.Next()) {
        got = true;
        if (auto h = agent::Parse<agent::Hello>(*f)) nonce_ = h->nonce, have_nonce_ = true;
        if (auto o = agent::Parse<agent::Open>(*f)) channel_ = f->channel, have_channel_ = true;
        if (auto p = agent::Parse<agent::Ping>(*f)) ping_ = p->id, have_ping_ = true;
      }
    }
  }
  // Waits (bounded, and only while the host still runs) until `have` holds.
  // All waits of one input share one budget: a script that waits for what
  // the host will never send (a channel after a failed handshake) must not
  // make every input slow.
  void WaitFor(const bool& have) {
    auto start = Clock::now();
    while (!have && !host_done_ && Clock::now() - start < wait_budget_) ReadHost(2ms);
    wait_budget_ -= std::min<Clock::duration>(wait_budget_, Clock::now() - start);
  }
  uint32_t Channel(fuzz::Input& in) {
    switch (in.U8() % 4) {
      case 0:
        return 0;
      case 1:
        return in.U32();
      default:
        WaitFor(have_channel_);
        return channel_;
    }
  }

  void Step(fuzz::Input& in) {
    ReadHost(0ms);
    switch (in.U8() % 14) {
      case 0:
        SendRaw(in.Short());
        break;
      case 1: {
        WaitFor(have_nonce_);
        agent::HelloAck a;
        a.nonce = in.U8() % 8 == 0 ? in.U64() : nonce_;
        if (in.U8() % 8 == 0) a.major = in.U16();
        a.minor = in.U16();
        a.features = in.U64();
        a.max_frame = in.U32();
        a.build = in.Short();
        a.boot_id = in.Short();
        a.hostname = in.Short();
        Send(0, a);
        break;
      }
      case 2: {
        uint8_t type = in.U8(), flags = in.U8();
        uint32_t ch = Channel(in);
        std::string out;
        agent::AppendFrame(&out, static_cast<agent::MsgType>(type), flags, ch, in.Short());
        SendRaw(out);
        break;
      }
      case 3: {
        uint32_t ch = Channel(in);
        Send(ch, agent::OpenOk{.pid = in.U32(), .window = in.U32()});
        break;
      }
      case 4: {
        uint32_t ch = Channel(in);
        auto stream = static_cast<agent::Stream>(in.U8() % 5);
        size_t n = static_cast<size_t>(in.U8()) * in.U8();
        std::string out;
        agent::AppendDataFrame(&out, ch, stream, std::string(n, 'x'));
        SendRaw(out);
        break;
      }
      case 5: {
        uint32_t ch = Channel(in);
        agent::Exit x;
        x.signaled = in.U8() & 1;
        x.code = in.U32();
        x.signo = in.U32();
        x.core = in.U8() & 1;
        Send(ch, x, agent::kFlagFin);
        break;
      }
      case 6: {
        WaitFor(have_ping_);
        Send(0, agent::Pong{.id = in.U8() % 8 == 0 ? in.U64() : ping_});
        break;
      }
      case 7: {
        uint32_t ch = Channel(in);
        Send(ch, agent::Window{.delta = in.U32()});
        break;
      }
      case 8: {
        uint32_t ch = Channel(in);
        agent::OpenFail f;
        f.err = in.U32();
        f.stage = in.Short();
        f.message = in.Short();
        Send(ch, f, agent::kFlagFin);
        break;
      }
      case 9:
        ReadHost(std::chrono::milliseconds(in.U8() % 20));
        break;
      case 10: {
        WaitFor(have_nonce_);
        agent::GoAway g;
        g.nonce = nonce_;
        g.major = in.U16();
        g.reason = in.Short();
        Send(0, g);
        break;
      }
      case 11: {
        agent::ErrorMsg e;
        e.code = in.U32();
        e.channel = Channel(in);
        e.message = in.Short();
        Send(0, e);
        break;
      }
      case 12:
        Send(0, agent::Ping{.id = in.U64()});
        break;
      default: {
        uint32_t ch = Channel(in);
        Send(ch, agent::Eof{.stream = static_cast<agent::Stream>(in.U8() % 4)});
        break;
      }
    }
  }

  UniqueFd fd_;
  std::string script_;
  const std::atomic<bool>& host_done_;
  agent::FrameDecoder dec_;
  bool sent_ok_ = true;
  uint64_t nonce_ = 0, ping_ = 0;
  uint32_t channel_ = 0;
  bool have_nonce_ = false, have_channel_ = false, have_ping_ = false;
  Clock::duration wait_budget_ = 30ms;
};

void Host(UniqueFd fd, uint8_t mode) {
  auto conn = AgentConn::Handshake(std::move(fd), 3s);
  if (!conn.ok()) return;
  (void)(*conn)->info();
  ExecRequest req;
  req.argv = {"sh", "-c", "cat"};
  req.env = {{"A", "1"}};
  req.tty = mode & 1;
  auto ch = (*conn)->Exec(req);
  if (ch.ok()) {
    if (mode & 2) (void)(*ch)->WriteStdin(std::string(mode & 4 ? 100000 : 10, 'i'));
    (void)(*ch)->Resize(40, 120);
    (void)(*ch)->Signal(2);
    (void)(*ch)->CloseStdin();
    size_t out = 0;
    for (int i = 0; i < 100000; ++i) {
      auto ev = (*ch)->NextUntil(Clock::now() + 5s);
      if (!ev.ok()) break;
      if (ev->kind == ExecEvent::kExit) {
        // What the API and workspace prepare report (api/exec_stream.cc).
        int code = ev->exit.ShellCode();
        BANGER_FUZZ_CHECK(code >= 0 && code <= 255);
        BANGER_FUZZ_CHECK(!(*ch)->Next().ok());  // nothing after the exit
        break;
      }
      out += ev->data.size();
    }
    (void)out;
  }
  (void)(*conn)->Ping(mode & 8 ? 100ms : 1ms);
}

}  // namespace
}  // namespace banger

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger;
  fuzz::Input in(data, size);
  uint8_t mode = in.U8();
  int sv[2];
  BANGER_FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  UniqueFd host_fd(sv[0]), guest_fd(sv[1]);
  std::atomic<bool> host_done{false};
  Guest guest(std::move(guest_fd), std::string(in.Rest()), host_done);
  std::thread g([&] { guest.Run(); });
  Host(std::move(host_fd), mode);
  host_done = true;
  g.join();
  return 0;
}
