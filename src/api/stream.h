// The messages of the API's streams (docs/api.md "Streams"): WebSockets
// (http/ws.h) whose binary messages are [type u8][payload], the types below.
// Flow control is the connection's own: each side writes with blocking
// writes and reads only as fast as it can pass data on, so nothing is
// buffered without bound (the daemon stops reading the guest when the
// client stalls).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace banger {

enum class StreamType : uint8_t {
  kStdin = 1,     // CLI -> daemon: bytes for the command's stdin
  kStdout = 2,    // daemon -> CLI
  kStderr = 3,    // daemon -> CLI
  kStdinEof = 4,  // CLI -> daemon: no more stdin
  kExit = 5,      // daemon -> CLI: JSON {"code", "signaled", "signo", "core"}; last frame
  kSignal = 6,    // CLI -> daemon: one byte, the signal number
  kResize = 7,    // CLI -> daemon: rows u16, cols u16 (big-endian)
  kError = 8,     // daemon -> CLI: JSON {"code", "message"}; the operation failed; last frame
  kProgress = 9,  // daemon -> CLI: one progress line (text)
  kResult = 10,   // daemon -> CLI: JSON result of a long operation; last frame
  kEvent = 11,    // daemon -> client: JSON, one event of the event log
};

// The type byte of a binary message.
constexpr uint8_t Msg(StreamType t) { return static_cast<uint8_t>(t); }

// The payload of an error frame, and back.
std::string EncodeErrorFrame(const Error& e);
Error DecodeErrorFrame(const std::string& payload);

// An exit message's payload {"code", "signaled", "signo", "core"}; an error
// when it is not one (no integer code).
struct ExitFrame {
  int code = 0;
  bool signaled = false;
  int signo = 0;
};
Result<ExitFrame> DecodeExitFrame(std::string_view payload);

std::string EncodeResize(uint16_t rows, uint16_t cols);
bool DecodeResize(std::string_view p, uint16_t& rows, uint16_t& cols);

}  // namespace banger
