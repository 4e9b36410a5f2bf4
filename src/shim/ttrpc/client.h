// The ttrpc client side: one connection, many calls at once. Each Call takes
// the next odd stream id, writes its request whole under the writer lock and
// waits (until its deadline) for the response a reader thread hands over by
// stream id. A late response (after its call gave up) is dropped.
//
// Errors come back as an RpcStatus: the server's code and message, or a local
// one: DeadlineExceeded (the deadline passed), Unavailable (not connected,
// the connection ended, a write failed), ResourceExhausted (max_pending calls
// already waiting, or the request is over the frame limit), Internal (the
// response was not a ttrpc.Response). A protocol error from the server (a
// frame over the limit) ends the connection and every waiting call.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "base/result.h"
#include "base/unique_fd.h"
#include "ttrpc/codes.h"
#include "ttrpc/frame.h"
#include "ttrpc/io.h"
#include "ttrpc/server.h"

namespace banger::ttrpc {

struct ClientOptions {
  size_t max_pending = 64;
  uint32_t max_payload = kMaxPayload;
  // A write also gives up at the call's deadline, whichever comes first.
  std::chrono::milliseconds write_timeout{10000};
};

class TtrpcClient {
 public:
  // Connects to the Unix socket at `path` within `timeout`.
  static Result<std::unique_ptr<TtrpcClient>> Connect(const std::string& path,
                                                      std::chrono::milliseconds timeout,
                                                      ClientOptions options = {});
  // Uses an already connected socket.
  static Result<std::unique_ptr<TtrpcClient>> Adopt(UniqueFd fd, ClientOptions options = {});
  ~TtrpcClient();
  TtrpcClient(const TtrpcClient&) = delete;
  TtrpcClient& operator=(const TtrpcClient&) = delete;

  // One call: `payload` is the serialized request message. The request
  // carries the time left to `deadline` as its timeout_nano.
  RpcResult<std::string> Call(std::string_view service, std::string_view method, const std::string& payload,
                              const Metadata& metadata, Clock::time_point deadline);

  template <typename Resp, typename Req>
  RpcResult<Resp> CallTyped(std::string_view service, std::string_view method, const Req& req,
                            const Metadata& metadata, Clock::time_point deadline) {
    std::string bytes;
    if (!req.SerializeToString(&bytes)) {
      return RpcStatus{Code::kInvalidArgument, "serializing a " + req.GetTypeName()};
    }
    RpcResult<std::string> r = Call(service, method, bytes, metadata, deadline);
    if (!r.ok()) return std::move(r).status();
    Resp resp;
    if (!resp.ParseFromString(r.value())) {
      return RpcStatus{Code::kInternal, "the response is not a " + resp.GetTypeName()};
    }
    return resp;
  }

  // Ends the connection: waiting calls get Unavailable, later ones too.
  // Joins the reader thread. Idempotent.
  void Close();
  // False once the connection has ended (Close, the peer, an error).
  bool connected() const;

 private:
  struct Pending {
    bool done = false;
    RpcResult<std::string> result{RpcStatus{Code::kUnknown, ""}};
  };

  TtrpcClient(UniqueFd fd, Waker waker, ClientOptions options)
      : fd_(std::move(fd)), waker_(std::move(waker)), options_(options) {}
  void ReadLoop();
  // Marks the connection ended (first reason wins) and fails every pending
  // call; mu_ held.
  void EndLocked(const std::string& why);
  void Deliver(const Frame& frame);

  UniqueFd fd_;
  Waker waker_;
  const ClientOptions options_;
  std::thread reader_;
  std::mutex write_mu_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint32_t, std::shared_ptr<Pending>> pending_;
  uint32_t next_id_ = 1;
  std::optional<std::string> ended_;  // why the connection ended
};

}  // namespace banger::ttrpc
