#include "connect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/unique_fd.h"

namespace banger::agent {
namespace {

// Per direction: at most this much is read ahead of the other side.
constexpr size_t kBufferSize = 64 * 1024;
constexpr int kConnectTimeoutMs = 10 * 1000;

void Fail(const std::string& address, const char* what, int err) {
  fprintf(stderr, "banger-agent: connect %s: %s%s%s\n", address.c_str(), what, *what != '\0' ? ": " : "",
          strerror(err));
}

// HOST:PORT, with HOST a numeric IPv4 address, a bracketed numeric IPv6
// address or "localhost". No resolver: the binary is static, and glibc's
// getaddrinfo would need the guest's NSS libraries at run time.
bool ParseAddress(const std::string& address, sockaddr_storage* out, socklen_t* len) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 >= address.size()) return false;
  std::string host = address.substr(0, colon);
  std::string port_str = address.substr(colon + 1);
  char* end = nullptr;
  errno = 0;
  unsigned long port = strtoul(port_str.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || port_str[0] < '0' || port_str[0] > '9' || port == 0 || port > 65535) {
    return false;
  }
  *out = {};
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(out);
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a6->sin6_addr) != 1) return false;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(*a6);
    return true;
  }
  if (host == "localhost") host = "127.0.0.1";
  auto* a4 = reinterpret_cast<sockaddr_in*>(out);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) != 1) return false;
  a4->sin_family = AF_INET;
  a4->sin_port = htons(static_cast<uint16_t>(port));
  *len = sizeof(*a4);
  return true;
}

// A non-blocking connect bounded by kConnectTimeoutMs; the socket stays
// non-blocking. On failure: an invalid fd, with the reason already printed.
UniqueFd Connect(const std::string& address, const sockaddr_storage& addr, socklen_t len) {
  UniqueFd fd(socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    Fail(address, "socket", errno);
    return {};
  }
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    if (errno != EINPROGRESS && errno != EINTR) {
      Fail(address, "", errno);
      return {};
    }
    pollfd p = {fd.get(), POLLOUT, 0};
    int r;
    do {
      r = poll(&p, 1, kConnectTimeoutMs);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
      Fail(address, "", ETIMEDOUT);
      return {};
    }
    int err = 0;
    socklen_t err_len = sizeof(err);
    if (r < 0 || getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) err = errno;
    if (err != 0) {
      Fail(address, "", err);
      return {};
    }
  }
  // Interactive traffic (ssh) is latency-bound; ssh sets this on its own sockets.
  int one = 1;
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

// Bytes read from one side and not yet written to the other.
struct Pipe {
  char data[kBufferSize];
  size_t start = 0, end = 0;

  size_t size() const { return end - start; }
  bool empty() const { return start == end; }
  void Clear() { start = end = 0; }
  // Free room at the tail, after moving the unwritten bytes to the front.
  size_t Room() {
    if (start > 0) {
      memmove(data, data + start, end - start);
      end -= start;
      start = 0;
    }
    return kBufferSize - end;
  }
};

// Copies stdin -> socket ("up") and socket -> stdout ("down") until both
// directions are done, passing each EOF on as a half-close.
//
// stdin and stdout stay blocking: they may be shared with other processes
// (a terminal), so their file status flags are not ours to change. A read
// after POLLIN never blocks; a write after POLLOUT of at most PIPE_BUF
// bytes does not block on a pipe or socket either.
class Relay {
 public:
  Relay(const std::string& address, int sock, Pipe& up, Pipe& down)
      : address_(address), sock_(sock), up_(up), down_(down) {}

  // 0 once both directions ended, 1 after an error (reported).
  int Run() {
    while (!up_done_ || !down_done_) {
      BuildPollSet();
      if (poll(fds_, nfds_, -1) < 0) {
        if (errno == EINTR) continue;
        Fail(address_, "poll", errno);
        return 1;
      }
      if (Fired(in_idx_, ~0)) StdinToBuffer();
      if (Fired(sock_idx_, POLLOUT | POLLERR | POLLHUP) && !up_.empty() && !BufferToSocket()) return 1;
      if (!stdin_open_ && up_.empty() && !up_done_) {
        shutdown(sock_, SHUT_WR);
        up_done_ = true;
      }
      if (Fired(sock_idx_, POLLIN | POLLERR | POLLHUP) && sock_readable_ && down_.size() < kBufferSize &&
          !SocketToBuffer()) {
        return 1;
      }
      if (Fired(out_idx_, ~0) && !down_.empty()) BufferToStdout();
      if (!sock_readable_ && down_.empty() && !down_done_) {
        close(STDOUT_FILENO);
        down_done_ = true;
      }
    }
    return 0;
  }

 private:
  void BuildPollSet() {
    nfds_ = 0;
    in_idx_ = sock_idx_ = out_idx_ = -1;
    if (stdin_open_ && up_.size() < kBufferSize) {
      in_idx_ = nfds_;
      fds_[nfds_++] = {STDIN_FILENO, POLLIN, 0};
    }
    short sock_ev = 0;
    if (sock_readable_ && down_.size() < kBufferSize) sock_ev |= POLLIN;
    if (!up_.empty()) sock_ev |= POLLOUT;
    if (sock_ev != 0) {
      sock_idx_ = nfds_;
      fds_[nfds_++] = {sock_, sock_ev, 0};
    }
    if (!down_.empty()) {
      out_idx_ = nfds_;
      fds_[nfds_++] = {STDOUT_FILENO, POLLOUT, 0};
    }
  }

  bool Fired(int idx, int events) const { return idx >= 0 && (fds_[idx].revents & events) != 0; }

  void StdinToBuffer() {
    ssize_t n = read(STDIN_FILENO, up_.data + up_.end, up_.Room());
    if (n > 0) {
      up_.end += n;
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      stdin_open_ = false;  // EOF, or a read error that ends this direction alike
    }
  }

  // False after a send error (reported).
  bool BufferToSocket() {
    ssize_t n = send(sock_, up_.data + up_.start, up_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      up_.start += n;
    } else if (n < 0 && errno != EINTR && errno != EAGAIN) {
      if (!sock_readable_ && (errno == EPIPE || errno == ECONNRESET)) {
        // The peer closed both ways and is not reading: nothing more can
        // go up. Like netcat, that is the end of this direction.
        up_.Clear();
        stdin_open_ = false;
      } else {
        Fail(address_, "sending", errno);
        return false;
      }
    }
    return true;
  }

  // False after a receive error (reported).
  bool SocketToBuffer() {
    ssize_t n = recv(sock_, down_.data + down_.end, down_.Room(), MSG_DONTWAIT);
    if (n > 0) {
      down_.end += n;
    } else if (n == 0) {
      sock_readable_ = false;
    } else if (errno != EINTR && errno != EAGAIN) {
      Fail(address_, "receiving", errno);
      return false;
    }
    return true;
  }

  void BufferToStdout() {
    ssize_t n = write(STDOUT_FILENO, down_.data + down_.start, std::min<size_t>(down_.size(), PIPE_BUF));
    if (n > 0) {
      down_.start += n;
    } else if (n < 0 && errno != EINTR && errno != EAGAIN) {
      // Nobody reads our output any more: stop taking it from the peer.
      down_.Clear();
      sock_readable_ = false;
      shutdown(sock_, SHUT_RD);
    }
  }

  const std::string& address_;
  int sock_;
  Pipe &up_, &down_;
  bool stdin_open_ = true;     // stdin has not reached EOF
  bool up_done_ = false;       // the socket's write side is shut down
  bool sock_readable_ = true;  // the peer has not sent its FIN
  bool down_done_ = false;     // stdout is closed
  pollfd fds_[3];
  int nfds_ = 0, in_idx_ = -1, sock_idx_ = -1, out_idx_ = -1;
};

}  // namespace

int RunConnect(const std::string& address) {
  sockaddr_storage addr;
  socklen_t addr_len = 0;
  if (!ParseAddress(address, &addr, &addr_len)) {
    fprintf(stderr,
            "banger-agent: --connect wants HOST:PORT with a numeric IPv4 address, [IPv6] or localhost; got "
            "'%s'\n",
            address.c_str());
    return 2;
  }
  // A consumer that goes away is an EPIPE to handle, not a signal that kills us.
  signal(SIGPIPE, SIG_IGN);
  UniqueFd sock = Connect(address, addr, addr_len);
  if (!sock.valid()) return 1;

  static Pipe up, down;  // stdin -> socket, socket -> stdout
  return Relay(address, sock.get(), up, down).Run();
}

}  // namespace banger::agent
