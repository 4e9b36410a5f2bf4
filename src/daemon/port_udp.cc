#include "daemon/port_udp.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "base/log.h"
#include "base/unique_fd.h"

namespace banger {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxDatagram = 65535;

struct Flow {
  sockaddr_storage peer{};
  socklen_t peer_len = 0;
  UniqueFd fd;  // a dup of the port's socket: answers leave from it
  std::atomic<int64_t> last{0};
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> queue;  // Guarded by mu.
  bool stop = false;              // Guarded by mu.
  bool done = false;              // Guarded by mu.
  RelayGuest* guest = nullptr;    // Guarded by mu; set while it runs.

  void Touch() { last = Clock::now().time_since_epoch().count(); }
  bool Idle(std::chrono::milliseconds limit) const {
    return Clock::now() - Clock::time_point(Clock::duration(last.load())) > limit;
  }
  void Stop(const std::string& why) {
    std::lock_guard<std::mutex> lk(mu);
    stop = true;
    if (guest) guest->Abort(why);
    cv.notify_all();
  }
};

// Guest -> host: whole frames become datagrams to the flow's client.
void ReadLoop(Flow& f, RelayGuest& guest) {
  std::string buf, dgram;
  for (;;) {
    auto ev = guest.Next();
    if (!ev.ok() || ev->kind == ExecEvent::kExit || ev->kind == ExecEvent::kStdoutEof) break;
    if (ev->kind != ExecEvent::kStdout) continue;  // the agent's own diagnostics
    buf += ev->data;
    while (TakeUdpFrame(&buf, &dgram)) {
      f.Touch();
      (void)::sendto(f.fd.get(), dgram.data(), dgram.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                     reinterpret_cast<const sockaddr*>(&f.peer), f.peer_len);
    }
    // Whole frames are drained: at most one partial frame (<= 64 KiB + 2) stays.
  }
  f.Stop("flow ended");
}

// Host -> guest, after opening the guest end; ends the flow on idle/stop.
void RunFlow(const std::shared_ptr<Flow>& f, const UdpOpenFn& open, const UdpOptions& o,
             const std::string& what) {
  auto guest = open();
  if (!guest.ok()) {
    spdlog::warn("port {}: {}", what, guest.error().message());
  } else {
    {
      std::lock_guard<std::mutex> lk(f->mu);
      f->guest = guest->get();
      if (f->stop) (*guest)->Abort("port closed");
    }
    std::thread reader;
    try {
      reader = std::thread([f, g = guest->get()] { ReadLoop(*f, *g); });
    } catch (const std::system_error& e) {
      spdlog::warn("port {}: cannot start a flow reader: {}", what, e.what());
      f->Stop("no thread");
    }
    std::string frame;
    for (;;) {
      std::unique_lock<std::mutex> lk(f->mu);
      f->cv.wait_for(lk, o.tick, [&] { return f->stop || !f->queue.empty(); });
      if (f->stop) break;
      if (f->queue.empty()) {
        if (f->Idle(o.idle_timeout)) break;
        continue;
      }
      std::string d = std::move(f->queue.front());
      f->queue.pop_front();
      lk.unlock();
      frame.clear();
      AppendUdpFrame(&frame, d);
      if (!(*guest)->Write(frame).ok()) break;
    }
    f->Stop("flow ended");
    if (reader.joinable()) reader.join();
    std::lock_guard<std::mutex> lk(f->mu);
    f->guest = nullptr;
  }
  if (guest.ok()) guest->reset();  // the command goes before the flow says it is done
  std::lock_guard<std::mutex> lk(f->mu);
  f->done = true;
  f->cv.notify_all();
}

std::string PeerKey(const sockaddr_storage& a, socklen_t len) {
  return {reinterpret_cast<const char*>(&a), static_cast<size_t>(len)};
}

}  // namespace

void AppendUdpFrame(std::string* out, std::string_view data) {
  size_t n = std::min(data.size(), kMaxDatagram);
  out->push_back(static_cast<char>((n >> 8) & 0xff));
  out->push_back(static_cast<char>(n & 0xff));
  out->append(data.substr(0, n));
}

bool TakeUdpFrame(std::string* buf, std::string* datagram) {
  if (buf->size() < 2) return false;
  size_t n = (static_cast<size_t>(static_cast<unsigned char>((*buf)[0])) << 8) |
             static_cast<unsigned char>((*buf)[1]);
  if (buf->size() < 2 + n) return false;
  datagram->assign(*buf, 2, n);
  buf->erase(0, 2 + n);
  return true;
}

void ServeUdpPort(int fd, int wake_fd, const std::string& what, const UdpOpenFn& open, const UdpOptions& o) {
  std::map<std::string, std::shared_ptr<Flow>> flows;
  std::string dgram(kMaxDatagram, '\0');
  auto last_drop_log = Clock::time_point{};
  auto drop = [&](const char* why) {
    if (Clock::now() - last_drop_log < std::chrono::seconds(10)) return;
    last_drop_log = Clock::now();
    spdlog::warn("port {}: dropping datagrams: {}", what, why);
  };
  for (;;) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    int r = ::poll(fds, 2, static_cast<int>(o.tick.count()));
    if (r < 0 && errno != EINTR) break;
    if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) break;
    std::erase_if(flows, [](const auto& kv) {
      std::lock_guard<std::mutex> lk(kv.second->mu);
      return kv.second->done;
    });
    if (r <= 0 || (fds[0].revents & POLLIN) == 0) continue;
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    ssize_t n =
        ::recvfrom(fd, dgram.data(), dgram.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&peer), &len);
    if (n < 0) continue;
    std::string key = PeerKey(peer, len);
    auto it = flows.find(key);
    if (it == flows.end()) {
      if (static_cast<int>(flows.size()) >= o.max_flows) {
        drop("too many clients");
        continue;
      }
      auto f = std::make_shared<Flow>();
      f->peer = peer;
      f->peer_len = len;
      f->fd = UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
      if (!f->fd.valid()) {
        drop(std::strerror(errno));
        continue;
      }
      f->Touch();
      try {
        std::thread([f, open, o, what] { RunFlow(f, open, o, what); }).detach();
      } catch (const std::system_error& e) {
        drop(e.what());
        continue;
      }
      it = flows.emplace(key, std::move(f)).first;
    }
    Flow& f = *it->second;
    std::lock_guard<std::mutex> lk(f.mu);
    if (f.stop) continue;  // ending: the next datagram makes a new flow
    if (f.queue.size() >= o.max_queued) {
      drop("the guest is not keeping up");
      continue;
    }
    f.queue.emplace_back(dgram.data(), static_cast<size_t>(n));
    f.Touch();
    f.cv.notify_all();
  }
  for (auto& [k, f] : flows) f->Stop("port closed");
  auto until = Clock::now() + o.stop_wait;
  for (auto& kv : flows) {
    Flow& f = *kv.second;
    std::unique_lock<std::mutex> lk(f.mu);
    if (!f.cv.wait_until(lk, until, [&] { return f.done; })) {
      spdlog::warn("port {}: a flow did not end within {} ms", what, o.stop_wait.count());
      break;
    }
  }
}

}  // namespace banger
