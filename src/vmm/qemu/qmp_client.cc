#include "vmm/qemu/qmp_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

namespace banger {
namespace {

// QMP replies are small; a line this long means we are not talking to QEMU.
constexpr size_t kMaxLineBytes = 16 * 1024 * 1024;

// Waits for `events` on fd until the deadline. kTimeout when it passes.
Status PollFd(int fd, short events, const Deadline& deadline, const std::string& what) {
  while (true) {
    pollfd pfd{fd, events, 0};
    int rc = ::poll(&pfd, 1, static_cast<int>(deadline.Remaining().count()));
    if (rc > 0) return OkStatus();
    if (rc == 0) return Error::Timeout(what + ": no answer in time");
    if (errno != EINTR) return Error::FromErrno(what + ": poll");
  }
}

}  // namespace

Result<QmpClient> QmpClient::Connect(const std::string& socket_path, std::chrono::milliseconds timeout) {
  Deadline deadline(timeout);
  sockaddr_un addr{};
  BANGER_RETURN_IF_ERROR(CheckSocketPath("QMP socket", socket_path));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return Error::FromErrno("socket");
  // A Unix-socket connect completes at once or fails; EAGAIN means the
  // listener's backlog is full, which for QMP means it is not serving.
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return Error::Unavailable("connect " + socket_path + ": " + std::strerror(errno));
  }
  QmpClient client(std::move(fd), socket_path);
  BANGER_ASSIGN_OR_RETURN(Json greeting, client.ReadMessage(deadline));
  if (!greeting.is_object() || !greeting.contains("QMP")) {
    return Error::Internal("QMP " + socket_path + ": unexpected greeting " + SafeDump(greeting));
  }
  auto caps = client.Execute("qmp_capabilities", deadline.Remaining());
  if (!caps.ok()) return std::move(caps).error();
  return client;
}

Result<Json> QmpClient::Execute(const std::string& command, std::chrono::milliseconds timeout,
                                const Json& arguments) {
  return Run(command, timeout, arguments, -1);
}

Result<Json> QmpClient::ExecuteWithFd(const std::string& command, std::chrono::milliseconds timeout,
                                      const Json& arguments, int fd) {
  if (fd < 0) return Error::Invalid("QMP " + command + ": no descriptor to pass");
  return Run(command, timeout, arguments, fd);
}

Result<Json> QmpClient::Run(const std::string& command, std::chrono::milliseconds timeout,
                            const Json& arguments, int pass_fd) {
  Deadline deadline(timeout);
  const int64_t id = next_id_++;
  Json request = {{"execute", command}, {"id", id}};
  if (!arguments.is_null()) request["arguments"] = arguments;
  auto wrote = WriteLine(SafeDump(request) + "\n", deadline, pass_fd);
  if (!wrote.ok()) return std::move(wrote).error().Wrap("QMP " + command);
  while (true) {
    auto msg = ReadMessage(deadline);
    if (!msg.ok()) return std::move(msg).error().Wrap("QMP " + command);
    // Events (and anything not answering our id) interleave freely.
    if (!msg->is_object() || msg->contains("event")) continue;
    auto it = msg->find("id");
    if (it == msg->end() || *it != id) continue;
    if (msg->contains("return")) return (*msg)["return"];
    if (msg->contains("error")) {
      const Json& e = (*msg)["error"];
      std::string desc = e.is_object() && e.contains("desc") && e["desc"].is_string()
                             ? e["desc"].get<std::string>()
                             : SafeDump(e);
      return Error::Internal("QMP " + command + ": " + desc);
    }
    return Error::Internal("QMP " + command + ": malformed reply " + SafeDump(*msg));
  }
}

Status QmpClient::WriteLine(const std::string& line, const Deadline& deadline, int pass_fd) {
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = 0;
    if (pass_fd >= 0 && off == 0) {
      // The descriptor travels with the first byte; the rest follows plainly.
      iovec iov{const_cast<char*>(line.data()), 1};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* cm = CMSG_FIRSTHDR(&msg);
      cm->cmsg_level = SOL_SOCKET;
      cm->cmsg_type = SCM_RIGHTS;
      cm->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
      n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
    } else {
      n = ::send(fd_.get(), line.data() + off, line.size() - off, MSG_NOSIGNAL);
    }
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      BANGER_RETURN_IF_ERROR(PollFd(fd_.get(), POLLOUT, deadline, "writing to " + socket_path_));
      continue;
    }
    return Error::FromErrno("writing to " + socket_path_);
  }
  return OkStatus();
}

Result<Json> QmpClient::ReadMessage(const Deadline& deadline) {
  while (true) {
    size_t nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      auto parsed = ParseJson(line);
      if (!parsed.ok()) return std::move(parsed).error().Wrap("QMP " + socket_path_);
      return std::move(parsed).value();
    }
    if (buf_.size() > kMaxLineBytes) return Error::Internal("QMP " + socket_path_ + ": line too long");
    BANGER_RETURN_IF_ERROR(PollFd(fd_.get(), POLLIN, deadline, "reading from " + socket_path_));
    char chunk[4096];
    ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n > 0) {
      buf_.append(chunk, static_cast<size_t>(n));
    } else if (n == 0) {
      return Error::Unavailable("QMP " + socket_path_ + ": connection closed by QEMU");
    } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      return Error::FromErrno("reading from " + socket_path_);
    }
  }
}

}  // namespace banger
