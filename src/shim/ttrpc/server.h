// The ttrpc server side: a table of (service, method) -> handler, served on
// connected sockets (TtrpcServer::Serve, one call per connection; the
// listener in listener.h accepts on a Unix socket and calls it).
//
// Concurrency: every request runs on a thread of its own, so a handler that
// blocks (the shim's Wait until the task exits) holds up nothing else. At most
// ServerOptions::max_in_flight requests (and max_in_flight_bytes of their
// payloads) run per connection; one more is answered ResourceExhausted.
// Responses are written whole under one writer lock, each within
// write_timeout (a peer that stops reading loses the connection).
//
// A hostile peer (docs/adr/0035 "Hostile peers"):
//   - a header announcing more than max_payload bytes: answered
//     ResourceExhausted on its stream (if odd), then the connection is closed
//     (its payload is never read, so the stream cannot be resynchronized);
//   - a frame type other than request: ignored, as ttrpc does (the payload is
//     read and dropped);
//   - an even stream id: answered InvalidArgument;
//   - a payload that is not a ttrpc.Request: answered InvalidArgument;
//   - a stream id already in flight: answered InvalidArgument;
//   - an unknown service or method: answered Unimplemented.
// The connection stays up after every answered case.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "ttrpc/codes.h"
#include "ttrpc/frame.h"
#include "ttrpc/io.h"

namespace banger::ttrpc {

// The metadata key containerd puts its namespace in.
inline constexpr std::string_view kNamespaceKey = "containerd-namespace-ttrpc";

using Metadata = std::vector<std::pair<std::string, std::string>>;

// Set once when a call should stop: the connection is closing (peer gone,
// protocol error, server shutdown). Handlers that block wait on it.
class CancelToken {
 public:
  void Cancel();
  bool cancelled() const;
  // Waits until cancelled or `timeout` passes; true if cancelled.
  bool WaitFor(std::chrono::milliseconds timeout) const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool cancelled_ = false;
};

// What a handler knows about its call.
struct CallContext {
  std::string service;
  std::string method;
  uint32_t stream_id = 0;
  Metadata metadata;
  // The value of kNamespaceKey ("" when absent).
  std::string ns;
  // From the request's timeout_nano (> 0); nullopt when it has none. The
  // server does not cut a handler off at it; the handler may stop early.
  std::optional<Clock::time_point> deadline;
  std::shared_ptr<const CancelToken> cancel;

  bool Cancelled() const { return cancel && cancel->cancelled(); }
  // The first value of `key`, or nullopt.
  std::optional<std::string> Get(std::string_view key) const;
};

using Handler = std::function<RpcResult<std::string>(const CallContext&, const std::string& payload)>;

struct ServerOptions {
  size_t max_in_flight = 64;
  size_t max_in_flight_bytes = 64u << 20;
  uint32_t max_payload = kMaxPayload;
  std::chrono::milliseconds write_timeout{10000};
  // How long Serve waits for running handlers once the connection ends.
  std::chrono::milliseconds drain_timeout{5000};
};

class TtrpcServer {
 public:
  explicit TtrpcServer(ServerOptions options = {});
  ~TtrpcServer();
  TtrpcServer(const TtrpcServer&) = delete;
  TtrpcServer& operator=(const TtrpcServer&) = delete;

  // Conflict if (service, method) already has a handler.
  Status Register(std::string_view service, std::string_view method, Handler handler);

  // A handler over protobuf messages: the payload is parsed as Req
  // (InvalidArgument if it is not one) and the Resp serialized.
  template <typename Req, typename Resp>
  Status RegisterTyped(std::string_view service, std::string_view method,
                       std::function<RpcResult<Resp>(const CallContext&, const Req&)> fn) {
    return Register(
        service, method,
        [fn = std::move(fn)](const CallContext& ctx, const std::string& payload) -> RpcResult<std::string> {
          Req req;
          if (!req.ParseFromString(payload)) {
            return RpcStatus{Code::kInvalidArgument, "the payload is not a " + req.GetTypeName()};
          }
          RpcResult<Resp> r = fn(ctx, req);
          if (!r.ok()) return std::move(r).status();
          std::string out;
          if (!r->SerializeToString(&out)) {
            return RpcStatus{Code::kInternal, "serializing a " + r->GetTypeName()};
          }
          return out;
        });
  }

  // Serves the connected socket `fd` on the calling thread until the peer
  // closes it, a protocol error or a failed write ends it, or Shutdown. Then
  // cancels the running calls and waits up to drain_timeout for them (their
  // answers still go out), and closes the connection. Ok when the peer closed
  // it or Shutdown ended it; the reason otherwise.
  Status Serve(UniqueFd fd);

  // Ends every Serve (running and future ones): they stop reading at once.
  void Shutdown();

  // Connections being served now.
  size_t connections() const;

 private:
  struct Conn;
  void Dispatch(const std::shared_ptr<Conn>& conn, const Frame& frame);
  Handler Lookup(const std::string& service, const std::string& method) const;

  const ServerOptions options_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Handler> handlers_;
  std::set<std::shared_ptr<Conn>> conns_;
  std::condition_variable conns_cv_;
  bool shutdown_ = false;
};

}  // namespace banger::ttrpc
