// The API stream frame reader (api/stream.h) against a hostile peer: the
// input, split into the bytes that came with the upgrade (leftover) and the
// bytes that follow on the socket, read frame by frame; each frame's payload
// through the decoders of its kind. Invariants: nothing crashes; a frame is
// never larger than kMaxStreamPayload; a frame written back with
// WriteStreamFrame reads back unchanged; error frames survive a re-encode.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "api/stream.h"
#include "base/unique_fd.h"
#include "fuzz/fuzz_util.h"

namespace banger {
namespace {

// A pipe holding `bytes` (at most its 64 KiB buffer), write end closed.
UniqueFd PipeWith(std::string_view bytes) {
  int p[2];
  BANGER_FUZZ_CHECK(::pipe2(p, O_CLOEXEC) == 0);
  UniqueFd r(p[0]), w(p[1]);
  BANGER_FUZZ_CHECK(::write(w.get(), bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  return r;
}

void CheckFrame(const StreamFrame& f) {
  BANGER_FUZZ_CHECK(f.payload.size() <= kMaxStreamPayload);
  switch (f.type) {
    case StreamType::kError: {
      Error e = DecodeErrorFrame(f.payload);
      Error again = DecodeErrorFrame(EncodeErrorFrame(e));
      BANGER_FUZZ_CHECK(again.kind() == e.kind());
      break;
    }
    case StreamType::kResize: {
      uint16_t rows = 0, cols = 0;
      if (DecodeResize(f.payload, rows, cols)) BANGER_FUZZ_CHECK(EncodeResize(rows, cols) == f.payload);
      break;
    }
    default:
      (void)DecodeErrorFrame(f.payload);
      break;
  }
  // Written back, the frame reads back the same (payloads fit a pipe here).
  if (f.payload.size() + 5 <= 60000) {
    int p[2];
    BANGER_FUZZ_CHECK(::pipe2(p, O_CLOEXEC) == 0);
    UniqueFd r(p[0]), w(p[1]);
    BANGER_FUZZ_CHECK(WriteStreamFrame(w.get(), f.type, f.payload).ok());
    w.Reset();
    StreamReader back(r.get(), "");
    auto g = back.Next();
    BANGER_FUZZ_CHECK(g.ok() && g->has_value());
    BANGER_FUZZ_CHECK((*g)->type == f.type && (*g)->payload == f.payload);
    auto end = back.Next();
    BANGER_FUZZ_CHECK(end.ok() && !end->has_value());
  }
}

}  // namespace
}  // namespace banger

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger;
  fuzz::Input in(data, size);
  std::string leftover(in.Bytes(in.U8()));
  std::string_view rest = in.Bytes(60000);
  UniqueFd fd = PipeWith(rest);
  StreamReader reader(fd.get(), leftover);
  for (int i = 0; i < 10000; ++i) {
    auto f = reader.Next();
    if (!f.ok() || !f->has_value()) break;
    CheckFrame(**f);
  }
  return 0;
}
