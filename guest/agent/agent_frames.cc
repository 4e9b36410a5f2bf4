// The agent's handlers for frames from the host: the session handshake
// (HELLO), channel 0 control (PING, ERROR), OPEN, and the frames on an open
// channel (DATA, WINDOW, EOF, SIGNAL, RESIZE, CLOSE). Nothing the host sends
// can crash the agent: a malformed frame is answered with ERROR.
#include <errno.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "agent.h"
#include "agent_internal.h"
#include "fixup.h"
#include "spawn.h"

namespace banger::agent {
namespace {

std::string Hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return {};
  return name;
}

}  // namespace

void Agent::SendError(Conn& c, ErrorCode code, uint32_t channel, const std::string& message) {
  Log("connection %d: channel %u: %s", c.id, channel, message.c_str());
  QueueControl(c, 0, ErrorMsg{.code = static_cast<uint32_t>(code), .channel = channel, .message = message});
}

void Agent::HandleFrame(Conn& c, Frame& f) {
  auto type = static_cast<MsgType>(f.type);
  if (type == MsgType::kHello) {
    HandleHello(c, f);
    return;
  }
  if (!c.ready) {
    // Leftovers of an earlier host, or a host that skipped HELLO.
    if (!c.dropped_notice) Log("connection %d: ignoring %s before HELLO", c.id, MsgTypeName(f.type).c_str());
    c.dropped_notice = true;
    return;
  }
  switch (type) {
    case MsgType::kPing: {
      auto ping = Decode<Ping>(f.payload);
      if (!ping) return SendError(c, ErrorCode::kBadMessage, 0, "malformed PING");
      QueueControl(c, 0, Pong{.id = ping->id});
      return;
    }
    case MsgType::kGoAway:
      Log("connection %d: host said goodbye", c.id);
      ResetSession(c);
      return;
    case MsgType::kError: {
      auto err = Decode<ErrorMsg>(f.payload);
      Log("connection %d: host reported error %u on channel %u: %s", c.id, err ? err->code : 0,
          err ? err->channel : 0, err ? err->message.c_str() : "(malformed)");
      return;
    }
    case MsgType::kOpen:
      HandleOpen(c, f);
      return;
    case MsgType::kData:
    case MsgType::kWindow:
    case MsgType::kEof:
    case MsgType::kSignal:
    case MsgType::kResize:
    case MsgType::kClose: {
      Exec* e = FindExec(c, f.channel);
      if (e != nullptr) {
        HandleChannelFrame(c, *e, f);
      } else if (f.channel == 0 || f.channel > c.highest_channel || f.channel % 2 == 0) {
        SendError(
            c, ErrorCode::kBadChannel, f.channel,
            MsgTypeName(f.type) + " for channel " + std::to_string(f.channel) + ", which was never opened");
      }
      // Otherwise the channel has finished: late frames are expected races.
      return;
    }
    default:
      SendError(c, ErrorCode::kUnsupported, f.channel, "unsupported message type " + MsgTypeName(f.type));
      return;
  }
}

void Agent::HandleHello(Conn& c, const Frame& f) {
  auto hello = Decode<Hello>(f.payload);
  if (!hello) {
    Log("connection %d: malformed HELLO", c.id);
    return;
  }
  // Whatever ran before belongs to an earlier host session.
  ResetSession(c);
  if (hello->major != kProtocolMajor) {
    std::string reason = "protocol version mismatch: host speaks " + std::to_string(hello->major) + "." +
                         std::to_string(hello->minor) + ", agent speaks " + std::to_string(kProtocolMajor) +
                         "." + std::to_string(kProtocolMinor);
    Log("connection %d: %s", c.id, reason.c_str());
    QueueControl(c, 0, GoAway{.nonce = hello->nonce, .reason = reason});
    return;
  }
  c.ready = true;
  // Never below a floor that fits a DATA chunk header plus some bytes.
  c.max_payload = std::clamp<uint32_t>(hello->max_frame, 4096, kMaxPayloadLimit);
  QueueControl(c, 0,
               HelloAck{.nonce = hello->nonce,
                        .major = kProtocolMajor,
                        .minor = std::min(hello->minor, kProtocolMinor),
                        .features = 0,
                        .max_frame = c.max_payload,
                        .build = build_,
                        .boot_id = boot_id_,
                        .hostname = Hostname(),
                        .vm_id = CurrentVmId()});
}

void Agent::HandleOpen(Conn& c, const Frame& f) {
  uint32_t ch = f.channel;
  if (ch == 0 || ch % 2 == 0 || ch <= c.highest_channel) {
    SendError(c, ErrorCode::kBadChannel, ch,
              "OPEN for channel " + std::to_string(ch) + ", not a new host channel id");
    return;
  }
  c.highest_channel = ch;
  auto open = Decode<Open>(f.payload);
  auto fail = [&](int err, const std::string& stage, const std::string& message = "") {
    QueueControl(c, ch,
                 OpenFail{.err = static_cast<uint32_t>(err),
                          .stage = stage,
                          .message = message.empty() ? strerror(err) : message},
                 kFlagFin);
  };
  if (!open) return SendError(c, ErrorCode::kBadMessage, ch, "malformed OPEN");
  if (open->kind != static_cast<uint8_t>(OpenKind::kExec)) return fail(EPROTONOSUPPORT, "kind");
  if (open->argv.empty() || open->argv[0].empty()) return fail(EINVAL, "argv");
  if (c.execs.size() >= kMaxChannels) return fail(EAGAIN, "limit");

  std::optional<ResolvedUser> user;
  if (!open->user.empty()) {
    // Read at every OPEN: the guest may have added the user a moment ago.
    std::string why;
    user.emplace();
    if (!ResolveGuestUser(open->user, &*user, &why)) return fail(ENOENT, "user", why);
  }
  SpawnRequest req{.argv = open->argv,
                   .env = MergeEnv(open->tty, open->env, user ? user->home : "/root"),
                   .cwd = open->cwd,
                   .tty = open->tty,
                   .rows = open->rows,
                   .cols = open->cols,
                   .user = std::move(user)};
  Spawned sp;
  SpawnFailure sf;
  if (!Spawn(req, &sp, &sf)) return fail(sf.err, sf.stage);

  auto e = std::make_unique<Exec>();
  e->channel = ch;
  e->pid = sp.pid;
  e->tty = open->tty;
  e->stdin_fd = std::move(sp.stdin_fd);
  e->stdout_fd = std::move(sp.stdout_fd);
  e->stderr_fd = std::move(sp.stderr_fd);
  e->send_credit = open->window;
  e->stdin_credit = kDefaultGuestWindow;
  pids_[sp.pid] = {c.id, ch};
  c.execs[ch] = std::move(e);
  QueueControl(c, ch, OpenOk{.pid = static_cast<uint32_t>(sp.pid), .window = kDefaultGuestWindow});
}

void Agent::HandleChannelFrame(Conn& c, Exec& e, Frame& f) {
  uint32_t ch = e.channel;
  switch (static_cast<MsgType>(f.type)) {
    case MsgType::kData: {
      if (f.payload.empty() || static_cast<Stream>(f.payload[0]) != Stream::kStdin) {
        return SendError(c, ErrorCode::kBadMessage, ch, "DATA from the host must be stdin");
      }
      size_t n = f.payload.size() - 1;
      if (n > e.stdin_credit) {
        return SendError(c, ErrorCode::kFlowControl, ch,
                         "stdin DATA of " + std::to_string(n) + " bytes exceeds the credit of " +
                             std::to_string(e.stdin_credit));
      }
      e.stdin_credit -= n;
      if (e.stdin_broken || e.stdin_eof || !e.stdin_fd.valid() || e.closed_by_host) {
        ConsumeStdin(c, e, n);  // nobody will read it: hand the credit back
        return;
      }
      e.stdin_buf.append(f.payload, 1, n);
      WriteStdin(c, e);
      return;
    }
    case MsgType::kWindow: {
      auto w = Decode<Window>(f.payload);
      if (!w) return SendError(c, ErrorCode::kBadMessage, ch, "malformed WINDOW");
      e.send_credit += w->delta;
      return;
    }
    case MsgType::kEof: {
      auto eof = Decode<Eof>(f.payload);
      if (!eof || eof->stream != Stream::kStdin)
        return SendError(c, ErrorCode::kBadMessage, ch, "EOF must name stdin");
      e.stdin_eof = true;
      MaybeCloseStdin(e);
      return;
    }
    case MsgType::kSignal: {
      auto s = Decode<SignalMsg>(f.payload);
      if (!s || s->signo == 0 || s->signo >= static_cast<uint32_t>(NSIG)) {
        return SendError(c, ErrorCode::kBadMessage, ch, "SIGNAL needs a valid signal number");
      }
      if (kill(-e.pid, static_cast<int>(s->signo)) != 0 && errno == ESRCH && !e.exited) {
        kill(e.pid, static_cast<int>(s->signo));
      }
      return;
    }
    case MsgType::kResize: {
      auto r = Decode<Resize>(f.payload);
      if (!r) return SendError(c, ErrorCode::kBadMessage, ch, "malformed RESIZE");
      if (e.tty && e.stdout_fd.valid()) {
        struct winsize ws = {};
        ws.ws_row = r->rows;
        ws.ws_col = r->cols;
        ioctl(e.stdout_fd.get(), TIOCSWINSZ, &ws);
      }
      return;
    }
    case MsgType::kClose: {
      // The host gave up on the command: kill it and send nothing more.
      if (e.exited) {
        c.execs.erase(ch);
        return;
      }
      KillExec(e);
      e.closed_by_host = true;
      e.stdout_fd.Reset();
      e.stderr_fd.Reset();
      e.stdin_fd.Reset();
      e.stdin_buf.clear();
      return;
    }
    default:
      return;
  }
}

}  // namespace banger::agent
