// The API's WebSocket streams (http/ws.h, api/stream.h) against a hostile
// client: a valid opening handshake followed by the fuzz input as the bytes
// the client sent, read message by message by the server side; each
// message's payload through the decoders of its kind. Invariants: nothing
// crashes or hangs; a message is never larger than kWsMaxMessage; error
// payloads survive a re-encode; resize payloads round-trip.
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "api/stream.h"
#include "base/unique_fd.h"
#include "fuzz/fuzz_util.h"
#include "http/ws.h"

namespace banger {
namespace {

void CheckMessage(const WsMessage& m) {
  BANGER_FUZZ_CHECK(m.data.size() <= kWsMaxMessage);
  if (m.text) return;
  std::string payload(m.payload());
  switch (static_cast<StreamType>(m.type())) {
    case StreamType::kError: {
      Error e = DecodeErrorFrame(payload);
      Error again = DecodeErrorFrame(EncodeErrorFrame(e));
      BANGER_FUZZ_CHECK(again.kind() == e.kind());
      break;
    }
    case StreamType::kResize: {
      uint16_t rows = 0, cols = 0;
      if (DecodeResize(payload, rows, cols)) BANGER_FUZZ_CHECK(EncodeResize(rows, cols) == payload);
      break;
    }
    default:
      (void)DecodeErrorFrame(payload);
      break;
  }
}

}  // namespace
}  // namespace banger

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger;
  int sv[2];
  BANGER_FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  UniqueFd server(sv[0]), client(sv[1]);
  std::string raw =
      "GET /v1/vms/x/exec HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
  raw.append(reinterpret_cast<const char*>(data), std::min<size_t>(size, 1 << 20));
  WsOptions options;
  options.ping_interval = std::chrono::milliseconds(0);
  options.write_timeout = std::chrono::milliseconds(200);
  options.close_timeout = std::chrono::milliseconds(200);
  auto ws = WsAccept(std::move(server), raw, options, {});
  if (!ws.ok()) return 0;
  ::shutdown(client.get(), SHUT_WR);  // all the client sends is the input
  for (int i = 0; i < 10000; ++i) {
    auto m = (*ws)->Recv(std::chrono::seconds(2));
    BANGER_FUZZ_CHECK(m.ok() || m.error().kind() != ErrorKind::kTimeout);  // never hangs
    if (!m.ok() || !m->has_value()) break;
    CheckMessage(**m);
  }
  return 0;
}
