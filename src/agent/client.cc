#include "agent/client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "agent/client_core.h"
#include "agent/client_io.h"
#include "agent/protocol.h"

namespace banger {
namespace agent_client {

// HELLO is repeated this often during the handshake, in case the first one
// reached an agent that was not reading yet or was still resyncing.
constexpr auto kHelloRepeat = std::chrono::seconds(1);
// Output events queued per channel: output is bounded in bytes by the credit
// window, this bounds it in entries (tiny alternating stdout/stderr frames).
constexpr size_t kMaxQueuedEvents = 4096;
// Stdin credit the guest may grant beyond what we could ever send at once.
constexpr uint64_t kMaxStdinCredit = 64ULL << 20;
// The agent minor version that knows OPEN's user field.
constexpr uint16_t kUserMinor = 1;

// A guest's message for one log or error line: at most 256 bytes, control
// characters as '?'.
std::string PrintableLine(std::string_view s) {
  std::string out(s.substr(0, 256));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

void Core::ReaderLoop() {
  std::string buf(256 * 1024, '\0');
  for (;;) {
    while (auto f = decoder_.Next()) {
      if (!Dispatch(*f)) return;
    }
    // The handshake already discarded stale bytes: from here on the
    // stream is framed, and anything else is a broken or hostile agent.
    if (uint64_t skipped = decoder_.TakeSkipped()) {
      Violation(std::to_string(skipped) + " bytes of unframed input");
      return;
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

bool Core::Dispatch(const agent::Frame& f) {
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
      if (!ping) return Violation("a malformed PING");
      std::string frame;
      agent::AppendMessage(&frame, 0, agent::Pong{.id = ping->id});
      (void)TrySend(std::move(frame));
      return true;
    }
    case MsgType::kGoAway: {
      auto bye = agent::Decode<agent::GoAway>(f.payload);
      MarkLost("the agent said goodbye" + (bye && !bye->reason.empty() ? ": " + bye->reason : std::string()));
      return false;
    }
    case MsgType::kError: {
      auto err = agent::Decode<agent::ErrorMsg>(f.payload);
      if (!err) return Violation("a malformed ERROR");
      std::string message = err->message.substr(0, 200);
      opts_.log_limiter->Warn(opts_.label, "agent reported error " + std::to_string(err->code) +
                                               " on channel " + std::to_string(err->channel) + ": " +
                                               message);
      std::lock_guard<std::mutex> l(mu_);
      auto it = channels_.find(err->channel);
      if (err->channel != 0 && it != channels_.end() && !it->second->exit_received) {
        it->second->failure = Error::Internal("agent error: " + message);
        it->second->cv.notify_all();
      }
      return true;
    }
    case MsgType::kHelloAck:
      return true;  // a repeated HELLO's answer
    default: {
      std::string frame;
      agent::AppendMessage(
          &frame, 0,
          agent::ErrorMsg{.code = static_cast<uint32_t>(agent::ErrorCode::kUnsupported),
                          .channel = f.channel,
                          .message = "unsupported message type " + agent::MsgTypeName(f.type)});
      (void)TrySend(std::move(frame));
      return true;
    }
  }
}

bool Core::OnChannelFrame(const agent::Frame& f) {
  using agent::MsgType;
  auto type = static_cast<MsgType>(f.type);
  std::unique_lock<std::mutex> l(mu_);
  auto it = channels_.find(f.channel);
  if (it == channels_.end()) {
    // A channel we already let go may still get frames; one we never
    // opened may not.
    if (f.channel % 2 == 1 && f.channel < next_channel_) return true;
    l.unlock();
    return Violation(agent::MsgTypeName(f.type) + " on channel " + std::to_string(f.channel) +
                     ", which was never opened");
  }
  ChannelState& ch = *it->second;
  auto violation = [&](const std::string& what) {
    l.unlock();
    return Violation(what + " on channel " + std::to_string(f.channel));
  };
  // EXIT and OPEN_FAIL are the channel's last frames (FIN).
  if (ch.fin) return violation(agent::MsgTypeName(f.type) + " after the channel's last frame");
  switch (type) {
    case MsgType::kData: {
      if (!ch.opened) return violation("DATA before OPEN_OK");
      auto d = agent::Decode<agent::Data>(f.payload);
      if (!d) return violation("a malformed DATA");
      // The agent broke flow control; buffering on would be unbounded.
      if (d->bytes.size() > ch.recv_credit) return violation("output beyond its credit");
      ch.recv_credit -= d->bytes.size();
      if (d->bytes.empty()) return true;
      auto kind = d->stream == agent::Stream::kStderr ? ExecEvent::kStderr : ExecEvent::kStdout;
      if (!ch.events.empty() && ch.events.back().kind == kind &&
          ch.events.back().data.size() < kMaxEventBytes) {
        ch.events.back().data += d->bytes;
      } else {
        if (ch.events.size() >= kMaxQueuedEvents) return violation("too many queued output events");
        ExecEvent ev;
        ev.kind = kind;
        ev.data = std::move(d->bytes);
        ch.events.push_back(std::move(ev));
      }
      break;
    }
    case MsgType::kWindow: {
      auto w = agent::Decode<agent::Window>(f.payload);
      if (!w) return violation("a malformed WINDOW");
      if (ch.stdin_credit + w->delta > kMaxStdinCredit) return violation("stdin credit beyond 64 MiB");
      ch.stdin_credit += w->delta;
      break;
    }
    case MsgType::kExit: {
      auto x = agent::Decode<agent::Exit>(f.payload);
      if (!x) return violation("a malformed EXIT");
      if (!x->signaled && x->code > 255) return violation("exit code " + std::to_string(x->code));
      if (x->signaled && (x->signo < 1 || x->signo > 64)) {
        return violation("signal number " + std::to_string(x->signo));
      }
      ExecEvent ev;
      ev.kind = ExecEvent::kExit;
      ev.exit.signaled = x->signaled;
      ev.exit.code = x->signaled ? 0 : static_cast<int>(x->code);
      ev.exit.signo = x->signaled ? static_cast<int>(x->signo) : 0;
      ev.exit.core = x->core;
      ch.events.push_back(std::move(ev));
      ch.exit_received = true;
      ch.fin = true;
      break;
    }
    case MsgType::kOpenOk: {
      if (ch.opened) return violation("a second OPEN_OK");
      auto ok = agent::Decode<agent::OpenOk>(f.payload);
      if (!ok) return violation("a malformed OPEN_OK");
      ch.opened = true;
      ch.stdin_credit = std::min<uint64_t>(ok->window, kMaxStdinCredit);
      break;
    }
    case MsgType::kOpenFail: {
      if (ch.opened) return violation("OPEN_FAIL after OPEN_OK");
      auto fail = agent::Decode<agent::OpenFail>(f.payload);
      int err = fail ? static_cast<int>(std::min<uint32_t>(fail->err, 4095)) : EIO;
      std::string stage = fail ? fail->stage.substr(0, 64) : "open";
      if (stage == "user" && fail && !fail->message.empty()) {
        // The agent's own words ("unable to find user app: no matching
        // entries in passwd file"): the caller named a user the guest lacks.
        ch.failure =
            Error::Invalid("starting " + ch.argv0 + " in the guest: " + PrintableLine(fail->message));
      } else {
        ch.failure = Error::FromErrno("starting " + ch.argv0 + " in the guest: " + stage, err);
      }
      ch.fin = true;
      break;
    }
    case MsgType::kEof: {
      if (!ch.opened) return violation("EOF before OPEN_OK");
      auto e = agent::Decode<agent::Eof>(f.payload);
      if (!e) return violation("a malformed EOF");
      // Only stdout's end matters to a consumer (a relay half-closes its
      // host socket); stderr's end is implied by EXIT. A repeat is harmless.
      if (e->stream != agent::Stream::kStdout || ch.stdout_eof) return true;
      if (ch.events.size() >= kMaxQueuedEvents) return violation("too many queued output events");
      ch.stdout_eof = true;
      ExecEvent ev;
      ev.kind = ExecEvent::kStdoutEof;
      ch.events.push_back(std::move(ev));
      break;
    }
    default:
      return true;
  }
  ch.cv.notify_all();
  return true;
}

namespace {

class ExecChannelImpl : public ExecChannel {
 public:
  ExecChannelImpl(std::shared_ptr<Core> core, std::shared_ptr<ChannelState> ch)
      : core_(std::move(core)), ch_(std::move(ch)) {}

  ~ExecChannelImpl() override {
    bool abandon;
    {
      std::lock_guard<std::mutex> l(core_->mu_);
      abandon = !ch_->exit_received && !core_->lost_ && !ch_->close_sent;
      core_->channels_.erase(ch_->id);
    }
    // The command is still running and nobody will read it: the agent kills
    // it. Bounded: a guest that does not read loses the connection instead.
    if (abandon) (void)core_->SendMessage(ch_->id, agent::Close{}, agent::kFlagRst);
  }

  void Abort(const std::string& reason) override {
    bool send_close;
    {
      std::lock_guard<std::mutex> l(core_->mu_);
      if (!ch_->failure) ch_->failure = Error::Unavailable(reason);
      send_close = !ch_->exit_received && !core_->lost_ && !ch_->close_sent;
      ch_->close_sent = true;
      ch_->cv.notify_all();
    }
    if (send_close) {
      std::string frame;
      agent::AppendMessage(&frame, ch_->id, agent::Close{}, agent::kFlagRst);
      (void)core_->TrySend(std::move(frame));
    }
  }

  Status WriteStdin(std::string_view data) override {
    while (!data.empty()) {
      size_t n;
      {
        std::unique_lock<std::mutex> l(core_->mu_);
        bool woken = ch_->cv.wait_for(l, core_->opts().stdin_credit_timeout, [&] {
          return ch_->stdin_credit > 0 || ch_->exit_received || core_->lost_ || ch_->stdin_closed ||
                 ch_->failure;
        });
        BANGER_RETURN_IF_ERROR(StateError());
        if (!woken) {
          return Error::Timeout("writing stdin: the guest granted no credit for " +
                                std::to_string(core_->opts().stdin_credit_timeout.count()) + " ms");
        }
        if (ch_->exit_received) return Error::Conflict("writing stdin: the command has exited");
        if (ch_->stdin_closed) return Error::Invalid("writing stdin: stdin is already closed");
        n = std::min<size_t>({data.size(), ch_->stdin_credit, core_->max_data()});
        ch_->stdin_credit -= n;
      }
      std::string frame;
      agent::AppendDataFrame(&frame, ch_->id, agent::Stream::kStdin, data.substr(0, n));
      BANGER_RETURN_IF_ERROR(core_->Send(std::move(frame)));
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
    writer_ = std::thread([core = core_] { core->WriterLoop(); });
  }

  ~AgentConnImpl() override {
    core_->Fail("the connection was closed");
    reader_.join();
    writer_.join();
  }

  void Close(const std::string& reason) override { core_->Fail(reason); }

  const AgentInfo& info() const override { return info_; }

  Result<std::unique_ptr<ExecChannel>> Exec(const ExecRequest& req) override {
    if (req.argv.empty() || req.argv[0].empty()) return Error::Invalid("exec: empty command");
    if (!req.user.empty()) {
      BANGER_RETURN_IF_ERROR(ValidateExecUser(req.user));
      if (info_.minor < kUserMinor) {
        return Error::Unavailable("exec as user " + req.user + ": the guest agent (" + info_.build +
                                  ") is too old to run commands as another user; rebuild the image");
      }
    }
    agent::Open open;
    open.argv = req.argv;
    for (const auto& [k, v] : req.env) open.env.push_back(k + "=" + v);
    open.cwd = req.cwd;
    open.tty = req.tty;
    open.rows = req.rows;
    open.cols = req.cols;
    open.window = agent::kDefaultHostWindow;
    open.user = req.user;

    auto ch = std::make_shared<ChannelState>();
    ch->argv0 = req.argv[0];
    BANGER_RETURN_IF_ERROR(core_->OpenChannel(ch, open));
    // From here on, ExecChannelImpl's destructor releases the channel (and
    // kills the command if it got that far).
    auto channel = std::make_unique<ExecChannelImpl>(core_, ch);

    std::unique_lock<std::mutex> l(core_->mu_);
    bool answered =
        ch->cv.wait_for(l, req.open_timeout, [&] { return ch->opened || ch->failure || core_->lost_; });
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
  std::thread writer_;
};

std::string VersionString(uint16_t major, uint16_t minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

}  // namespace
}  // namespace agent_client

using agent_client::AgentConnImpl;
using agent_client::Core;
using agent_client::kHelloRepeat;
using agent_client::VersionString;
using agent_io::Clock;
using agent_io::MsLeft;
using agent_io::SendAllUntil;

Result<std::unique_ptr<AgentConn>> AgentConn::Handshake(UniqueFd fd, std::chrono::milliseconds timeout,
                                                        AgentConnOptions opts) {
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
      BANGER_RETURN_IF_ERROR(Annotate(SendAllUntil(fd.get(), hello, deadline), "agent handshake"));
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
                       .hostname = ack->hostname,
                       .vm_id = ack->vm_id};
        uint32_t max_payload = std::clamp<uint32_t>(ack->max_frame, 4096, agent::kMaxPayloadLimit);
        auto core = std::make_shared<Core>(std::move(fd), std::move(decoder), max_payload, std::move(opts));
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

Status ValidateExecUser(const std::string& user) {
  if (user.size() > 256) return Error::Invalid("user \"" + user.substr(0, 32) + "...\" is too long");
  for (char c : user) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Error::Invalid("user \"" + agent_client::PrintableLine(user) + "\" has a control character");
    }
  }
  return OkStatus();
}

}  // namespace banger
