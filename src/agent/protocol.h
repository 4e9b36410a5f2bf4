// The guest-agent wire format (docs/agent-protocol.md): frames, TLV control
// payloads and the message structs, shared by the host client and the guest
// agent. A pure codec: no I/O and nothing beyond the C++ standard library, so
// the static guest binary links it without pulling in the host's libraries.
//
// A frame is a 16-byte big-endian header (magic, type, flags, channel,
// payload length, CRC-32C of the first 12 bytes) followed by the payload.
// Control payloads are TLV fields (tag u16, length u32, value); unknown tags
// are skipped, so fields can be added without a version bump. DATA payloads
// are one stream byte followed by raw bytes.
//
// Not thread-safe: a FrameDecoder belongs to one reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace banger::agent {

inline constexpr uint16_t kProtocolMajor = 1;
inline constexpr uint16_t kProtocolMinor = 0;

inline constexpr size_t kHeaderSize = 16;
inline constexpr uint8_t kMagic0 = 0x4D;  // 'M'
inline constexpr uint8_t kMagic1 = 0x41;  // 'A'
// The largest payload either side ever accepts; HELLO/HELLO_ACK may lower it.
inline constexpr uint32_t kMaxPayloadLimit = 64 * 1024;
// DATA bytes per frame (below the payload limit so a frame never waits for a
// whole 64 KiB of output).
inline constexpr uint32_t kMaxDataChunk = 32 * 1024;
// Default credit windows: what the host buffers per channel for output, and
// what the guest buffers per channel for stdin (guest RAM is scarce).
inline constexpr uint32_t kDefaultHostWindow = 256 * 1024;
inline constexpr uint32_t kDefaultGuestWindow = 64 * 1024;

enum class MsgType : uint8_t {
  // Channel 0 (connection control).
  kHello = 0x01,
  kHelloAck = 0x02,
  kPing = 0x03,
  kPong = 0x04,
  kGoAway = 0x05,
  kError = 0x06,
  // Opening a channel.
  kOpen = 0x10,
  kOpenOk = 0x11,
  kOpenFail = 0x12,
  // On an open channel.
  kData = 0x20,
  kWindow = 0x21,
  kEof = 0x22,
  kSignal = 0x23,
  kResize = 0x24,
  kExit = 0x25,
  kClose = 0x26,
};

// "HELLO", "DATA", ... or "0x7f" for a type this build does not know.
std::string MsgTypeName(uint8_t type);

// FIN: the sender's last frame on this channel. RST: the sender aborted it.
inline constexpr uint8_t kFlagFin = 0x01;
inline constexpr uint8_t kFlagRst = 0x02;

enum class Stream : uint8_t { kStdin = 0, kStdout = 1, kStderr = 2, kPty = 3 };

enum class OpenKind : uint8_t { kExec = 1 };

// ERROR codes.
enum class ErrorCode : uint32_t {
  kUnsupported = 1,  // unknown message type
  kBadMessage = 2,   // a payload that does not decode
  kBadChannel = 3,   // a frame for a channel that was never opened, or a reused id
  kFlowControl = 4,  // DATA beyond the granted credit
};

struct Frame {
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t channel = 0;
  std::string payload;
};

// CRC-32C (Castagnoli), as used for the header check.
uint32_t Crc32c(const uint8_t* data, size_t len);

// Appends one frame (header + payload) to *out.
void AppendFrame(std::string* out, MsgType type, uint8_t flags, uint32_t channel, std::string_view payload);
// Appends a DATA frame without building the payload separately (hot path).
void AppendDataFrame(std::string* out, uint32_t channel, Stream stream, std::string_view bytes);

// Turns a byte stream into frames. Input may arrive split anywhere. A header
// with the wrong magic, a bad CRC or a payload longer than the limit is not a
// frame: the decoder skips one byte and scans for the next magic (resync), and
// counts what it skipped so the owner can react (the agent then waits for a
// fresh HELLO; the host's handshake discards stale bytes this way).
class FrameDecoder {
 public:
  explicit FrameDecoder(uint32_t max_payload = kMaxPayloadLimit) : max_payload_(max_payload) {}

  void Feed(std::string_view bytes);
  // The next complete frame, or nullopt when more input is needed.
  std::optional<Frame> Next();
  // Bytes discarded by resync since the last call.
  uint64_t TakeSkipped() { return std::exchange(skipped_, 0); }
  // Drops buffered partial input (the peer reconnected).
  void Reset();
  void set_max_payload(uint32_t max) { max_payload_ = max; }
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  // True if a plausible header starts at buf_[pos_] (needs kHeaderSize bytes).
  bool HeaderValidAt(size_t pos) const;
  void Compact();

  uint32_t max_payload_;
  std::string buf_;
  size_t pos_ = 0;  // start of unconsumed input in buf_
  uint64_t skipped_ = 0;
};

// TLV encoding for control payloads. Integers are big-endian; the reader
// accepts any width from 1 to 8 bytes, so a field can grow later.
class TlvWriter {
 public:
  TlvWriter& U8(uint16_t tag, uint8_t v) { return Uint(tag, v, 1); }
  TlvWriter& U16(uint16_t tag, uint16_t v) { return Uint(tag, v, 2); }
  TlvWriter& U32(uint16_t tag, uint32_t v) { return Uint(tag, v, 4); }
  TlvWriter& U64(uint16_t tag, uint64_t v) { return Uint(tag, v, 8); }
  TlvWriter& Bytes(uint16_t tag, std::string_view v);
  std::string Take() { return std::move(out_); }

 private:
  TlvWriter& Uint(uint16_t tag, uint64_t v, int width);
  std::string out_;
};

class TlvReader {
 public:
  explicit TlvReader(std::string_view payload) : in_(payload) {}
  // The next field; false at the end or on a truncated field (then malformed()).
  bool Next(uint16_t* tag, std::string_view* value);
  bool malformed() const { return malformed_; }

 private:
  std::string_view in_;
  bool malformed_ = false;
};

// A big-endian unsigned integer of 1..8 bytes.
std::optional<uint64_t> TlvUint(std::string_view value);

// Message payloads. Each has Encode() and a static Decode() that returns
// nullopt only for a malformed payload; missing fields keep their defaults.

struct Hello {
  static constexpr MsgType kType = MsgType::kHello;
  uint64_t nonce = 0;
  uint16_t major = kProtocolMajor;
  uint16_t minor = kProtocolMinor;
  uint64_t features = 0;
  uint32_t max_frame = kMaxPayloadLimit;
  std::string Encode() const;
  static std::optional<Hello> Decode(std::string_view payload);
  bool operator==(const Hello&) const = default;
};

struct HelloAck {
  static constexpr MsgType kType = MsgType::kHelloAck;
  uint64_t nonce = 0;  // the HELLO's nonce, echoed
  uint16_t major = kProtocolMajor;
  uint16_t minor = kProtocolMinor;  // the negotiated (lower) minor
  uint64_t features = 0;            // the features both sides have
  uint32_t max_frame = kMaxPayloadLimit;
  std::string build;
  std::string boot_id;
  std::string hostname;
  std::string Encode() const;
  static std::optional<HelloAck> Decode(std::string_view payload);
  bool operator==(const HelloAck&) const = default;
};

struct Ping {
  static constexpr MsgType kType = MsgType::kPing;
  uint64_t id = 0;
  std::string Encode() const;
  static std::optional<Ping> Decode(std::string_view payload);
  bool operator==(const Ping&) const = default;
};

struct Pong {
  static constexpr MsgType kType = MsgType::kPong;
  uint64_t id = 0;  // the PING's id, echoed
  std::string Encode() const;
  static std::optional<Pong> Decode(std::string_view payload);
  bool operator==(const Pong&) const = default;
};

// The sender will not serve this connection (as it stands). When it answers
// a HELLO it echoes the nonce and names its own version.
struct GoAway {
  static constexpr MsgType kType = MsgType::kGoAway;
  uint64_t nonce = 0;
  uint16_t major = kProtocolMajor;
  uint16_t minor = kProtocolMinor;
  std::string reason;
  std::string Encode() const;
  static std::optional<GoAway> Decode(std::string_view payload);
  bool operator==(const GoAway&) const = default;
};

struct ErrorMsg {
  static constexpr MsgType kType = MsgType::kError;
  uint32_t code = 0;     // ErrorCode
  uint32_t channel = 0;  // the channel the offending frame named
  std::string message;
  std::string Encode() const;
  static std::optional<ErrorMsg> Decode(std::string_view payload);
  bool operator==(const ErrorMsg&) const = default;
};

struct Open {
  static constexpr MsgType kType = MsgType::kOpen;
  uint8_t kind = static_cast<uint8_t>(OpenKind::kExec);
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "KEY=VALUE", merged over the agent's defaults
  std::string cwd;               // "" = the agent's default (/root)
  bool tty = false;
  uint16_t rows = 24;
  uint16_t cols = 80;
  uint32_t window = kDefaultHostWindow;  // output credit the host grants up front
  std::string Encode() const;
  static std::optional<Open> Decode(std::string_view payload);
  bool operator==(const Open&) const = default;
};

struct OpenOk {
  static constexpr MsgType kType = MsgType::kOpenOk;
  uint32_t pid = 0;
  uint32_t window = kDefaultGuestWindow;  // stdin credit the guest grants up front
  std::string Encode() const;
  static std::optional<OpenOk> Decode(std::string_view payload);
  bool operator==(const OpenOk&) const = default;
};

struct OpenFail {
  static constexpr MsgType kType = MsgType::kOpenFail;
  uint32_t err = 0;   // errno in the guest
  std::string stage;  // what failed: "argv", "cwd", "pipe", "pty", "fork", "limit", "kind"
  std::string message;
  std::string Encode() const;
  static std::optional<OpenFail> Decode(std::string_view payload);
  bool operator==(const OpenFail&) const = default;
};

struct Data {
  static constexpr MsgType kType = MsgType::kData;
  Stream stream = Stream::kStdout;
  std::string bytes;
  std::string Encode() const;
  static std::optional<Data> Decode(std::string_view payload);
  bool operator==(const Data&) const = default;
};

struct Window {
  static constexpr MsgType kType = MsgType::kWindow;
  uint32_t delta = 0;
  std::string Encode() const;
  static std::optional<Window> Decode(std::string_view payload);
  bool operator==(const Window&) const = default;
};

struct Eof {
  static constexpr MsgType kType = MsgType::kEof;
  Stream stream = Stream::kStdin;
  std::string Encode() const;
  static std::optional<Eof> Decode(std::string_view payload);
  bool operator==(const Eof&) const = default;
};

struct SignalMsg {
  static constexpr MsgType kType = MsgType::kSignal;
  uint32_t signo = 0;
  std::string Encode() const;
  static std::optional<SignalMsg> Decode(std::string_view payload);
  bool operator==(const SignalMsg&) const = default;
};

struct Resize {
  static constexpr MsgType kType = MsgType::kResize;
  uint16_t rows = 0;
  uint16_t cols = 0;
  std::string Encode() const;
  static std::optional<Resize> Decode(std::string_view payload);
  bool operator==(const Resize&) const = default;
};

struct Exit {
  static constexpr MsgType kType = MsgType::kExit;
  bool signaled = false;
  uint32_t code = 0;   // exit code when !signaled
  uint32_t signo = 0;  // terminating signal when signaled
  bool core = false;
  std::string Encode() const;
  static std::optional<Exit> Decode(std::string_view payload);
  bool operator==(const Exit&) const = default;
};

struct Close {
  static constexpr MsgType kType = MsgType::kClose;
  std::string Encode() const;
  static std::optional<Close> Decode(std::string_view payload);
  bool operator==(const Close&) const = default;
};

// Appends a frame carrying message m.
template <typename M>
void AppendMessage(std::string* out, uint32_t channel, const M& m, uint8_t flags = 0) {
  AppendFrame(out, M::kType, flags, channel, m.Encode());
}

// Decodes frame f as message M; nullopt if f is another type or malformed.
template <typename M>
std::optional<M> Parse(const Frame& f) {
  if (f.type != static_cast<uint8_t>(M::kType)) return std::nullopt;
  return M::Decode(f.payload);
}

}  // namespace banger::agent
