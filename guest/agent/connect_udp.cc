#include "connect_udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/unique_fd.h"

namespace banger::agent {
namespace {

constexpr size_t kMaxDatagram = 65535;
constexpr size_t kFrameHeader = 2;

void Fail(const std::string& address, const char* what, int err) {
  fprintf(stderr, "banger-agent: connect-udp %s: %s%s%s\n", address.c_str(), what, *what != '\0' ? ": " : "",
          strerror(err));
}

// 127.0.0.1:PORT or localhost:PORT: a published UDP port always targets the
// guest's own loopback.
bool ParseLoopback(const std::string& address, sockaddr_in* out) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 >= address.size()) return false;
  std::string host = address.substr(0, colon);
  std::string port_str = address.substr(colon + 1);
  if (host == "localhost") host = "127.0.0.1";
  char* end = nullptr;
  errno = 0;
  unsigned long port = strtoul(port_str.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || port_str[0] < '0' || port_str[0] > '9' || port == 0 || port > 65535) {
    return false;
  }
  *out = {};
  out->sin_family = AF_INET;
  out->sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &out->sin_addr) != 1) return false;
  return (ntohl(out->sin_addr.s_addr) >> 24) == 127;
}

bool WriteAll(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

int RunConnectUdp(const std::string& address) {
  signal(SIGPIPE, SIG_IGN);  // a host that hung up ends the write, not us
  sockaddr_in addr{};
  if (!ParseLoopback(address, &addr)) {
    fprintf(stderr, "banger-agent: connect-udp: expected 127.0.0.1:PORT, got \"%s\"\n", address.c_str());
    return 2;
  }
  UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) {
    Fail(address, "socket", errno);
    return 1;
  }
  if (connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    Fail(address, "", errno);
    return 1;
  }
  // stdin: [u16 BE length][datagram]...; stdout: the same for each answer.
  static char in[kFrameHeader + kMaxDatagram];
  static char out[kFrameHeader + kMaxDatagram];
  size_t have = 0;
  for (;;) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {sock.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      Fail(address, "poll", errno);
      return 1;
    }
    if ((fds[1].revents & POLLIN) != 0) {
      ssize_t n = recv(sock.get(), out + kFrameHeader, kMaxDatagram, MSG_DONTWAIT);
      if (n >= 0) {
        out[0] = static_cast<char>((n >> 8) & 0xff);
        out[1] = static_cast<char>(n & 0xff);
        if (!WriteAll(STDOUT_FILENO, out, kFrameHeader + static_cast<size_t>(n))) return 0;  // host gone
      }
      // ECONNREFUSED (nothing listens yet: an ICMP port unreachable) and
      // other per-datagram errors lose that datagram only, as UDP would.
    }
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      ssize_t n = read(STDIN_FILENO, in + have, sizeof in - have);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return 0;  // the host closed the flow
      have += static_cast<size_t>(n);
      size_t off = 0;
      while (have - off >= kFrameHeader) {
        size_t len = (static_cast<size_t>(static_cast<unsigned char>(in[off])) << 8) |
                     static_cast<unsigned char>(in[off + 1]);
        if (have - off < kFrameHeader + len) break;
        (void)send(sock.get(), in + off + kFrameHeader, len, MSG_DONTWAIT);
        off += kFrameHeader + len;
      }
      memmove(in, in + off, have - off);
      have -= off;
    }
  }
}

}  // namespace banger::agent
