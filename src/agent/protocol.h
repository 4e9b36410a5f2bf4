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
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace banger::agent {

inline constexpr uint16_t kProtocolMajor = 1;
// 1.1: OPEN's user field (tag 0x21).
inline constexpr uint16_t kProtocolMinor = 1;

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
  // v as a `width`-byte (1..8) big-endian integer.
  TlvWriter& Uint(uint16_t tag, uint64_t v, int width);
  TlvWriter& Bytes(uint16_t tag, std::string_view v);
  std::string Take() { return std::move(out_); }

 private:
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

// TLV tags, one table for every message (docs/agent-protocol.md lists them).
namespace tag {
inline constexpr uint16_t kNonce = 0x01;
inline constexpr uint16_t kMajor = 0x02;
inline constexpr uint16_t kMinor = 0x03;
inline constexpr uint16_t kFeatures = 0x04;
inline constexpr uint16_t kMaxFrame = 0x05;
inline constexpr uint16_t kBuild = 0x06;
inline constexpr uint16_t kBootId = 0x07;
inline constexpr uint16_t kHostname = 0x08;
inline constexpr uint16_t kId = 0x09;
inline constexpr uint16_t kReason = 0x0A;
inline constexpr uint16_t kCode = 0x0B;
inline constexpr uint16_t kChannel = 0x0C;
inline constexpr uint16_t kMessage = 0x0D;
inline constexpr uint16_t kKind = 0x10;
inline constexpr uint16_t kArg = 0x11;
inline constexpr uint16_t kEnv = 0x12;
inline constexpr uint16_t kCwd = 0x13;
inline constexpr uint16_t kTty = 0x14;
inline constexpr uint16_t kRows = 0x15;
inline constexpr uint16_t kCols = 0x16;
inline constexpr uint16_t kWindow = 0x17;
inline constexpr uint16_t kPid = 0x18;
inline constexpr uint16_t kErrno = 0x19;
inline constexpr uint16_t kStage = 0x1A;
inline constexpr uint16_t kStream = 0x1B;
inline constexpr uint16_t kDelta = 0x1C;
inline constexpr uint16_t kSigno = 0x1D;
inline constexpr uint16_t kSignaled = 0x1E;
inline constexpr uint16_t kCore = 0x1F;
inline constexpr uint16_t kVmId = 0x20;
inline constexpr uint16_t kUser = 0x21;
}  // namespace tag

// One TLV field of a message: its tag and the member it carries. The member's
// type decides the encoding: an unsigned integer is written at its own width,
// bool and enums as one byte, a string as its bytes, and a vector of strings
// as one field per element (in order).
template <typename M, typename T>
struct Field {
  uint16_t tag;
  T M::*member;
};
// Spelled out for compilers without class template argument deduction for
// aggregates (clang-tidy's clang 14).
template <typename M, typename T>
Field(uint16_t, T M::*) -> Field<M, T>;

// Message payloads. Each TLV message lists its fields, in wire order, in a
// static Fields(); Encode() and Decode<M>() below walk that list, so a message
// is declared once. Decode returns nullopt only for a malformed payload;
// missing fields keep their defaults and unknown tags are skipped. DATA is the
// one message that is not TLV (see Encode(const Data&)).

// Host -> guest on channel 0: opens a session (again after a framing error).
struct Hello {
  static constexpr MsgType kType = MsgType::kHello;
  uint64_t nonce = 0;
  uint16_t major = kProtocolMajor;
  uint16_t minor = kProtocolMinor;
  uint64_t features = 0;
  uint32_t max_frame = kMaxPayloadLimit;
  static constexpr auto Fields() {
    return std::tuple{Field{tag::kNonce, &Hello::nonce}, Field{tag::kMajor, &Hello::major},
                      Field{tag::kMinor, &Hello::minor}, Field{tag::kFeatures, &Hello::features},
                      Field{tag::kMaxFrame, &Hello::max_frame}};
  }
  bool operator==(const Hello&) const = default;
};

// Guest -> host: the HELLO is accepted; names the agent build and the boot.
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
  // The VM id the guest holds now: banger.vm_id= of its kernel command line,
  // or the one a fixup gave it after a restore or fork. Absent (empty) from
  // older agents.
  std::string vm_id;
  static constexpr auto Fields() {
    return std::tuple{Field{tag::kNonce, &HelloAck::nonce},        Field{tag::kMajor, &HelloAck::major},
                      Field{tag::kMinor, &HelloAck::minor},        Field{tag::kFeatures, &HelloAck::features},
                      Field{tag::kMaxFrame, &HelloAck::max_frame}, Field{tag::kBuild, &HelloAck::build},
                      Field{tag::kBootId, &HelloAck::boot_id},     Field{tag::kHostname, &HelloAck::hostname},
                      Field{tag::kVmId, &HelloAck::vm_id}};
  }
  bool operator==(const HelloAck&) const = default;
};

// Either way, on channel 0: a liveness probe.
struct Ping {
  static constexpr MsgType kType = MsgType::kPing;
  uint64_t id = 0;
  static constexpr auto Fields() { return std::tuple{Field{tag::kId, &Ping::id}}; }
  bool operator==(const Ping&) const = default;
};

// The answer to a PING.
struct Pong {
  static constexpr MsgType kType = MsgType::kPong;
  uint64_t id = 0;  // the PING's id, echoed
  static constexpr auto Fields() { return std::tuple{Field{tag::kId, &Pong::id}}; }
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
  static constexpr auto Fields() {
    return std::tuple{Field{tag::kNonce, &GoAway::nonce}, Field{tag::kMajor, &GoAway::major},
                      Field{tag::kMinor, &GoAway::minor}, Field{tag::kReason, &GoAway::reason}};
  }
  bool operator==(const GoAway&) const = default;
};

// Either way: a frame the receiver could not act on; the connection stays up.
struct ErrorMsg {
  static constexpr MsgType kType = MsgType::kError;
  uint32_t code = 0;     // ErrorCode
  uint32_t channel = 0;  // the channel the offending frame named
  std::string message;
  static constexpr auto Fields() {
    return std::tuple{Field{tag::kCode, &ErrorMsg::code}, Field{tag::kChannel, &ErrorMsg::channel},
                      Field{tag::kMessage, &ErrorMsg::message}};
  }
  bool operator==(const ErrorMsg&) const = default;
};

// Host -> guest: run a command on a new odd channel id (ids only increase).
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
  // "" = root (the agent's own identity); else "name", "uid", "uid:gid",
  // "name:group", resolved in the guest's /etc/passwd and /etc/group (1.1).
  std::string user;
  static constexpr auto Fields() {
    return std::tuple{
        Field{tag::kKind, &Open::kind}, Field{tag::kArg, &Open::argv},      Field{tag::kEnv, &Open::env},
        Field{tag::kCwd, &Open::cwd},   Field{tag::kTty, &Open::tty},       Field{tag::kRows, &Open::rows},
        Field{tag::kCols, &Open::cols}, Field{tag::kWindow, &Open::window}, Field{tag::kUser, &Open::user}};
  }
  bool operator==(const Open&) const = default;
};

// Guest -> host: the command runs; precedes the channel's first DATA.
struct OpenOk {
  static constexpr MsgType kType = MsgType::kOpenOk;
  uint32_t pid = 0;
  uint32_t window = kDefaultGuestWindow;  // stdin credit the guest grants up front
  static constexpr auto Fields() {
    return std::tuple{Field{tag::kPid, &OpenOk::pid}, Field{tag::kWindow, &OpenOk::window}};
  }
  bool operator==(const OpenOk&) const = default;
};

// Guest -> host (FIN): the request could not start at all.
struct OpenFail {
  static constexpr MsgType kType = MsgType::kOpenFail;
  uint32_t err = 0;   // errno in the guest
  std::string stage;  // what failed: "argv", "cwd", "user", "pipe", "pty", "fork", "limit", "kind"
  std::string message;
  static constexpr auto Fields() {
    return std::tuple{Field{tag::kErrno, &OpenFail::err}, Field{tag::kStage, &OpenFail::stage},
                      Field{tag::kMessage, &OpenFail::message}};
  }
  bool operator==(const OpenFail&) const = default;
};

// Either way: stream bytes on a channel, within the granted credit.
struct Data {
  static constexpr MsgType kType = MsgType::kData;
  Stream stream = Stream::kStdout;
  std::string bytes;
  bool operator==(const Data&) const = default;
};

// Either way: delta more bytes of DATA credit on this channel.
struct Window {
  static constexpr MsgType kType = MsgType::kWindow;
  uint32_t delta = 0;
  static constexpr auto Fields() { return std::tuple{Field{tag::kDelta, &Window::delta}}; }
  bool operator==(const Window&) const = default;
};

// Either way: a stream ended (host: stdin; guest: an output stream).
struct Eof {
  static constexpr MsgType kType = MsgType::kEof;
  Stream stream = Stream::kStdin;
  static constexpr auto Fields() { return std::tuple{Field{tag::kStream, &Eof::stream}}; }
  bool operator==(const Eof&) const = default;
};

// Host -> guest: deliver signo to the command's process group.
struct SignalMsg {
  static constexpr MsgType kType = MsgType::kSignal;
  uint32_t signo = 0;
  static constexpr auto Fields() { return std::tuple{Field{tag::kSigno, &SignalMsg::signo}}; }
  bool operator==(const SignalMsg&) const = default;
};

// Host -> guest: set the pty window size (ignored without a tty).
struct Resize {
  static constexpr MsgType kType = MsgType::kResize;
  uint16_t rows = 0;
  uint16_t cols = 0;
  static constexpr auto Fields() {
    return std::tuple{Field{tag::kRows, &Resize::rows}, Field{tag::kCols, &Resize::cols}};
  }
  bool operator==(const Resize&) const = default;
};

// Guest -> host (FIN): how the command ended; the last frame on the channel.
struct Exit {
  static constexpr MsgType kType = MsgType::kExit;
  bool signaled = false;
  uint32_t code = 0;   // exit code when !signaled
  uint32_t signo = 0;  // terminating signal when signaled
  bool core = false;
  static constexpr auto Fields() {
    return std::tuple{Field{tag::kSignaled, &Exit::signaled}, Field{tag::kCode, &Exit::code},
                      Field{tag::kSigno, &Exit::signo}, Field{tag::kCore, &Exit::core}};
  }
  bool operator==(const Exit&) const = default;
};

// Host -> guest: done with the channel; a still-running command is killed.
struct Close {
  static constexpr MsgType kType = MsgType::kClose;
  static constexpr auto Fields() { return std::tuple<>{}; }
  bool operator==(const Close&) const = default;
};

namespace detail {

template <typename T>
void PutField(TlvWriter& w, uint16_t t, const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    w.U8(t, v ? 1 : 0);
  } else if constexpr (std::is_enum_v<T>) {
    PutField(w, t, static_cast<std::underlying_type_t<T>>(v));
  } else if constexpr (std::is_same_v<T, std::string>) {
    w.Bytes(t, v);
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    for (const auto& s : v) w.Bytes(t, s);
  } else {
    static_assert(std::is_unsigned_v<T>, "unsupported field type");
    w.Uint(t, v, sizeof(T));
  }
}

// Reads one field value into *out; false if it is malformed (an integer that
// is empty, wider than 8 bytes or too large for the member).
template <typename T>
bool GetField(std::string_view v, T* out) {
  if constexpr (std::is_same_v<T, bool>) {
    uint8_t b = 0;
    if (!GetField(v, &b)) return false;
    *out = b != 0;
  } else if constexpr (std::is_enum_v<T>) {
    std::underlying_type_t<T> raw{};
    if (!GetField(v, &raw)) return false;
    *out = static_cast<T>(raw);
  } else if constexpr (std::is_same_v<T, std::string>) {
    out->assign(v);
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    out->emplace_back(v);
  } else {
    static_assert(std::is_unsigned_v<T>, "unsupported field type");
    auto u = TlvUint(v);
    if (!u || *u > std::numeric_limits<T>::max()) return false;
    *out = static_cast<T>(*u);
  }
  return true;
}

// Decodes value v into the field of m tagged t; true for a tag m does not have.
template <typename M>
bool DecodeTagged(M& m, uint16_t t, std::string_view v) {
  return std::apply(
      [&](const auto&... f) {
        bool ok = true;
        (void)((f.tag == t && (ok = GetField(v, &(m.*f.member)), true)) || ...);
        return ok;
      },
      M::Fields());
}

}  // namespace detail

// The TLV payload of message m.
template <typename M>
std::string Encode(const M& m) {
  TlvWriter w;
  std::apply([&](const auto&... f) { (detail::PutField(w, f.tag, m.*f.member), ...); }, M::Fields());
  return w.Take();
}

// Message M from a TLV payload, or nullopt if the payload is malformed.
template <typename M>
std::optional<M> Decode(std::string_view payload) {
  M m;
  TlvReader r(payload);
  uint16_t t = 0;
  std::string_view v;
  while (r.Next(&t, &v)) {
    if (!detail::DecodeTagged(m, t, v)) return std::nullopt;
  }
  if (r.malformed()) return std::nullopt;
  return m;
}

// DATA: one stream byte, then the raw bytes.
std::string Encode(const Data& m);
template <>
std::optional<Data> Decode<Data>(std::string_view payload);

// Appends a frame carrying message m.
template <typename M>
void AppendMessage(std::string* out, uint32_t channel, const M& m, uint8_t flags = 0) {
  AppendFrame(out, M::kType, flags, channel, Encode(m));
}

// Decodes frame f as message M; nullopt if f is another type or malformed.
template <typename M>
std::optional<M> Parse(const Frame& f) {
  if (f.type != static_cast<uint8_t>(M::kType)) return std::nullopt;
  return Decode<M>(f.payload);
}

}  // namespace banger::agent
