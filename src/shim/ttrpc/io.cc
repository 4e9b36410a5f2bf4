#include "ttrpc/io.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <cstdint>

namespace banger::ttrpc {

Result<Waker> Waker::Create() {
  int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return Error::FromErrno("eventfd");
  return Waker(UniqueFd(fd));
}

void Waker::Wake() const {
  uint64_t one = 1;
  // EAGAIN (the counter is saturated) still leaves it readable.
  (void)!::write(fd_.get(), &one, sizeof(one));
}

ReadOutcome ReadSome(int fd, const Waker& waker, char* buf, size_t cap, size_t* n, int* err) {
  *n = 0;
  *err = 0;
  for (;;) {
    pollfd fds[2] = {{.fd = fd, .events = POLLIN, .revents = 0},
                     {.fd = waker.fd(), .events = POLLIN, .revents = 0}};
    int rc = ::poll(fds, 2, -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      *err = errno;
      return ReadOutcome::kError;
    }
    if (fds[1].revents != 0) return ReadOutcome::kWoken;
    if (fds[0].revents == 0) continue;
    ssize_t got = ::recv(fd, buf, cap, MSG_DONTWAIT);
    if (got > 0) {
      *n = static_cast<size_t>(got);
      return ReadOutcome::kData;
    }
    if (got == 0) return ReadOutcome::kEof;
    if (errno == EINTR || errno == EAGAIN) continue;
    *err = errno;
    return ReadOutcome::kError;
  }
}

int PollTimeoutMs(Clock::time_point deadline) {
  auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

Status WriteAll(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    ssize_t put = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (put > 0) {
      data.remove_prefix(static_cast<size_t>(put));
      continue;
    }
    if (put < 0 && errno == EINTR) continue;
    if (put < 0 && errno != EAGAIN) return Error::FromErrno("writing a ttrpc frame");
    int ms = PollTimeoutMs(deadline);
    if (ms == 0) return Error::Timeout("writing a ttrpc frame: the peer did not read in time");
    pollfd p{.fd = fd, .events = POLLOUT, .revents = 0};
    int rc = ::poll(&p, 1, ms);
    if (rc < 0 && errno != EINTR) return Error::FromErrno("waiting to write a ttrpc frame");
  }
  return OkStatus();
}

}  // namespace banger::ttrpc
