#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "agent_internal.h"

namespace banger::agent {

void Log(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  fprintf(stderr, "banger-agent: %s\n", buf);
}

namespace {

std::string ReadBootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
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

}  // namespace banger::agent
