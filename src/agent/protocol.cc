#include "agent/protocol.h"

#include <array>
#include <cstring>

namespace banger::agent {
namespace {

// TLV tags, one table for every message (docs/agent-protocol.md lists them).
namespace tag {
constexpr uint16_t kNonce = 0x01;
constexpr uint16_t kMajor = 0x02;
constexpr uint16_t kMinor = 0x03;
constexpr uint16_t kFeatures = 0x04;
constexpr uint16_t kMaxFrame = 0x05;
constexpr uint16_t kBuild = 0x06;
constexpr uint16_t kBootId = 0x07;
constexpr uint16_t kHostname = 0x08;
constexpr uint16_t kId = 0x09;
constexpr uint16_t kReason = 0x0A;
constexpr uint16_t kCode = 0x0B;
constexpr uint16_t kChannel = 0x0C;
constexpr uint16_t kMessage = 0x0D;
constexpr uint16_t kKind = 0x10;
constexpr uint16_t kArg = 0x11;
constexpr uint16_t kEnv = 0x12;
constexpr uint16_t kCwd = 0x13;
constexpr uint16_t kTty = 0x14;
constexpr uint16_t kRows = 0x15;
constexpr uint16_t kCols = 0x16;
constexpr uint16_t kWindow = 0x17;
constexpr uint16_t kPid = 0x18;
constexpr uint16_t kErrno = 0x19;
constexpr uint16_t kStage = 0x1A;
constexpr uint16_t kStream = 0x1B;
constexpr uint16_t kDelta = 0x1C;
constexpr uint16_t kSigno = 0x1D;
constexpr uint16_t kSignaled = 0x1E;
constexpr uint16_t kCore = 0x1F;
}  // namespace tag

constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

void PutBe(std::string* out, uint64_t v, int width) {
  for (int i = width - 1; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

uint64_t GetBe(const uint8_t* p, int width) {
  uint64_t v = 0;
  for (int i = 0; i < width; ++i) v = (v << 8) | p[i];
  return v;
}

void AppendHeader(std::string* out, MsgType type, uint8_t flags, uint32_t channel, size_t payload_len) {
  size_t start = out->size();
  out->push_back(static_cast<char>(kMagic0));
  out->push_back(static_cast<char>(kMagic1));
  out->push_back(static_cast<char>(type));
  out->push_back(static_cast<char>(flags));
  PutBe(out, channel, 4);
  PutBe(out, payload_len, 4);
  PutBe(out, Crc32c(reinterpret_cast<const uint8_t*>(out->data() + start), 12), 4);
}

// Reads an integer field into *out; false if it is malformed or too wide for T.
template <typename T>
bool GetUint(std::string_view v, T* out) {
  auto u = TlvUint(v);
  if (!u || *u > static_cast<uint64_t>(static_cast<T>(~T{0}))) return false;
  *out = static_cast<T>(*u);
  return true;
}

bool GetBool(std::string_view v, bool* out) {
  uint8_t b = 0;
  if (!GetUint(v, &b)) return false;
  *out = b != 0;
  return true;
}

template <typename E>
bool GetEnum(std::string_view v, E* out) {
  std::underlying_type_t<E> raw{};
  if (!GetUint(v, &raw)) return false;
  *out = static_cast<E>(raw);
  return true;
}

// Calls f(tag, value) for every field; f returns false for a malformed known
// field. Unknown tags are f's to ignore.
template <typename F>
bool ForEachField(std::string_view payload, F&& f) {
  TlvReader r(payload);
  uint16_t t = 0;
  std::string_view v;
  while (r.Next(&t, &v)) {
    if (!f(t, v)) return false;
  }
  return !r.malformed();
}

// Decodes a payload into M through a field handler, or nullopt.
template <typename M, typename F>
std::optional<M> DecodeWith(std::string_view payload, F&& field) {
  M m;
  if (!ForEachField(payload, [&](uint16_t t, std::string_view v) { return field(m, t, v); })) {
    return std::nullopt;
  }
  return m;
}

}  // namespace

std::string MsgTypeName(uint8_t type) {
  switch (static_cast<MsgType>(type)) {
    case MsgType::kHello:
      return "HELLO";
    case MsgType::kHelloAck:
      return "HELLO_ACK";
    case MsgType::kPing:
      return "PING";
    case MsgType::kPong:
      return "PONG";
    case MsgType::kGoAway:
      return "GOAWAY";
    case MsgType::kError:
      return "ERROR";
    case MsgType::kOpen:
      return "OPEN";
    case MsgType::kOpenOk:
      return "OPEN_OK";
    case MsgType::kOpenFail:
      return "OPEN_FAIL";
    case MsgType::kData:
      return "DATA";
    case MsgType::kWindow:
      return "WINDOW";
    case MsgType::kEof:
      return "EOF";
    case MsgType::kSignal:
      return "SIGNAL";
    case MsgType::kResize:
      return "RESIZE";
    case MsgType::kExit:
      return "EXIT";
    case MsgType::kClose:
      return "CLOSE";
  }
  static const char kHex[] = "0123456789abcdef";
  return std::string("0x") + kHex[type >> 4] + kHex[type & 0xF];
}

uint32_t Crc32c(const uint8_t* data, size_t len) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; ++i) c = kCrcTable[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void AppendFrame(std::string* out, MsgType type, uint8_t flags, uint32_t channel, std::string_view payload) {
  out->reserve(out->size() + kHeaderSize + payload.size());
  AppendHeader(out, type, flags, channel, payload.size());
  out->append(payload);
}

void AppendDataFrame(std::string* out, uint32_t channel, Stream stream, std::string_view bytes) {
  out->reserve(out->size() + kHeaderSize + 1 + bytes.size());
  AppendHeader(out, MsgType::kData, 0, channel, 1 + bytes.size());
  out->push_back(static_cast<char>(stream));
  out->append(bytes);
}

// --- FrameDecoder ---

void FrameDecoder::Feed(std::string_view bytes) {
  Compact();
  buf_.append(bytes);
}

bool FrameDecoder::HeaderValidAt(size_t pos) const {
  const auto* p = reinterpret_cast<const uint8_t*>(buf_.data() + pos);
  if (p[0] != kMagic0 || p[1] != kMagic1) return false;
  if (GetBe(p + 12, 4) != Crc32c(p, 12)) return false;
  return GetBe(p + 8, 4) <= max_payload_;
}

std::optional<Frame> FrameDecoder::Next() {
  while (buf_.size() - pos_ >= kHeaderSize) {
    if (!HeaderValidAt(pos_)) {
      // Resync: skip to the next byte that could start a header.
      size_t next = buf_.find(static_cast<char>(kMagic0), pos_ + 1);
      if (next == std::string::npos) next = buf_.size();
      skipped_ += next - pos_;
      pos_ = next;
      continue;
    }
    const auto* p = reinterpret_cast<const uint8_t*>(buf_.data() + pos_);
    size_t len = GetBe(p + 8, 4);
    if (buf_.size() - pos_ < kHeaderSize + len) return std::nullopt;
    Frame f;
    f.type = p[2];
    f.flags = p[3];
    f.channel = static_cast<uint32_t>(GetBe(p + 4, 4));
    f.payload.assign(buf_, pos_ + kHeaderSize, len);
    pos_ += kHeaderSize + len;
    return f;
  }
  // Fewer than kHeaderSize bytes: if they cannot begin a header, drop them
  // now rather than holding garbage until more input arrives.
  if (pos_ < buf_.size() && static_cast<uint8_t>(buf_[pos_]) != kMagic0) {
    size_t next = buf_.find(static_cast<char>(kMagic0), pos_ + 1);
    if (next == std::string::npos) next = buf_.size();
    skipped_ += next - pos_;
    pos_ = next;
  }
  return std::nullopt;
}

void FrameDecoder::Reset() {
  buf_.clear();
  pos_ = 0;
}

void FrameDecoder::Compact() {
  // Amortised: move the tail down only once the consumed prefix dominates.
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > size_t{64} * 1024 && pos_ > buf_.size() / 2) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
}

// --- TLV ---

TlvWriter& TlvWriter::Uint(uint16_t t, uint64_t v, int width) {
  PutBe(&out_, t, 2);
  PutBe(&out_, static_cast<uint64_t>(width), 4);
  PutBe(&out_, v, width);
  return *this;
}

TlvWriter& TlvWriter::Bytes(uint16_t t, std::string_view v) {
  PutBe(&out_, t, 2);
  PutBe(&out_, v.size(), 4);
  out_.append(v);
  return *this;
}

bool TlvReader::Next(uint16_t* t, std::string_view* value) {
  if (in_.empty() || malformed_) return false;
  if (in_.size() < 6) {
    malformed_ = true;
    return false;
  }
  const auto* p = reinterpret_cast<const uint8_t*>(in_.data());
  uint64_t len = GetBe(p + 2, 4);
  if (len > in_.size() - 6) {
    malformed_ = true;
    return false;
  }
  *t = static_cast<uint16_t>(GetBe(p, 2));
  *value = in_.substr(6, len);
  in_.remove_prefix(6 + len);
  return true;
}

std::optional<uint64_t> TlvUint(std::string_view value) {
  if (value.empty() || value.size() > 8) return std::nullopt;
  return GetBe(reinterpret_cast<const uint8_t*>(value.data()), static_cast<int>(value.size()));
}

// --- Messages ---

std::string Hello::Encode() const {
  return TlvWriter()
      .U64(tag::kNonce, nonce)
      .U16(tag::kMajor, major)
      .U16(tag::kMinor, minor)
      .U64(tag::kFeatures, features)
      .U32(tag::kMaxFrame, max_frame)
      .Take();
}

std::optional<Hello> Hello::Decode(std::string_view payload) {
  return DecodeWith<Hello>(payload, [](Hello& m, uint16_t t, std::string_view v) {
    switch (t) {
      case tag::kNonce:
        return GetUint(v, &m.nonce);
      case tag::kMajor:
        return GetUint(v, &m.major);
      case tag::kMinor:
        return GetUint(v, &m.minor);
      case tag::kFeatures:
        return GetUint(v, &m.features);
      case tag::kMaxFrame:
        return GetUint(v, &m.max_frame);
      default:
        return true;
    }
  });
}

std::string HelloAck::Encode() const {
  return TlvWriter()
      .U64(tag::kNonce, nonce)
      .U16(tag::kMajor, major)
      .U16(tag::kMinor, minor)
      .U64(tag::kFeatures, features)
      .U32(tag::kMaxFrame, max_frame)
      .Bytes(tag::kBuild, build)
      .Bytes(tag::kBootId, boot_id)
      .Bytes(tag::kHostname, hostname)
      .Take();
}

std::optional<HelloAck> HelloAck::Decode(std::string_view payload) {
  return DecodeWith<HelloAck>(payload, [](HelloAck& m, uint16_t t, std::string_view v) {
    switch (t) {
      case tag::kNonce:
        return GetUint(v, &m.nonce);
      case tag::kMajor:
        return GetUint(v, &m.major);
      case tag::kMinor:
        return GetUint(v, &m.minor);
      case tag::kFeatures:
        return GetUint(v, &m.features);
      case tag::kMaxFrame:
        return GetUint(v, &m.max_frame);
      case tag::kBuild:
        m.build = v;
        return true;
      case tag::kBootId:
        m.boot_id = v;
        return true;
      case tag::kHostname:
        m.hostname = v;
        return true;
      default:
        return true;
    }
  });
}

std::string Ping::Encode() const { return TlvWriter().U64(tag::kId, id).Take(); }

std::optional<Ping> Ping::Decode(std::string_view payload) {
  return DecodeWith<Ping>(payload, [](Ping& m, uint16_t t, std::string_view v) {
    return t == tag::kId ? GetUint(v, &m.id) : true;
  });
}

std::string Pong::Encode() const { return TlvWriter().U64(tag::kId, id).Take(); }

std::optional<Pong> Pong::Decode(std::string_view payload) {
  return DecodeWith<Pong>(payload, [](Pong& m, uint16_t t, std::string_view v) {
    return t == tag::kId ? GetUint(v, &m.id) : true;
  });
}

std::string GoAway::Encode() const {
  return TlvWriter()
      .U64(tag::kNonce, nonce)
      .U16(tag::kMajor, major)
      .U16(tag::kMinor, minor)
      .Bytes(tag::kReason, reason)
      .Take();
}

std::optional<GoAway> GoAway::Decode(std::string_view payload) {
  return DecodeWith<GoAway>(payload, [](GoAway& m, uint16_t t, std::string_view v) {
    switch (t) {
      case tag::kNonce:
        return GetUint(v, &m.nonce);
      case tag::kMajor:
        return GetUint(v, &m.major);
      case tag::kMinor:
        return GetUint(v, &m.minor);
      case tag::kReason:
        m.reason = v;
        return true;
      default:
        return true;
    }
  });
}

std::string ErrorMsg::Encode() const {
  return TlvWriter().U32(tag::kCode, code).U32(tag::kChannel, channel).Bytes(tag::kMessage, message).Take();
}

std::optional<ErrorMsg> ErrorMsg::Decode(std::string_view payload) {
  return DecodeWith<ErrorMsg>(payload, [](ErrorMsg& m, uint16_t t, std::string_view v) {
    switch (t) {
      case tag::kCode:
        return GetUint(v, &m.code);
      case tag::kChannel:
        return GetUint(v, &m.channel);
      case tag::kMessage:
        m.message = v;
        return true;
      default:
        return true;
    }
  });
}

std::string Open::Encode() const {
  TlvWriter w;
  w.U8(tag::kKind, kind);
  for (const auto& a : argv) w.Bytes(tag::kArg, a);
  for (const auto& e : env) w.Bytes(tag::kEnv, e);
  w.Bytes(tag::kCwd, cwd)
      .U8(tag::kTty, tty ? 1 : 0)
      .U16(tag::kRows, rows)
      .U16(tag::kCols, cols)
      .U32(tag::kWindow, window);
  return w.Take();
}

std::optional<Open> Open::Decode(std::string_view payload) {
  return DecodeWith<Open>(payload, [](Open& m, uint16_t t, std::string_view v) {
    switch (t) {
      case tag::kKind:
        return GetUint(v, &m.kind);
      case tag::kArg:
        m.argv.emplace_back(v);
        return true;
      case tag::kEnv:
        m.env.emplace_back(v);
        return true;
      case tag::kCwd:
        m.cwd = v;
        return true;
      case tag::kTty:
        return GetBool(v, &m.tty);
      case tag::kRows:
        return GetUint(v, &m.rows);
      case tag::kCols:
        return GetUint(v, &m.cols);
      case tag::kWindow:
        return GetUint(v, &m.window);
      default:
        return true;
    }
  });
}

std::string OpenOk::Encode() const {
  return TlvWriter().U32(tag::kPid, pid).U32(tag::kWindow, window).Take();
}

std::optional<OpenOk> OpenOk::Decode(std::string_view payload) {
  return DecodeWith<OpenOk>(payload, [](OpenOk& m, uint16_t t, std::string_view v) {
    switch (t) {
      case tag::kPid:
        return GetUint(v, &m.pid);
      case tag::kWindow:
        return GetUint(v, &m.window);
      default:
        return true;
    }
  });
}

std::string OpenFail::Encode() const {
  return TlvWriter().U32(tag::kErrno, err).Bytes(tag::kStage, stage).Bytes(tag::kMessage, message).Take();
}

std::optional<OpenFail> OpenFail::Decode(std::string_view payload) {
  return DecodeWith<OpenFail>(payload, [](OpenFail& m, uint16_t t, std::string_view v) {
    switch (t) {
      case tag::kErrno:
        return GetUint(v, &m.err);
      case tag::kStage:
        m.stage = v;
        return true;
      case tag::kMessage:
        m.message = v;
        return true;
      default:
        return true;
    }
  });
}

std::string Data::Encode() const {
  std::string out;
  out.reserve(1 + bytes.size());
  out.push_back(static_cast<char>(stream));
  out.append(bytes);
  return out;
}

std::optional<Data> Data::Decode(std::string_view payload) {
  if (payload.empty()) return std::nullopt;
  return Data{static_cast<Stream>(payload[0]), std::string(payload.substr(1))};
}

std::string Window::Encode() const { return TlvWriter().U32(tag::kDelta, delta).Take(); }

std::optional<Window> Window::Decode(std::string_view payload) {
  return DecodeWith<Window>(payload, [](Window& m, uint16_t t, std::string_view v) {
    return t == tag::kDelta ? GetUint(v, &m.delta) : true;
  });
}

std::string Eof::Encode() const { return TlvWriter().U8(tag::kStream, static_cast<uint8_t>(stream)).Take(); }

std::optional<Eof> Eof::Decode(std::string_view payload) {
  return DecodeWith<Eof>(payload, [](Eof& m, uint16_t t, std::string_view v) {
    return t == tag::kStream ? GetEnum(v, &m.stream) : true;
  });
}

std::string SignalMsg::Encode() const { return TlvWriter().U32(tag::kSigno, signo).Take(); }

std::optional<SignalMsg> SignalMsg::Decode(std::string_view payload) {
  return DecodeWith<SignalMsg>(payload, [](SignalMsg& m, uint16_t t, std::string_view v) {
    return t == tag::kSigno ? GetUint(v, &m.signo) : true;
  });
}

std::string Resize::Encode() const { return TlvWriter().U16(tag::kRows, rows).U16(tag::kCols, cols).Take(); }

std::optional<Resize> Resize::Decode(std::string_view payload) {
  return DecodeWith<Resize>(payload, [](Resize& m, uint16_t t, std::string_view v) {
    switch (t) {
      case tag::kRows:
        return GetUint(v, &m.rows);
      case tag::kCols:
        return GetUint(v, &m.cols);
      default:
        return true;
    }
  });
}

std::string Exit::Encode() const {
  return TlvWriter()
      .U8(tag::kSignaled, signaled ? 1 : 0)
      .U32(tag::kCode, code)
      .U32(tag::kSigno, signo)
      .U8(tag::kCore, core ? 1 : 0)
      .Take();
}

std::optional<Exit> Exit::Decode(std::string_view payload) {
  return DecodeWith<Exit>(payload, [](Exit& m, uint16_t t, std::string_view v) {
    switch (t) {
      case tag::kSignaled:
        return GetBool(v, &m.signaled);
      case tag::kCode:
        return GetUint(v, &m.code);
      case tag::kSigno:
        return GetUint(v, &m.signo);
      case tag::kCore:
        return GetBool(v, &m.core);
      default:
        return true;
    }
  });
}

std::string Close::Encode() const { return {}; }

std::optional<Close> Close::Decode(std::string_view payload) {
  return DecodeWith<Close>(payload, [](Close&, uint16_t, std::string_view) { return true; });
}

}  // namespace banger::agent
