#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "spawn.h"

namespace banger::agent {
namespace {

// Output is read from commands only while the connection's unsent backlog is
// below this, so a slow transport bounds what the agent holds.
constexpr size_t kBacklogLimit = 256 * 1024;
// The wire buffer is refilled up to this much at a time, so control frames
// queued meanwhile wait behind at most this many bytes.
constexpr size_t kWireBatch = 64 * 1024;
// Host input is not read while this many control frames (answers to the
// host) wait, so a host that sends without reading cannot grow the queue.
constexpr size_t kMaxControlQueue = 1024;
// Per-connection channel cap (memory and fds), answered with OPEN_FAIL.
constexpr size_t kMaxChannels = 256;
// How long output is still forwarded after a command exits, for pipes that
// a background child keeps open.
constexpr auto kDrainAfterExit = std::chrono::milliseconds(500);
// Re-check interval for a serial port with no host attached.
constexpr int kSerialProbeMs = 100;

void Log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void Log(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  fprintf(stderr, "banger-agent: %s\n", buf);
}

std::string ReadBootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

std::string Hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return {};
  return name;
}

uint64_t BytesReadable(int fd) {
  int n = 0;
  if (fd < 0 || ioctl(fd, FIONREAD, &n) != 0 || n < 0) return 0;
  return static_cast<uint64_t>(n);
}

}  // namespace

Agent::Agent(std::string build) : build_(std::move(build)), boot_id_(ReadBootId()) {
  // SIGCHLD arrives through a signalfd in the poll set; SIGPIPE would kill
  // the agent when a host or a command goes away mid-write.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signal_fd_.Reset(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  signal(SIGPIPE, SIG_IGN);
}

void Agent::AddListener(UniqueFd listen_fd) { listeners_.push_back(std::move(listen_fd)); }

void Agent::AddSerialPort(UniqueFd port_fd) {
  auto c = std::make_unique<Conn>();
  c->id = next_conn_id_++;
  c->fd = std::move(port_fd);
  c->serial = true;
  c->connected = false;  // ProbeSerial decides
  conns_[c->id] = std::move(c);
}

Agent::Conn* Agent::FindConn(int id) {
  auto it = conns_.find(id);
  return it == conns_.end() ? nullptr : it->second.get();
}

Agent::Exec* Agent::FindExec(Conn& c, uint32_t channel) {
  auto it = c.execs.find(channel);
  return it == c.execs.end() ? nullptr : it->second.get();
}

int Agent::Run() {
  if (!signal_fd_.valid()) {
    Log("signalfd: %s", strerror(errno));
    return 1;
  }
  std::vector<pollfd> fds;
  std::vector<Watch> watches;
  for (;;) {
    int timeout_ms = BuildWatches(&fds, &watches);
    if (poll(fds.data(), fds.size(), timeout_ms) < 0) {
      if (errno == EINTR) continue;
      Log("poll: %s", strerror(errno));
      return 1;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents != 0) Dispatch(watches[i], fds[i].revents);
    }
    Sweep();
  }
}

int Agent::BuildWatches(std::vector<pollfd>* fds, std::vector<Watch>* watches) {
  fds->clear();
  watches->clear();
  auto watch = [&](int fd, short events, Watch w) {
    fds->push_back({fd, events, 0});
    watches->push_back(w);
  };
  int timeout_ms = -1;
  auto wake_within = [&](int ms) { timeout_ms = timeout_ms < 0 ? ms : std::min(timeout_ms, ms); };

  watch(signal_fd_.get(), POLLIN, {Watch::kSignal});
  for (size_t i = 0; i < listeners_.size(); ++i) {
    watch(listeners_[i].get(), POLLIN, {Watch::kListener, 0, 0, i});
  }
  auto now = Clock::now();
  for (auto& [id, cp] : conns_) {
    Conn& c = *cp;
    if (c.serial && !c.connected) {
      ProbeSerial(c);
      if (!c.connected) {
        wake_within(kSerialProbeMs);
        continue;
      }
    }
    Flush(c);
    if (!c.connected || !c.fd.valid()) continue;
    short ev = c.control_q.size() < kMaxControlQueue ? POLLIN : 0;
    if (c.Backlog() > 0 || !c.control_q.empty()) ev |= POLLOUT;
    watch(c.fd.get(), ev, {Watch::kConn, c.id});

    // Channels in rotated order, so each gets its turn at the backlog.
    std::vector<Exec*> order;
    for (auto it = c.execs.upper_bound(c.rr_cursor); it != c.execs.end(); ++it) {
      order.push_back(it->second.get());
    }
    for (auto it = c.execs.begin(); it != c.execs.end() && it->first <= c.rr_cursor; ++it) {
      order.push_back(it->second.get());
    }
    if (!order.empty()) c.rr_cursor = order.front()->channel;
    bool room = c.Backlog() < kBacklogLimit;
    for (Exec* e : order) {
      if (room && e->send_credit > 0) {
        if (e->stdout_fd.valid()) watch(e->stdout_fd.get(), POLLIN, {Watch::kExecOut, c.id, e->channel});
        if (e->stderr_fd.valid()) watch(e->stderr_fd.get(), POLLIN, {Watch::kExecErr, c.id, e->channel});
      }
      if (e->stdin_fd.valid() && !e->stdin_buf.empty()) {
        watch(e->stdin_fd.get(), POLLOUT, {Watch::kExecIn, c.id, e->channel});
      }
      // Past the deadline an exited command waits only for credit, which
      // arrives as an event.
      if (e->exited && e->drain_deadline > now) {
        wake_within(
            static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(e->drain_deadline - now).count()));
      }
    }
  }
  return timeout_ms;
}

void Agent::Dispatch(const Watch& w, short revents) {
  if (w.kind == Watch::kSignal) {
    ReapChildren();
    return;
  }
  if (w.kind == Watch::kListener) {
    Accept(listeners_[w.listener].get());
    return;
  }
  // Earlier events of this round may have ended the connection or channel.
  Conn* c = FindConn(w.conn_id);
  if (c == nullptr || !c->connected || !c->fd.valid()) return;
  if (w.kind == Watch::kConn) {
    OnConnEvent(*c, revents);
    return;
  }
  Exec* e = FindExec(*c, w.channel);
  if (e == nullptr) return;
  if (w.kind == Watch::kExecIn) {
    WriteStdin(*c, *e);
  } else {
    ReadOutput(*c, *e, w.kind == Watch::kExecErr);
  }
}

void Agent::Sweep() {
  for (auto it = conns_.begin(); it != conns_.end();) {
    Conn& c = *it->second;
    std::vector<Exec*> exited;
    for (auto& [ch, e] : c.execs) {
      if (e->exited) exited.push_back(e.get());
    }
    for (Exec* e : exited) MaybeFinish(c, *e);  // drain deadlines
    if (!c.serial && !c.fd.valid()) {
      it = conns_.erase(it);
    } else {
      ++it;
    }
  }
}

void Agent::Accept(int listen_fd) {
  int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno != EAGAIN && errno != EINTR) Log("accept: %s", strerror(errno));
    return;
  }
  auto c = std::make_unique<Conn>();
  c->id = next_conn_id_++;
  c->fd.Reset(fd);
  conns_[c->id] = std::move(c);
}

void Agent::ProbeSerial(Conn& c) {
  // virtio-console keeps POLLHUP set while no host has the port open.
  pollfd p = {c.fd.get(), POLLIN, 0};
  if (poll(&p, 1, 0) < 0 || (p.revents & POLLHUP)) return;
  Log("host attached to the serial port");
  c.connected = true;
  c.decoder.Reset();
}

void Agent::OnConnEvent(Conn& c, short revents) {
  if (c.serial && (revents & POLLHUP)) {
    DropConn(c, "host detached");
    return;
  }
  if (revents & (POLLIN | POLLHUP | POLLERR)) ReadConn(c);
  if (c.connected && c.fd.valid() && (revents & POLLOUT)) Flush(c);
}

void Agent::ReadConn(Conn& c) {
  char buf[64 * 1024];
  ssize_t n = read(c.fd.get(), buf, sizeof(buf));
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    DropConn(c, strerror(errno));
    return;
  }
  if (n == 0) {
    DropConn(c, "host closed the connection");
    return;
  }
  c.decoder.Feed(std::string_view(buf, n));
  while (c.connected && c.fd.valid()) {
    auto f = c.decoder.Next();
    uint64_t skipped = c.decoder.TakeSkipped();
    if (skipped > 0) {
      // Corrupt or stale input: the channels' state is no longer known, so
      // end the session and serve only a fresh HELLO.
      if (c.ready) {
        Log("framing error: skipped %llu bytes; waiting for a new HELLO",
            static_cast<unsigned long long>(skipped));
        ResetSession(c);
        QueueControl(c, 0, GoAway{.reason = "framing error; send HELLO to start again"});
      } else {
        Log("skipped %llu bytes of stale input", static_cast<unsigned long long>(skipped));
      }
    }
    if (!f) break;
    HandleFrame(c, *f);
  }
  if (c.connected && c.fd.valid()) Flush(c);
}

void Agent::QueueData(Conn& c, std::string frame) {
  c.data_q_bytes += frame.size();
  c.data_q.push_back(std::move(frame));
}

void Agent::Flush(Conn& c) {
  while (c.connected && c.fd.valid()) {
    if (c.wire_pos == c.wire.size()) {
      c.wire.clear();
      c.wire_pos = 0;
      // Control frames first, then stream frames in the order they were read.
      for (auto& f : c.control_q) c.wire += f;
      c.control_q.clear();
      while (!c.data_q.empty() && c.wire.size() < kWireBatch) {
        c.data_q_bytes -= c.data_q.front().size();
        c.wire += c.data_q.front();
        c.data_q.pop_front();
      }
      if (c.wire.empty()) return;
    }
    ssize_t n = write(c.fd.get(), c.wire.data() + c.wire_pos, c.wire.size() - c.wire_pos);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) DropConn(c, strerror(errno));
      return;
    }
    c.wire_pos += n;
  }
}

void Agent::DropConn(Conn& c, const char* why) {
  Log("connection %d: %s", c.id, why);
  ResetSession(c);
  c.control_q.clear();
  c.wire.clear();
  c.wire_pos = 0;
  c.decoder.Reset();
  if (c.serial) {
    c.connected = false;
  } else {
    c.fd.Reset();  // the loop forgets the connection
  }
}

void Agent::ResetSession(Conn& c) {
  for (auto& [ch, e] : c.execs) {
    if (!e->exited) {
      KillExec(*e);
      pids_.erase(e->pid);
    }
  }
  c.execs.clear();
  c.data_q.clear();
  c.data_q_bytes = 0;
  c.ready = false;
  c.highest_channel = 0;
  c.rr_cursor = 0;
  c.dropped_notice = false;
}

void Agent::KillExec(Exec& e) {
  // The whole group, so a pipeline dies with its shell; the pid too, in case
  // it has not made its group yet.
  kill(-e.pid, SIGKILL);
  kill(e.pid, SIGKILL);
}

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
                        .hostname = Hostname()});
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
  auto fail = [&](int err, const std::string& stage) {
    QueueControl(c, ch, OpenFail{.err = static_cast<uint32_t>(err), .stage = stage, .message = strerror(err)},
                 kFlagFin);
  };
  if (!open) return SendError(c, ErrorCode::kBadMessage, ch, "malformed OPEN");
  if (open->kind != static_cast<uint8_t>(OpenKind::kExec)) return fail(EPROTONOSUPPORT, "kind");
  if (open->argv.empty() || open->argv[0].empty()) return fail(EINVAL, "argv");
  if (c.execs.size() >= kMaxChannels) return fail(EAGAIN, "limit");

  SpawnRequest req{.argv = open->argv,
                   .env = MergeEnv(open->tty, open->env),
                   .cwd = open->cwd,
                   .tty = open->tty,
                   .rows = open->rows,
                   .cols = open->cols};
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

void Agent::WriteStdin(Conn& c, Exec& e) {
  while (!e.stdin_buf.empty() && e.stdin_fd.valid()) {
    ssize_t n = write(e.stdin_fd.get(), e.stdin_buf.data(), e.stdin_buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      // EPIPE (or EIO on a pty): the command stopped reading; what the host
      // sends from now on is discarded, but its credit still comes back.
      e.stdin_broken = true;
      e.stdin_fd.Reset();
      ConsumeStdin(c, e, e.stdin_buf.size());
      e.stdin_buf.clear();
      return;
    }
    e.stdin_buf.erase(0, n);
    ConsumeStdin(c, e, n);
  }
  MaybeCloseStdin(e);
}

void Agent::ConsumeStdin(Conn& c, Exec& e, size_t n) {
  e.stdin_unacked += n;
  // Re-grant once half the window is used, like yamux, so the host is never
  // idle waiting for credit while half a window is still buffered.
  if (e.stdin_unacked >= kDefaultGuestWindow / 2) {
    QueueControl(c, e.channel, Window{.delta = static_cast<uint32_t>(e.stdin_unacked)});
    e.stdin_credit += e.stdin_unacked;
    e.stdin_unacked = 0;
  }
}

void Agent::MaybeCloseStdin(Exec& e) {
  if (!e.stdin_eof || !e.stdin_buf.empty() || !e.stdin_fd.valid()) return;
  if (e.tty) {
    // A pty has no half-close: send the terminal's EOF character instead
    // (it ends input for a reader in canonical mode, as ^D does).
    struct termios t;
    if (tcgetattr(e.stdin_fd.get(), &t) == 0) {
      char eof = static_cast<char>(t.c_cc[VEOF]);
      ssize_t ignored = write(e.stdin_fd.get(), &eof, 1);
      (void)ignored;
    }
  }
  e.stdin_fd.Reset();
}

void Agent::ReadOutput(Conn& c, Exec& e, bool err_stream) {
  UniqueFd& fd = err_stream ? e.stderr_fd : e.stdout_fd;
  if (!fd.valid() || e.send_credit == 0 || c.Backlog() >= kBacklogLimit) return;
  size_t want = std::min<uint64_t>({e.send_credit, kMaxDataChunk, c.max_payload - 1});
  char buf[kMaxDataChunk];
  ssize_t n = read(fd.get(), buf, want);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  Stream stream = e.tty ? Stream::kPty : (err_stream ? Stream::kStderr : Stream::kStdout);
  if (n <= 0) {
    // EOF, or EIO from a pty whose last slave closed.
    fd.Reset();
    std::string frame;
    AppendMessage(&frame, e.channel, Eof{.stream = stream});
    QueueData(c, std::move(frame));
    MaybeFinish(c, e);
    return;
  }
  std::string frame;
  AppendDataFrame(&frame, e.channel, stream, std::string_view(buf, n));
  QueueData(c, std::move(frame));
  e.send_credit -= n;
  uint64_t& owed = err_stream ? e.owed_err : e.owed_out;
  owed -= std::min<uint64_t>(owed, n);
}

void Agent::ReapChildren() {
  signalfd_siginfo si;
  while (read(signal_fd_.get(), &si, sizeof(si)) == sizeof(si)) {
  }
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    auto it = pids_.find(pid);
    if (it == pids_.end()) continue;  // a command whose session already ended
    auto [conn_id, ch] = it->second;
    pids_.erase(it);
    Conn* c = FindConn(conn_id);
    Exec* e = c ? FindExec(*c, ch) : nullptr;
    if (e == nullptr) continue;
    if (e->closed_by_host) {
      c->execs.erase(ch);
      continue;
    }
    e->exited = true;
    e->status = status;
    e->drain_deadline = Clock::now() + kDrainAfterExit;
    e->owed_out = BytesReadable(e->stdout_fd.get());
    e->owed_err = BytesReadable(e->stderr_fd.get());
    MaybeFinish(*c, *e);
  }
}

void Agent::MaybeFinish(Conn& c, Exec& e) {
  if (!e.exited) return;
  bool drained = !e.stdout_fd.valid() && !e.stderr_fd.valid();
  // After the deadline, stop waiting for pipes held open by background
  // children, but never drop what the command itself wrote before exiting.
  bool given_up = Clock::now() >= e.drain_deadline && e.owed_out == 0 && e.owed_err == 0;
  if (!drained && !given_up) return;
  Exit x;
  if (WIFSIGNALED(e.status)) {
    x.signaled = true;
    x.signo = WTERMSIG(e.status);
    x.core = WCOREDUMP(e.status);
  } else {
    x.code = WEXITSTATUS(e.status);
  }
  std::string frame;
  AppendMessage(&frame, e.channel, x, kFlagFin);
  QueueData(c, std::move(frame));
  c.execs.erase(e.channel);
}

}  // namespace banger::agent
