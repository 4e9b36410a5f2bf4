// The ttrpc library (src/shim/ttrpc) against a hostile peer. The first input
// byte picks what the rest is:
//   even: a byte stream cut into frames by FrameDecoder at fuzzer-chosen
//         split points (the second byte seeds them), each payload parsed as a
//         ttrpc.Request and a ttrpc.Response; invariants: payloads stay within
//         the limit, a frame re-encoded decodes back the same, an oversize
//         header sticks;
//   odd:  the bytes a client sends to a TtrpcServer serving one end of a
//         socketpair (handlers: an echo, containerd's typed State and one
//         that fails); the harness reads every answer until the server
//         closes; invariants: nothing crashes, leaks or hangs, every answer is
//         a response frame holding a ttrpc.Response, Serve returns.
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

#include "base/unique_fd.h"
#include "fuzz/fuzz_util.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb.h"
#include "ttrpc/frame.h"
#include "ttrpc/proto/ttrpc.pb.h"
#include "ttrpc/server.h"

namespace banger::ttrpc {
namespace {

using namespace std::chrono_literals;

void Decode(fuzz::Input& in) {
  const uint8_t step_seed = in.U8();
  std::string_view bytes = in.Rest();
  FrameDecoder d(4096);
  size_t pos = 0;
  size_t step = 1 + step_seed % 64;
  bool too_large = false;
  while (pos < bytes.size()) {
    size_t n = std::min(step, bytes.size() - pos);
    d.Feed(bytes.substr(pos, n));
    pos += n;
    step = 1 + (step * 7 + step_seed) % 97;
    Frame f;
    for (;;) {
      FrameDecoder::Event ev = d.Next(&f);
      if (ev == FrameDecoder::Event::kNeedMore) break;
      if (ev == FrameDecoder::Event::kTooLarge) {
        BANGER_FUZZ_CHECK(f.header.length > 4096);
        Frame again;
        BANGER_FUZZ_CHECK(d.Next(&again) == FrameDecoder::Event::kTooLarge);
        BANGER_FUZZ_CHECK(again.header == f.header);
        too_large = true;
        break;
      }
      BANGER_FUZZ_CHECK(f.payload.size() == f.header.length && f.payload.size() <= 4096);
      ::ttrpc::Request req;
      if (req.ParseFromString(f.payload)) (void)req.SerializeAsString();
      ::ttrpc::Response resp;
      if (resp.ParseFromString(f.payload)) (void)resp.status().code();
      auto wire = EncodeFrame(f.header.stream_id, static_cast<MsgType>(f.header.type), f.payload, 4096,
                              f.header.flags);
      BANGER_FUZZ_CHECK(wire.ok());
      FrameDecoder back(4096);
      back.Feed(*wire);
      Frame g;
      BANGER_FUZZ_CHECK(back.Next(&g) == FrameDecoder::Event::kFrame);
      BANGER_FUZZ_CHECK(g.header == f.header && g.payload == f.payload);
    }
    if (too_large) break;
  }
}

TtrpcServer* MakeServer() {
  ServerOptions o;
  o.max_in_flight = 8;
  o.max_payload = 16384;
  o.drain_timeout = 2s;
  o.write_timeout = 2s;
  auto* s = new TtrpcServer(o);
  (void)s->Register(
      "svc", "Echo",
      [](const CallContext& ctx, const std::string& p) -> RpcResult<std::string> { return p + ctx.ns; });
  (void)s->Register("svc", "Fail", [](const CallContext&, const std::string& p) -> RpcResult<std::string> {
    return RpcStatus{Code::kFailedPrecondition, p};
  });
  namespace task = containerd::task::v2;
  (void)s->RegisterTyped<task::StateRequest, task::StateResponse>(
      "containerd.task.v2.Task", "State",
      [](const CallContext&, const task::StateRequest& req) -> RpcResult<task::StateResponse> {
        task::StateResponse r;
        r.set_id(req.id());
        r.set_exec_id(req.exec_id());
        return r;
      });
  return s;
}

void Serve(fuzz::Input& in) {
  // One server for the process (handlers registered once); one connection
  // per input, so nothing carries over but the handler table.
  static TtrpcServer* server = MakeServer();
  int sv[2];
  BANGER_FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  UniqueFd peer(sv[1]);
  std::thread serving([fd = sv[0]] { (void)server->Serve(UniqueFd(fd)); });
  std::string bytes(in.Rest());
  std::thread writer([&] {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(peer.get(), bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::shutdown(peer.get(), SHUT_WR);
  });
  FrameDecoder d(16384);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  char buf[8192];
  for (;;) {
    pollfd p{.fd = peer.get(), .events = POLLIN, .revents = 0};
    int rc = ::poll(&p, 1, PollTimeoutMs(deadline));
    // libFuzzer's -timeout alarm (SIGALRM) interrupts the wait now and then.
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) fuzz::Fail(__FILE__, __LINE__, "the server neither answered nor closed");
    ssize_t n = ::recv(peer.get(), buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    d.Feed(std::string_view(buf, static_cast<size_t>(n)));
    Frame f;
    FrameDecoder::Event ev = FrameDecoder::Event::kNeedMore;
    while ((ev = d.Next(&f)) == FrameDecoder::Event::kFrame) {
      BANGER_FUZZ_CHECK(f.header.type == static_cast<uint8_t>(MsgType::kResponse));
      ::ttrpc::Response resp;
      BANGER_FUZZ_CHECK(resp.ParseFromString(f.payload));
    }
    BANGER_FUZZ_CHECK(ev != FrameDecoder::Event::kTooLarge);
  }
  writer.join();
  serving.join();
}

}  // namespace
}  // namespace banger::ttrpc

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  banger::fuzz::Input in(data, size);
  if (in.U8() % 2 == 0) {
    banger::ttrpc::Decode(in);
  } else {
    banger::ttrpc::Serve(in);
  }
  return 0;
}
