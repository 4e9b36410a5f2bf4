// The relay of one published-port connection (daemon/port_service.h): the
// bytes of an accepted host TCP socket to and from a guest command whose
// stdin/stdout is a TCP stream in the guest (`banger-agent --connect`).
//
// - Back pressure: at most one chunk is read from the host before it is
//   written to the guest (the write waits for the agent's stdin credit),
//   and the next guest output is only asked for once the last one is sent
//   to the host. Nothing is buffered beyond one chunk per direction.
// - Half-close: the host's EOF closes the command's stdin (the agent then
//   half-closes its socket); the command's exit half-closes the host socket
//   after its output, then the host side gets `linger` to finish.
// - Deadlines: a guest that grants no stdin credit fails the write (the
//   agent connection's credit timeout); no bytes either way for
//   idle_timeout, or `stop`, aborts the command. A stalled guest costs only
//   its own connection.
//
// Thread-safety: RunRelay runs on the calling thread plus one thread it
// starts and joins; RelayGuest is used by one reader (Next), one writer
// (Write, CloseWrite) and Abort from either.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/client.h"
#include "base/result.h"

namespace banger {

// The guest end of a relayed connection.
class RelayGuest {
 public:
  virtual ~RelayGuest() = default;
  // Blocks while the guest grants no credit; fails after Abort.
  virtual Status Write(std::string_view data) = 0;
  virtual Status CloseWrite() = 0;
  // The next output or the exit; blocks; fails after Abort.
  virtual Result<ExecEvent> Next() = 0;
  // From any thread: blocked and later calls fail, the command is killed.
  virtual void Abort(const std::string& reason) = 0;
};

struct RelayOptions {
  size_t chunk = 32 * 1024;
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(30)};
  // How long the host side gets to close after the guest's end was sent.
  std::chrono::milliseconds linger{std::chrono::seconds(2)};
  std::chrono::milliseconds tick{std::chrono::milliseconds(200)};  // stop/idle checks
};

struct RelayResult {
  uint64_t up_bytes = 0;    // host -> guest
  uint64_t down_bytes = 0;  // guest -> host
  std::string end;          // why it ended, for the log
};

// Relays until both directions ended, the guest failed, it was idle, or
// `stop` was set. Does not close host_fd (the caller owns it).
RelayResult RunRelay(int host_fd, RelayGuest& guest, const RelayOptions& opts, const std::atomic<bool>& stop);

}  // namespace banger
