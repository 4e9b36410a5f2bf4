#include "agent/protocol.h"

#include <array>
#include <cstring>

namespace banger::agent {
namespace {

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

std::string Encode(const Data& m) {
  std::string out;
  out.reserve(1 + m.bytes.size());
  out.push_back(static_cast<char>(m.stream));
  out.append(m.bytes);
  return out;
}

template <>
std::optional<Data> Decode<Data>(std::string_view payload) {
  if (payload.empty()) return std::nullopt;
  return Data{static_cast<Stream>(payload[0]), std::string(payload.substr(1))};
}

}  // namespace banger::agent
