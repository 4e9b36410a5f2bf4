// Connecting to a VM's agent socket: QEMU's chardev (a Unix socket) and
// Firecracker's hybrid vsock (a Unix socket, then CONNECT <port>).
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "agent/client.h"
#include "agent/client_io.h"

namespace banger {
namespace agent_io {

int MsLeft(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 1 << 30));
}

Status SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::FromErrno("writing to the agent");
    }
    data.remove_prefix(n);
  }
  return OkStatus();
}

Status SendAllUntil(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (Clock::now() >= deadline) return Error::Timeout("the agent is not reading its input");
      pollfd p = {fd, POLLOUT, 0};
      int r = ::poll(&p, 1, MsLeft(deadline));
      if (r < 0 && errno != EINTR) return Error::FromErrno("writing to the agent: poll");
      continue;
    }
    return Error::FromErrno("writing to the agent");
  }
  return OkStatus();
}

}  // namespace agent_io

namespace {

using agent_io::Clock;
using agent_io::MsLeft;
using agent_io::SendAll;

// Connects, retrying while the socket is absent or refuses (the VMM is still
// starting) until the deadline.
Result<UniqueFd> ConnectUnixRetrying(const std::string& path, Clock::time_point deadline) {
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return Error::Invalid("socket path too long: " + path);
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  for (;;) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return Error::FromErrno("socket");
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return fd;
    int err = errno;
    bool transient = err == ENOENT || err == ECONNREFUSED || err == EAGAIN;
    if (!transient) return Error::FromErrno("connecting to " + path, err);
    if (Clock::now() >= deadline) return Error::Timeout("connecting to " + path + ": " + std::strerror(err));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// Reads Firecracker's "OK <port>\n" one byte at a time, so not a byte of the
// agent's own stream is consumed.
Status ReadVsockAck(int fd, Clock::time_point deadline) {
  std::string line;
  while (line.size() < 32) {
    pollfd p = {fd, POLLIN, 0};
    int r = ::poll(&p, 1, MsLeft(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return Error::Timeout("no answer to CONNECT");
    char ch;
    ssize_t n = ::read(fd, &ch, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error::Unavailable("the guest is not listening yet");
    if (ch == '\n') {
      if (line.rfind("OK ", 0) == 0) return OkStatus();
      return Error::Unavailable("unexpected answer to CONNECT: " + line);
    }
    line.push_back(ch);
  }
  return Error::Unavailable("unexpected answer to CONNECT: " + line);
}

}  // namespace

Result<UniqueFd> ConnectAgentUnix(const std::string& path, std::chrono::milliseconds timeout) {
  return Annotate(ConnectUnixRetrying(path, Clock::now() + timeout), "connecting to the guest agent");
}

Result<UniqueFd> ConnectAgentVsock(const std::string& uds_path, uint32_t port,
                                   std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::string context = "connecting to the guest agent on vsock port " + std::to_string(port);
  for (;;) {
    BANGER_ASSIGN_OR_RETURN(UniqueFd fd, Annotate(ConnectUnixRetrying(uds_path, deadline), context));
    std::string request = "CONNECT " + std::to_string(port) + "\n";
    Status st = SendAll(fd.get(), request);
    if (st.ok()) {
      // Firecracker answers at once; allow a second per attempt, as its Go SDK does.
      st = ReadVsockAck(fd.get(), std::min(deadline, Clock::now() + std::chrono::seconds(1)));
      if (st.ok()) return fd;
    }
    // Usually the agent is not listening yet: Firecracker closes the stream.
    if (Clock::now() >= deadline) return Error::Timeout(context + ": " + st.error().message());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace banger
