// Frames on an upgraded API connection (exec, image build): after the 101,
// both sides exchange [type u8][length u32 big-endian][payload] frames.
// Flow control is the socket's own: each side writes with blocking writes
// and reads only as fast as it can pass data on, so nothing is buffered
// without bound (the daemon stops reading the guest when the CLI stalls).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace banger {

inline constexpr const char* kStreamProtocol = "banger-stream/1";
inline constexpr size_t kMaxStreamPayload = 1 << 20;

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
};

struct StreamFrame {
  StreamType type = StreamType::kStdout;
  std::string payload;
};

// Writes one frame fully (retrying short writes and EINTR).
Status WriteStreamFrame(int fd, StreamType type, std::string_view payload);

// Reads frames from a blocking fd, starting with bytes already received.
class StreamReader {
 public:
  StreamReader(int fd, std::string leftover) : fd_(fd), buf_(std::move(leftover)) {}
  // The next frame; nullopt on a clean end of stream between frames.
  Result<std::optional<StreamFrame>> Next();

 private:
  Status Fill(size_t need);
  int fd_;
  std::string buf_;
  bool eof_ = false;
};

// The payload of an error frame, and back.
std::string EncodeErrorFrame(const Error& e);
Error DecodeErrorFrame(const std::string& payload);

std::string EncodeResize(uint16_t rows, uint16_t cols);
bool DecodeResize(std::string_view p, uint16_t& rows, uint16_t& cols);

}  // namespace banger
