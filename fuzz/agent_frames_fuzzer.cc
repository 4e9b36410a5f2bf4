// The guest-agent wire codec (agent/protocol.h) against hostile bytes: the
// frame decoder fed the input split at fuzzer-chosen points, and every
// message decoder on every frame's payload and on the raw input. Invariants:
// nothing crashes; every frame decoded re-encodes to the same bytes; every
// message decoded survives Encode -> Decode unchanged.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/protocol.h"
#include "fuzz/fuzz_util.h"

namespace banger::agent {
namespace {

template <typename M>
void RoundTrip(std::string_view payload) {
  auto m = Decode<M>(payload);
  if (!m) return;
  std::string again = Encode(*m);
  auto m2 = Decode<M>(again);
  BANGER_FUZZ_CHECK(m2.has_value());
  BANGER_FUZZ_CHECK(*m2 == *m);
}

void DecodeEvery(std::string_view payload) {
  RoundTrip<Hello>(payload);
  RoundTrip<HelloAck>(payload);
  RoundTrip<Ping>(payload);
  RoundTrip<Pong>(payload);
  RoundTrip<GoAway>(payload);
  RoundTrip<ErrorMsg>(payload);
  RoundTrip<Open>(payload);
  RoundTrip<OpenOk>(payload);
  RoundTrip<OpenFail>(payload);
  RoundTrip<Data>(payload);
  RoundTrip<Window>(payload);
  RoundTrip<Eof>(payload);
  RoundTrip<SignalMsg>(payload);
  RoundTrip<Resize>(payload);
  RoundTrip<Exit>(payload);
  RoundTrip<Close>(payload);
  TlvReader r(payload);
  uint16_t t = 0;
  std::string_view v;
  while (r.Next(&t, &v)) (void)TlvUint(v);
}

void OneFrame(const Frame& f, uint32_t max_payload) {
  BANGER_FUZZ_CHECK(f.payload.size() <= max_payload);
  (void)MsgTypeName(f.type);
  DecodeEvery(f.payload);
  // Re-encoding the frame gives a frame the decoder reads back unchanged.
  std::string bytes;
  AppendFrame(&bytes, static_cast<MsgType>(f.type), f.flags, f.channel, f.payload);
  FrameDecoder d(kMaxPayloadLimit);
  d.Feed(bytes);
  auto back = d.Next();
  BANGER_FUZZ_CHECK(back.has_value());
  BANGER_FUZZ_CHECK(back->type == f.type && back->flags == f.flags && back->channel == f.channel &&
                    back->payload == f.payload);
  BANGER_FUZZ_CHECK(d.TakeSkipped() == 0 && d.buffered() == 0);
}

}  // namespace
}  // namespace banger::agent

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger::agent;
  banger::fuzz::Input in(data, size);
  // The first bytes choose the payload limit and the split step.
  uint32_t max_payload = in.U8() & 1 ? kMaxPayloadLimit : 64 + in.U8() * 16u;
  size_t step = 1 + in.U8() % 64;
  std::string_view stream = in.Rest();

  DecodeEvery(stream);

  FrameDecoder dec(max_payload);
  size_t fed = 0;
  uint64_t skipped = 0, framed = 0;
  while (fed < stream.size()) {
    size_t n = std::min(step, stream.size() - fed);
    dec.Feed(stream.substr(fed, n));
    fed += n;
    while (auto f = dec.Next()) {
      framed += kHeaderSize + f->payload.size();
      OneFrame(*f, max_payload);
    }
    skipped += dec.TakeSkipped();
  }
  // Every byte fed is a frame's, skipped, or still buffered.
  BANGER_FUZZ_CHECK(framed + skipped + dec.buffered() == stream.size());
  dec.Reset();
  BANGER_FUZZ_CHECK(dec.buffered() == 0);
  return 0;
}
