// Socket I/O with deadlines for the ttrpc server and client (internal to
// this library): a wake-up eventfd, a read that a Wake ends, a whole write
// that gives up at a deadline.
#pragma once

#include <chrono>
#include <cstddef>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"

namespace banger::ttrpc {

using Clock = std::chrono::steady_clock;

// An eventfd another thread sets to end a blocked ReadSome.
class Waker {
 public:
  static Result<Waker> Create();
  void Wake() const;
  int fd() const { return fd_.get(); }

 private:
  explicit Waker(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

enum class ReadOutcome { kData, kEof, kWoken, kError };

// Waits for `fd` to be readable or `waker` to be set, then reads up to `cap`
// bytes into buf (*n: how many). kError carries errno in *err.
ReadOutcome ReadSome(int fd, const Waker& waker, char* buf, size_t cap, size_t* n, int* err);

// Writes all of `data` to the socket `fd` (MSG_NOSIGNAL: a closed peer is
// EPIPE, not SIGPIPE), waiting for room until `deadline`. Timeout when the
// peer does not read in time; then part of the data may have been written.
Status WriteAll(int fd, std::string_view data, Clock::time_point deadline);

// Milliseconds from now to `deadline` for poll(): 0 when it passed, rounded
// up, capped at INT_MAX.
int PollTimeoutMs(Clock::time_point deadline);

}  // namespace banger::ttrpc
