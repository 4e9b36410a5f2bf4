// ttrpc framing (containerd/ttrpc 1.1 channel.go): every message is a 10-byte
// big-endian header, then its payload:
//
//   u32 payload length | u32 stream id | u8 type | u8 flags | payload
//
// type 1 = request (a ttrpc.Request), 2 = response (a ttrpc.Response); flags
// are 0 in ttrpc 1.1 (read and ignored). Client-initiated streams have odd ids
// (1, 3, 5...). A payload is at most kMaxPayload (4 MiB) bytes; the decoder
// reports a longer one without buffering it (FrameDecoder::Next).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace banger::ttrpc {

inline constexpr size_t kHeaderSize = 10;
inline constexpr uint32_t kMaxPayload = 4u << 20;

enum class MsgType : uint8_t { kRequest = 1, kResponse = 2 };

struct FrameHeader {
  uint32_t length = 0;
  uint32_t stream_id = 0;
  uint8_t type = 0;
  uint8_t flags = 0;
  bool operator==(const FrameHeader&) const = default;
};

struct Frame {
  FrameHeader header;
  std::string payload;
};

// Writes the 10 header bytes to out[0..9].
void EncodeHeader(const FrameHeader& h, char* out);
// Reads a header from in[0..9] (no checks: any 10 bytes are a header).
FrameHeader DecodeHeader(const char* in);

// Header + payload, ready to write. InvalidArgument if the payload is longer
// than `max_payload`.
Result<std::string> EncodeFrame(uint32_t stream_id, MsgType type, std::string_view payload,
                                uint32_t max_payload = kMaxPayload, uint8_t flags = 0);

// Cuts a byte stream into frames. Feed bytes as they arrive, then call Next
// until it says kNeedMore. Holds at most one partial frame (header + up to
// max_payload bytes) plus what was fed since the last Next.
class FrameDecoder {
 public:
  enum class Event {
    kNeedMore,  // no complete frame yet
    kFrame,     // *out holds the next frame
    // The next header announces more than max_payload bytes: *out has that
    // header and no payload. The stream cannot be resynchronized (its payload
    // was not read), so the decoder stays in this state: every later Next
    // says kTooLarge again with the same header.
    kTooLarge,
  };

  explicit FrameDecoder(uint32_t max_payload = kMaxPayload) : max_payload_(max_payload) {}

  void Feed(std::string_view bytes);
  Event Next(Frame* out);
  // Bytes fed but not yet returned in a frame.
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  void Compact();

  uint32_t max_payload_;
  std::string buf_;
  size_t pos_ = 0;  // start of the unconsumed bytes in buf_
  bool too_large_ = false;
  FrameHeader too_large_header_;
};

}  // namespace banger::ttrpc
