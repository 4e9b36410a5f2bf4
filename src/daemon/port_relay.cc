#include "daemon/port_relay.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace banger {
namespace {

using Clock = std::chrono::steady_clock;

int TickMs(const RelayOptions& o) { return static_cast<int>(o.tick.count()); }

struct Shared {
  std::atomic<bool> down_done{false};  // the guest side ended: no more output
  std::atomic<bool> failed{false};     // the relay gave up: both ways end now
  std::atomic<int64_t> last_activity{0};
  std::mutex mu;
  std::string end;  // Guarded by mu.

  void Touch() { last_activity = Clock::now().time_since_epoch().count(); }
  void End(const std::string& why) {
    std::lock_guard<std::mutex> lk(mu);
    if (end.empty()) end = why;
  }
  bool Idle(std::chrono::milliseconds limit) const {
    return Clock::now() - Clock::time_point(Clock::duration(last_activity.load())) > limit;
  }
};

// Sends all of `data` to the non-blocking host socket; false when it
// cannot (peer gone, stop, failure).
bool SendAll(int fd, std::string_view data, Shared& sh, const RelayOptions& o,
             const std::atomic<bool>& stop) {
  while (!data.empty()) {
    if (stop || sh.failed) return false;
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      sh.Touch();
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, TickMs(o));
      if (sh.Idle(o.idle_timeout)) return false;  // the host side stopped reading
      continue;
    }
    return false;
  }
  return true;
}

// Host -> guest, and the watchdog (stop, idle) for both directions.
void UpLoop(int fd, RelayGuest& guest, Shared& sh, const RelayOptions& o, const std::atomic<bool>& stop,
            uint64_t& up_bytes) {
  std::vector<char> buf(o.chunk);
  bool host_open = true;
  std::optional<Clock::time_point> linger_until;
  for (;;) {
    if (stop) {
      sh.End("stopped");
      break;
    }
    if (sh.failed) break;
    if (sh.down_done) {
      if (!linger_until) linger_until = Clock::now() + o.linger;
      if (!host_open || Clock::now() >= *linger_until) break;
    } else if (sh.Idle(o.idle_timeout)) {
      sh.End("idle for " + std::to_string(o.idle_timeout.count()) + " ms");
      break;
    }
    if (!host_open) {
      ::poll(nullptr, 0, TickMs(o));
      continue;
    }
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, TickMs(o));
    if (r <= 0) continue;
    ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) {
      // EOF (or a reset): the host is done sending; pass it on as a half-close.
      host_open = false;
      if (!sh.down_done && !guest.CloseWrite().ok()) {
        sh.End("guest went away");
        break;
      }
      continue;
    }
    if (sh.down_done) continue;  // lingering: the guest is gone, drop it
    sh.Touch();
    if (auto st = guest.Write(std::string_view(buf.data(), static_cast<size_t>(n))); !st.ok()) {
      sh.End("writing to the guest: " + st.error().message());
      break;
    }
    up_bytes += static_cast<uint64_t>(n);
  }
  sh.failed = true;
  // Wakes the down direction (blocked in Next) unless it already ended.
  if (!sh.down_done) {
    std::lock_guard<std::mutex> lk(sh.mu);
    guest.Abort(sh.end.empty() ? "relay ended" : sh.end);
  }
}

}  // namespace

RelayResult RunRelay(int host_fd, RelayGuest& guest, const RelayOptions& opts,
                     const std::atomic<bool>& stop) {
  RelayResult res;
  Shared sh;
  sh.Touch();
  std::thread up([&] { UpLoop(host_fd, guest, sh, opts, stop, res.up_bytes); });
  // Guest -> host on this thread. An abort from the up loop (stop, idle, a
  // failed write) wakes Next below.
  for (;;) {
    auto ev = guest.Next();
    if (!ev.ok()) {
      sh.End("guest: " + ev.error().message());
      break;
    }
    if (ev->kind == ExecEvent::kExit) {
      sh.End("guest side closed");
      break;
    }
    if (ev->kind == ExecEvent::kStderr) continue;  // the agent's own diagnostics
    if (ev->kind == ExecEvent::kStdoutEof) {
      // The guest's peer closed its side: pass the half-close on. The host
      // may still send; EXIT follows once it closes too.
      sh.Touch();
      ::shutdown(host_fd, SHUT_WR);
      continue;
    }
    sh.Touch();
    if (!SendAll(host_fd, ev->data, sh, opts, stop)) {
      sh.End(stop ? "stopped" : "host side went away");
      sh.failed = true;
      break;
    }
    res.down_bytes += ev->data.size();
  }
  // After the output, FIN to the host; the up loop lingers for its close.
  ::shutdown(host_fd, SHUT_WR);
  sh.down_done = true;
  guest.Abort("connection closed");
  up.join();
  {
    std::lock_guard<std::mutex> lk(sh.mu);
    res.end = sh.end;
  }
  return res;
}

}  // namespace banger
