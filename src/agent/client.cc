#include "agent/client.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "agent/client_io.h"
#include "agent/protocol.h"

namespace banger {
namespace {

using agent_io::Clock;
using agent_io::MsLeft;
using agent_io::SendAll;

// How long Exec waits for OPEN_OK; the agent answers at once unless the
// guest is wedged.
constexpr auto kOpenTimeout = std::chrono::seconds(30);
// HELLO is repeated this often during the handshake, in case the first one
// reached an agent that was not reading yet or was still resyncing.
constexpr auto kHelloRepeat = std::chrono::seconds(1);
// Next() hands out at most this much merged output per event.
constexpr size_t kMaxEventBytes = 256 * 1024;

Error LostError(const std::string& reason) {
  return Error::Unavailable(reason.empty() ? "agent connection lost" : "agent connection lost: " + reason);
}

// One channel's state, shared by the reader thread and its ExecChannel.
// Guarded by Core::mu_.
struct ChannelState {
  uint32_t id = 0;
  std::string argv0;
  std::condition_variable cv;
  bool opened = false;
  std::optional<Error> failure;  // OPEN_FAIL, or an ERROR naming this channel
  std::deque<ExecEvent> events;
  bool exit_received = false;
  bool exit_delivered = false;
  // Output credit the agent still holds, and consumed bytes not yet returned.
  uint64_t recv_credit = agent::kDefaultHostWindow;
  uint64_t unacked = 0;
  // Stdin credit the agent granted and we have not used.
  uint64_t stdin_credit = 0;
  bool stdin_closed = false;
};

// The connection: the fd, the reader thread's demultiplexing, and the
// channels. Shared by AgentConn and every ExecChannel, which may outlive it.
class Core {
 public:
  Core(UniqueFd fd, agent::FrameDecoder decoder, uint32_t max_payload)
      : fd_(std::move(fd)), decoder_(std::move(decoder)), max_payload_(max_payload) {}

  uint32_t max_data() const { return std::min<uint32_t>(agent::kMaxDataChunk, max_payload_ - 1); }

  // Writes whole frames; serialised so frames never interleave.
  Status Send(const std::string& frame) {
    std::lock_guard<std::mutex> wl(write_mu_);
    Status st = SendAll(fd_.get(), frame);
    if (!st.ok()) {
      MarkLost(st.error().message());
      std::lock_guard<std::mutex> l(mu_);
      return LostError(lost_reason_);
    }
    return OkStatus();
  }

  // Registers a new channel and sends its OPEN under the write lock, so ids
  // reach the agent in increasing order even with concurrent Exec calls (the
  // agent rejects an id not above every earlier one).
  Status OpenChannel(const std::shared_ptr<ChannelState>& ch, const agent::Open& open) {
    std::string payload = agent::Encode(open);
    if (payload.size() > max_payload_) {
      return Error::Invalid("the command line and environment take " + std::to_string(payload.size()) +
                            " bytes; at most " + std::to_string(max_payload_) + " fit in one request");
    }
    std::lock_guard<std::mutex> wl(write_mu_);
    {
      std::lock_guard<std::mutex> l(mu_);
      if (lost_) return LostError(lost_reason_);
      ch->id = next_channel_;
      next_channel_ += 2;
      channels_[ch->id] = ch;
    }
    std::string frame;
    agent::AppendFrame(&frame, agent::MsgType::kOpen, 0, ch->id, payload);
    Status st = SendAll(fd_.get(), frame);
    if (!st.ok()) {
      MarkLost(st.error().message());
      std::lock_guard<std::mutex> l(mu_);
      channels_.erase(ch->id);
      return LostError(lost_reason_);
    }
    return OkStatus();
  }

  template <typename M>
  Status SendMessage(uint32_t channel, const M& m, uint8_t flags = 0) {
    std::string frame;
    agent::AppendMessage(&frame, channel, m, flags);
    return Send(frame);
  }

  void MarkLost(const std::string& reason) {
    std::lock_guard<std::mutex> l(mu_);
    if (lost_) return;
    lost_ = true;
    lost_reason_ = reason;
    for (auto& [id, ch] : channels_) ch->cv.notify_all();
    ping_cv_.notify_all();
  }

  // Wakes the reader thread (read returns 0) and fails blocked writers.
  void Shutdown() { ::shutdown(fd_.get(), SHUT_RDWR); }

  void ReaderLoop() {
    std::string buf(256 * 1024, '\0');
    for (;;) {
      while (auto f = decoder_.Next()) {
        if (!Dispatch(*f)) return;
      }
      if (uint64_t skipped = decoder_.TakeSkipped()) {
        spdlog::warn("agent: skipped {} bytes of unframed input", skipped);
      }
      ssize_t n = ::read(fd_.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        MarkLost(n == 0 ? "the agent closed the connection" : std::strerror(errno));
        return;
      }
      decoder_.Feed(std::string_view(buf.data(), n));
    }
  }

  // Lock order: write_mu_ before mu_; nothing holding mu_ may write.
  std::mutex mu_;
  // Everything below is guarded by mu_.
  bool lost_ = false;
  std::string lost_reason_;
  std::map<uint32_t, std::shared_ptr<ChannelState>> channels_;
  uint32_t next_channel_ = 1;       // odd, never reused
  std::map<uint64_t, bool> pings_;  // ping id -> answered
  uint64_t next_ping_ = 1;
  std::condition_variable ping_cv_;

 private:
  // Handles one frame from the agent; false ends the reader.
  bool Dispatch(const agent::Frame& f) {
    using agent::MsgType;
    auto type = static_cast<MsgType>(f.type);
    switch (type) {
      case MsgType::kData:
      case MsgType::kWindow:
      case MsgType::kExit:
      case MsgType::kOpenOk:
      case MsgType::kOpenFail:
      case MsgType::kEof:
        return OnChannelFrame(f);
      case MsgType::kPong: {
        auto pong = agent::Decode<agent::Pong>(f.payload);
        std::lock_guard<std::mutex> l(mu_);
        if (pong) {
          auto it = pings_.find(pong->id);
          if (it != pings_.end()) it->second = true;
          ping_cv_.notify_all();
        }
        return true;
      }
      case MsgType::kPing: {
        auto ping = agent::Decode<agent::Ping>(f.payload);
        if (ping) (void)SendMessage(0, agent::Pong{.id = ping->id});
        return true;
      }
      case MsgType::kGoAway: {
        auto bye = agent::Decode<agent::GoAway>(f.payload);
        MarkLost("the agent said goodbye" +
                 (bye && !bye->reason.empty() ? ": " + bye->reason : std::string()));
        return false;
      }
      case MsgType::kError: {
        auto err = agent::Decode<agent::ErrorMsg>(f.payload);
        if (!err) return true;
        spdlog::warn("agent reported error {} on channel {}: {}", err->code, err->channel, err->message);
        std::lock_guard<std::mutex> l(mu_);
        auto it = channels_.find(err->channel);
        if (err->channel != 0 && it != channels_.end() && !it->second->exit_received) {
          it->second->failure = Error::Internal("agent error: " + err->message);
          it->second->cv.notify_all();
        }
        return true;
      }
      case MsgType::kHelloAck:
        return true;  // a repeated HELLO's answer
      default:
        (void)SendMessage(
            0, agent::ErrorMsg{.code = static_cast<uint32_t>(agent::ErrorCode::kUnsupported),
                               .channel = f.channel,
                               .message = "unsupported message type " + agent::MsgTypeName(f.type)});
        return true;
    }
  }

  bool OnChannelFrame(const agent::Frame& f) {
    using agent::MsgType;
    std::unique_lock<std::mutex> l(mu_);
    auto it = channels_.find(f.channel);
    if (it == channels_.end()) return true;  // a channel we already let go
    ChannelState& ch = *it->second;
    switch (static_cast<MsgType>(f.type)) {
      case MsgType::kData: {
        auto d = agent::Decode<agent::Data>(f.payload);
        if (!d) return true;
        if (d->bytes.size() > ch.recv_credit) {
          // The agent broke flow control; buffering on would be unbounded.
          l.unlock();
          MarkLost("the agent sent output beyond its credit");
          return false;
        }
        ch.recv_credit -= d->bytes.size();
        if (d->bytes.empty()) return true;
        auto kind = d->stream == agent::Stream::kStderr ? ExecEvent::kStderr : ExecEvent::kStdout;
        ExecEvent ev;
        ev.kind = kind;
        ev.data = std::move(d->bytes);
        ch.events.push_back(std::move(ev));
        break;
      }
      case MsgType::kWindow:
        if (auto w = agent::Decode<agent::Window>(f.payload)) ch.stdin_credit += w->delta;
        break;
      case MsgType::kExit: {
        auto x = agent::Decode<agent::Exit>(f.payload);
        if (!x) return true;
        ExecEvent ev;
        ev.kind = ExecEvent::kExit;
        ev.exit.signaled = x->signaled;
        // A wait status holds an 8-bit code and a signal below 128; larger
        // values are the guest's invention. Clamped, ShellCode() stays 0-255
        // (not negative, not 128 + a signo that overflows int, not 256
        // which a CLI exit status would turn into success).
        ev.exit.code = static_cast<int>(std::min<uint32_t>(x->code, 255));
        ev.exit.signo = static_cast<int>(std::min<uint32_t>(x->signo, 127));
        ev.exit.core = x->core;
        ch.events.push_back(std::move(ev));
        ch.exit_received = true;
        break;
      }
      case MsgType::kOpenOk:
        if (auto ok = agent::Decode<agent::OpenOk>(f.payload)) {
          ch.opened = true;
          ch.stdin_credit = ok->window;
        }
        break;
      case MsgType::kOpenFail: {
        auto fail = agent::Decode<agent::OpenFail>(f.payload);
        int err = fail ? static_cast<int>(fail->err) : EIO;
        std::string stage = fail ? fail->stage : "open";
        ch.failure = Error::FromErrno("starting " + ch.argv0 + " in the guest: " + stage, err);
        break;
      }
      default:  // EOF of an output stream: EXIT follows, nothing to surface
        return true;
    }
    ch.cv.notify_all();
    return true;
  }

  UniqueFd fd_;
  std::mutex write_mu_;
  agent::FrameDecoder decoder_;  // only the reader thread touches it
  uint32_t max_payload_;
};

class ExecChannelImpl : public ExecChannel {
 public:
  ExecChannelImpl(std::shared_ptr<Core> core, std::shared_ptr<ChannelState> ch)
      : core_(std::move(core)), ch_(std::move(ch)) {}

  ~ExecChannelImpl() override {
    bool abandon;
    {
      std::lock_guard<std::mutex> l(core_->mu_);
      abandon = !ch_->exit_received && !core_->lost_;
      core_->channels_.erase(ch_->id);
    }
    // The command is still running and nobody will read it: the agent kills it.
    if (abandon) (void)core_->SendMessage(ch_->id, agent::Close{}, agent::kFlagRst);
  }

  Status WriteStdin(std::string_view data) override {
    while (!data.empty()) {
      size_t n;
      {
        std::unique_lock<std::mutex> l(core_->mu_);
        ch_->cv.wait(l, [&] {
          return ch_->stdin_credit > 0 || ch_->exit_received || core_->lost_ || ch_->stdin_closed ||
                 ch_->failure;
        });
        BANGER_RETURN_IF_ERROR(StateError());
        if (ch_->exit_received) return Error::Conflict("writing stdin: the command has exited");
        if (ch_->stdin_closed) return Error::Invalid("writing stdin: stdin is already closed");
        n = std::min<size_t>({data.size(), ch_->stdin_credit, core_->max_data()});
        ch_->stdin_credit -= n;
      }
      std::string frame;
      agent::AppendDataFrame(&frame, ch_->id, agent::Stream::kStdin, data.substr(0, n));
      BANGER_RETURN_IF_ERROR(core_->Send(frame));
      data.remove_prefix(n);
    }
    return OkStatus();
  }

  Status CloseStdin() override {
    {
      std::lock_guard<std::mutex> l(core_->mu_);
      BANGER_RETURN_IF_ERROR(StateError());
      if (ch_->stdin_closed || ch_->exit_received) return OkStatus();
      ch_->stdin_closed = true;
      ch_->cv.notify_all();
    }
    return core_->SendMessage(ch_->id, agent::Eof{.stream = agent::Stream::kStdin});
  }

  Status Signal(int signo) override {
    if (signo <= 0 || signo >= 65) return Error::Invalid("invalid signal number " + std::to_string(signo));
    if (Status st = Precheck(); !st.ok() || Done()) return st;
    return core_->SendMessage(ch_->id, agent::SignalMsg{.signo = static_cast<uint32_t>(signo)});
  }

  Status Resize(uint16_t rows, uint16_t cols) override {
    if (Status st = Precheck(); !st.ok() || Done()) return st;
    return core_->SendMessage(ch_->id, agent::Resize{.rows = rows, .cols = cols});
  }

  Result<ExecEvent> Next() override { return NextImpl(nullptr); }
  Result<ExecEvent> NextUntil(std::chrono::steady_clock::time_point deadline) override {
    return NextImpl(&deadline);
  }

 private:
  Result<ExecEvent> NextImpl(const std::chrono::steady_clock::time_point* deadline) {
    ExecEvent ev;
    uint32_t grant = 0;
    {
      std::unique_lock<std::mutex> l(core_->mu_);
      if (ch_->exit_delivered) return Error::Conflict("the command has exited: no more events");
      auto ready = [&] { return !ch_->events.empty() || core_->lost_ || ch_->failure; };
      if (!deadline) {
        ch_->cv.wait(l, ready);
      } else if (!ch_->cv.wait_until(l, *deadline, ready)) {
        return Error::Timeout("no output or exit from the command in time");
      }
      if (ch_->events.empty()) return ch_->failure ? *ch_->failure : LostError(core_->lost_reason_);
      ev = std::move(ch_->events.front());
      ch_->events.pop_front();
      if (ev.kind == ExecEvent::kExit) {
        ch_->exit_delivered = true;
        return ev;
      }
      // Merge what is already queued for the same stream: fewer wake-ups.
      while (!ch_->events.empty() && ch_->events.front().kind == ev.kind &&
             ev.data.size() + ch_->events.front().data.size() <= kMaxEventBytes) {
        ev.data += ch_->events.front().data;
        ch_->events.pop_front();
      }
      // Credit goes back only as output is consumed, so what is buffered
      // here never exceeds one window.
      ch_->unacked += ev.data.size();
      if (ch_->unacked >= agent::kDefaultHostWindow / 2 && !ch_->exit_received) {
        grant = static_cast<uint32_t>(ch_->unacked);
        ch_->recv_credit += ch_->unacked;
        ch_->unacked = 0;
      }
    }
    if (grant > 0) BANGER_RETURN_IF_ERROR(core_->SendMessage(ch_->id, agent::Window{.delta = grant}));
    return ev;
  }

  // The connection or channel failure, if any. Needs core_->mu_.
  Status StateError() const {
    if (ch_->failure) return *ch_->failure;
    if (core_->lost_ && !ch_->exit_received) return LostError(core_->lost_reason_);
    return OkStatus();
  }
  Status Precheck() {
    std::lock_guard<std::mutex> l(core_->mu_);
    return StateError();
  }
  // True once the command has exited: signals and resizes are then no-ops.
  bool Done() {
    std::lock_guard<std::mutex> l(core_->mu_);
    return ch_->exit_received;
  }

  std::shared_ptr<Core> core_;
  std::shared_ptr<ChannelState> ch_;
};

class AgentConnImpl : public AgentConn {
 public:
  AgentConnImpl(std::shared_ptr<Core> core, AgentInfo info) : core_(std::move(core)), info_(std::move(info)) {
    reader_ = std::thread([core = core_] { core->ReaderLoop(); });
  }

  ~AgentConnImpl() override {
    core_->MarkLost("the connection was closed");
    core_->Shutdown();
    reader_.join();
  }

  const AgentInfo& info() const override { return info_; }

  Result<std::unique_ptr<ExecChannel>> Exec(const ExecRequest& req) override {
    if (req.argv.empty() || req.argv[0].empty()) return Error::Invalid("exec: empty command");
    agent::Open open;
    open.argv = req.argv;
    for (const auto& [k, v] : req.env) open.env.push_back(k + "=" + v);
    open.cwd = req.cwd;
    open.tty = req.tty;
    open.rows = req.rows;
    open.cols = req.cols;
    open.window = agent::kDefaultHostWindow;

    auto ch = std::make_shared<ChannelState>();
    ch->argv0 = req.argv[0];
    BANGER_RETURN_IF_ERROR(core_->OpenChannel(ch, open));
    // From here on, ExecChannelImpl's destructor releases the channel (and
    // kills the command if it got that far).
    auto channel = std::make_unique<ExecChannelImpl>(core_, ch);

    std::unique_lock<std::mutex> l(core_->mu_);
    bool answered =
        ch->cv.wait_for(l, kOpenTimeout, [&] { return ch->opened || ch->failure || core_->lost_; });
    if (ch->failure) {
      ch->exit_received = true;  // nothing to kill
      return *ch->failure;
    }
    if (!ch->opened) {
      if (!answered) return Error::Timeout("starting " + req.argv[0] + ": the agent did not answer");
      return LostError(core_->lost_reason_);
    }
    return std::unique_ptr<ExecChannel>(std::move(channel));
  }

  Status Ping(std::chrono::milliseconds timeout) override {
    uint64_t id;
    {
      std::lock_guard<std::mutex> l(core_->mu_);
      if (core_->lost_) return LostError(core_->lost_reason_);
      id = core_->next_ping_++;
      core_->pings_[id] = false;
    }
    Status st = core_->SendMessage(0, agent::Ping{.id = id});
    std::unique_lock<std::mutex> l(core_->mu_);
    if (st.ok()) {
      core_->ping_cv_.wait_for(l, timeout, [&] { return core_->pings_[id] || core_->lost_; });
    }
    bool answered = core_->pings_[id];
    core_->pings_.erase(id);
    if (answered) return OkStatus();
    if (core_->lost_) return LostError(core_->lost_reason_);
    return Error::Timeout("the agent did not answer a ping within " + std::to_string(timeout.count()) +
                          " ms");
  }

 private:
  std::shared_ptr<Core> core_;
  AgentInfo info_;
  std::thread reader_;
};

std::string VersionString(uint16_t major, uint16_t minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

}  // namespace

Result<std::unique_ptr<AgentConn>> AgentConn::Handshake(UniqueFd fd, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return Error::FromErrno("agent handshake: fcntl");
  }
  std::random_device rd;
  uint64_t nonce = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  std::string hello;
  agent::AppendMessage(&hello, 0, agent::Hello{.nonce = nonce});

  agent::FrameDecoder decoder;
  std::string buf(64 * 1024, '\0');
  auto next_hello = Clock::now();
  for (;;) {
    if (Clock::now() >= next_hello) {
      BANGER_RETURN_IF_ERROR(Annotate(SendAll(fd.get(), hello), "agent handshake"));
      next_hello = Clock::now() + kHelloRepeat;
    }
    // Anything before the answer to our nonce is stale: discard it.
    while (auto f = decoder.Next()) {
      if (auto ack = agent::Parse<agent::HelloAck>(*f); ack && ack->nonce == nonce) {
        if (ack->major != agent::kProtocolMajor) {
          return Error::Unavailable("agent handshake: the guest agent speaks protocol " +
                                    VersionString(ack->major, ack->minor) + ", this host speaks " +
                                    VersionString(agent::kProtocolMajor, agent::kProtocolMinor));
        }
        AgentInfo info{.major = ack->major,
                       .minor = ack->minor,
                       .build = ack->build,
                       .boot_id = ack->boot_id,
                       .hostname = ack->hostname};
        uint32_t max_payload = std::clamp<uint32_t>(ack->max_frame, 4096, agent::kMaxPayloadLimit);
        auto core = std::make_shared<Core>(std::move(fd), std::move(decoder), max_payload);
        return std::unique_ptr<AgentConn>(std::make_unique<AgentConnImpl>(std::move(core), std::move(info)));
      }
      if (auto bye = agent::Parse<agent::GoAway>(*f); bye && bye->nonce == nonce) {
        return Error::Unavailable("agent handshake: the guest agent speaks protocol " +
                                  VersionString(bye->major, bye->minor) + ", this host speaks " +
                                  VersionString(agent::kProtocolMajor, agent::kProtocolMinor) +
                                  (bye->reason.empty() ? "" : " (" + bye->reason + ")"));
      }
    }
    decoder.TakeSkipped();
    int wait_ms = std::min(MsLeft(deadline), MsLeft(next_hello));
    if (Clock::now() >= deadline) {
      return Error::Timeout("agent handshake: no answer from the guest agent within " +
                            std::to_string(timeout.count()) + " ms");
    }
    pollfd p = {fd.get(), POLLIN, 0};
    int r = ::poll(&p, 1, wait_ms);
    if (r < 0 && errno != EINTR) return Error::FromErrno("agent handshake: poll");
    if (r <= 0) continue;
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("agent handshake: read");
    if (n == 0) return Error::Unavailable("agent handshake: the agent closed the connection");
    decoder.Feed(std::string_view(buf.data(), n));
  }
}

}  // namespace banger
