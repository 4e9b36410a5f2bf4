#include "ttrpc/frame.h"

namespace banger::ttrpc {

namespace {

void PutU32(char* out, uint32_t v) {
  out[0] = static_cast<char>(v >> 24);
  out[1] = static_cast<char>(v >> 16);
  out[2] = static_cast<char>(v >> 8);
  out[3] = static_cast<char>(v);
}

uint32_t GetU32(const char* in) {
  auto b = [&](int i) { return static_cast<uint32_t>(static_cast<unsigned char>(in[i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

}  // namespace

void EncodeHeader(const FrameHeader& h, char* out) {
  PutU32(out, h.length);
  PutU32(out + 4, h.stream_id);
  out[8] = static_cast<char>(h.type);
  out[9] = static_cast<char>(h.flags);
}

FrameHeader DecodeHeader(const char* in) {
  return {.length = GetU32(in),
          .stream_id = GetU32(in + 4),
          .type = static_cast<uint8_t>(in[8]),
          .flags = static_cast<uint8_t>(in[9])};
}

Result<std::string> EncodeFrame(uint32_t stream_id, MsgType type, std::string_view payload,
                                uint32_t max_payload, uint8_t flags) {
  if (payload.size() > max_payload) {
    return Error::Invalid("ttrpc frame payload of " + std::to_string(payload.size()) +
                          " bytes is over the limit of " + std::to_string(max_payload));
  }
  std::string out(kHeaderSize + payload.size(), '\0');
  EncodeHeader({.length = static_cast<uint32_t>(payload.size()),
                .stream_id = stream_id,
                .type = static_cast<uint8_t>(type),
                .flags = flags},
               out.data());
  out.replace(kHeaderSize, payload.size(), payload);
  return out;
}

void FrameDecoder::Feed(std::string_view bytes) {
  if (too_large_) return;  // nothing after an oversize header is ever read
  Compact();
  buf_.append(bytes);
}

FrameDecoder::Event FrameDecoder::Next(Frame* out) {
  if (too_large_) {
    out->header = too_large_header_;
    out->payload.clear();
    return Event::kTooLarge;
  }
  if (buffered() < kHeaderSize) return Event::kNeedMore;
  FrameHeader h = DecodeHeader(buf_.data() + pos_);
  if (h.length > max_payload_) {
    too_large_ = true;
    too_large_header_ = h;
    buf_.clear();
    pos_ = 0;
    out->header = h;
    out->payload.clear();
    return Event::kTooLarge;
  }
  if (buffered() - kHeaderSize < h.length) return Event::kNeedMore;
  out->header = h;
  out->payload.assign(buf_, pos_ + kHeaderSize, h.length);
  pos_ += kHeaderSize + h.length;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  return Event::kFrame;
}

void FrameDecoder::Compact() {
  if (pos_ == 0) return;
  buf_.erase(0, pos_);
  pos_ = 0;
}

}  // namespace banger::ttrpc
