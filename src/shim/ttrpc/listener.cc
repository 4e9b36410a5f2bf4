#include "ttrpc/listener.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace banger::ttrpc {

namespace {

Result<sockaddr_un> UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Error::Invalid("unix socket path '" + path + "' is empty or longer than " +
                          std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

}  // namespace

Result<UniqueFd> ConnectUnix(const std::string& path, std::chrono::milliseconds timeout) {
  BANGER_ASSIGN_OR_RETURN(sockaddr_un addr, UnixAddress(path));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return Error::FromErrno("socket");
  const auto deadline = Clock::now() + timeout;
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno != EAGAIN && errno != EINPROGRESS) return Error::FromErrno("connecting to " + path);
    pollfd p{.fd = fd.get(), .events = POLLOUT, .revents = 0};
    int rc = 0;
    do {
      rc = ::poll(&p, 1, PollTimeoutMs(deadline));
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) return Error::FromErrno("connecting to " + path);
    if (rc == 0) return Error::Timeout("connecting to " + path + ": no room in its accept queue in time");
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) return Error::FromErrno("getsockopt");
    if (err != 0) return Error::FromErrno("connecting to " + path, err);
  }
  return fd;
}

Result<std::unique_ptr<UnixListener>> UnixListener::Start(const std::string& path, TtrpcServer* server,
                                                          size_t max_connections) {
  BANGER_ASSIGN_OR_RETURN(sockaddr_un addr, UnixAddress(path));
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Error::Conflict(path + " exists and is not a socket");
    if (::unlink(path.c_str()) != 0) return Error::FromErrno("removing the stale socket " + path);
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return Error::FromErrno("socket");
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Error::FromErrno("binding " + path);
  }
  if (::listen(fd.get(), 64) != 0) return Error::FromErrno("listening on " + path);
  BANGER_ASSIGN_OR_RETURN(Waker waker, Waker::Create());
  std::unique_ptr<UnixListener> l(
      new UnixListener(path, std::move(fd), std::move(waker), server, max_connections));
  try {
    l->accept_thread_ = std::thread([p = l.get()] { p->AcceptLoop(); });
  } catch (const std::system_error& e) {
    return Error::Internal(std::string("starting the accept thread: ") + e.what());
  }
  return l;
}

UnixListener::~UnixListener() { Stop(); }

size_t UnixListener::active() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& c : conns_) n += c.done ? 0 : 1;
  return n;
}

void UnixListener::ReapLocked() {
  for (auto it = conns_.begin(); it != conns_.end();) {
    if (it->done) {
      it->thread.join();  // it has returned from Serve: this does not wait
      it = conns_.erase(it);
    } else {
      ++it;
    }
  }
}

void UnixListener::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{.fd = fd_.get(), .events = POLLIN, .revents = 0},
                     {.fd = waker_.fd(), .events = POLLIN, .revents = 0}};
    int rc = ::poll(fds, 2, -1);
    if (rc < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;
    if (rc <= 0 || fds[0].revents == 0) continue;
    UniqueFd conn(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) {
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: give Serve calls a moment to end some.
        pollfd w{.fd = waker_.fd(), .events = POLLIN, .revents = 0};
        if (::poll(&w, 1, 100) > 0) return;
      }
      continue;
    }
    std::lock_guard lock(mu_);
    ReapLocked();
    if (stopped_ || conns_.size() >= max_connections_) continue;  // closes conn
    auto& slot = conns_.emplace_back();
    try {
      slot.thread = std::thread([this, &slot, c = std::move(conn)]() mutable {
        (void)server_->Serve(std::move(c));
        std::lock_guard l(mu_);
        slot.done = true;
      });
    } catch (const std::system_error&) {
      conns_.pop_back();
    }
  }
}

void UnixListener::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  waker_.Wake();
  if (accept_thread_.joinable()) accept_thread_.join();
  fd_.Reset();
  server_->Shutdown();
  // Each Serve returns within its drain (and one write) timeout.
  std::list<ConnThread> conns;
  {
    std::lock_guard lock(mu_);
    conns.swap(conns_);
  }
  for (auto& c : conns) c.thread.join();
  ::unlink(path_.c_str());
}

}  // namespace banger::ttrpc
