#include "ttrpc/server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <exception>
#include <system_error>
#include <thread>

#include "ttrpc/proto/ttrpc.pb.h"

namespace banger::ttrpc {

namespace {

constexpr size_t kReadChunk = 64 * 1024;
// timeout_nano beyond this (about 10 years) counts as "no deadline": no
// time_point overflow from a hostile value.
constexpr int64_t kMaxTimeoutNanos = int64_t{10} * 365 * 24 * 3600 * 1000000000;

RpcResult<std::string> RunHandler(const Handler& h, const CallContext& ctx, const std::string& payload) {
  try {
    return h(ctx, payload);
  } catch (const std::exception& e) {
    return RpcStatus{Code::kInternal, std::string("handler threw: ") + e.what()};
  } catch (...) {
    return RpcStatus{Code::kInternal, "handler threw"};
  }
}

}  // namespace

void CancelToken::Cancel() {
  {
    std::lock_guard lock(mu_);
    cancelled_ = true;
  }
  cv_.notify_all();
}

bool CancelToken::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

bool CancelToken::WaitFor(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return cancelled_; });
}

std::optional<std::string> CallContext::Get(std::string_view key) const {
  for (const auto& [k, v] : metadata) {
    if (k == key) return v;
  }
  return std::nullopt;
}

// One connection's state, shared by Serve and the handler threads it starts:
// a handler that outlives Serve's drain keeps it (and the socket) alive.
struct TtrpcServer::Conn {
  Conn(UniqueFd f, Waker w, const ServerOptions& o) : fd(std::move(f)), waker(std::move(w)), options(o) {}

  // Writes one response whole (under the writer lock, within write_timeout).
  // A failed write marks the connection broken and wakes Serve's reader.
  void Send(uint32_t id, const RpcResult<std::string>& r);
  void SendStatus(uint32_t id, Code code, std::string message) {
    Send(id, RpcResult<std::string>(RpcStatus{code, std::move(message)}));
  }

  UniqueFd fd;
  Waker waker;
  const ServerOptions options;
  std::shared_ptr<CancelToken> cancel = std::make_shared<CancelToken>();

  std::mutex write_mu;
  std::atomic<bool> broken{false};

  std::mutex mu;
  std::condition_variable cv;
  std::map<uint32_t, size_t> in_flight;  // stream id -> payload bytes
  size_t in_flight_bytes = 0;
};

void TtrpcServer::Conn::Send(uint32_t id, const RpcResult<std::string>& r) {
  ::ttrpc::Response resp;
  auto* st = resp.mutable_status();
  if (r.ok()) {
    st->set_code(static_cast<int32_t>(Code::kOk));
    resp.set_payload(r.value());
  } else {
    st->set_code(static_cast<int32_t>(r.status().code));
    st->set_message(ToValidUtf8(r.status().message));
  }
  std::string bytes;
  if (!resp.SerializeToString(&bytes)) bytes.clear();
  auto frame = EncodeFrame(id, MsgType::kResponse, bytes, options.max_payload);
  if (!frame.ok()) {
    ::ttrpc::Response small;
    small.mutable_status()->set_code(static_cast<int32_t>(Code::kResourceExhausted));
    small.mutable_status()->set_message("the response of " + std::to_string(bytes.size()) +
                                        " bytes is over the frame limit");
    frame = EncodeFrame(id, MsgType::kResponse, small.SerializeAsString(), options.max_payload);
    if (!frame.ok()) return;
  }
  std::lock_guard lock(write_mu);
  if (broken) return;
  Status st_write = WriteAll(fd.get(), *frame, Clock::now() + options.write_timeout);
  if (!st_write.ok()) {
    broken = true;
    waker.Wake();
  }
}

TtrpcServer::TtrpcServer(ServerOptions options) : options_(options) {}

TtrpcServer::~TtrpcServer() {
  Shutdown();
  // Serve calls on other threads use this object until they return: at most
  // a drain and a write after Shutdown woke them.
  auto limit = options_.drain_timeout + options_.write_timeout + std::chrono::seconds(1);
  std::unique_lock lock(mu_);
  if (!conns_cv_.wait_for(lock, limit, [&] { return conns_.empty(); })) {
    spdlog::error("ttrpc server destroyed with {} connections still being served", conns_.size());
  }
}

Status TtrpcServer::Register(std::string_view service, std::string_view method, Handler handler) {
  const std::string name = std::string(service) + "/" + std::string(method);
  if (!handler) return Error::Invalid("ttrpc handler for " + name + " is empty");
  std::pair<std::string, std::string> key(service, method);
  std::lock_guard lock(mu_);
  if (handlers_.count(key) != 0)
    return Error::Conflict("ttrpc handler for " + name + " is already registered");
  handlers_.emplace(std::move(key), std::move(handler));
  return OkStatus();
}

Handler TtrpcServer::Lookup(const std::string& service, const std::string& method) const {
  std::lock_guard lock(mu_);
  auto it = handlers_.find({service, method});
  if (it == handlers_.end()) return nullptr;
  return it->second;
}

void TtrpcServer::Shutdown() {
  std::lock_guard lock(mu_);
  shutdown_ = true;
  for (const auto& c : conns_) c->waker.Wake();
}

size_t TtrpcServer::connections() const {
  std::lock_guard lock(mu_);
  return conns_.size();
}

void TtrpcServer::Dispatch(const std::shared_ptr<Conn>& conn, const Frame& frame) {
  const uint32_t id = frame.header.stream_id;
  // Other types are ignored, as ttrpc does (room for later message types).
  if (frame.header.type != static_cast<uint8_t>(MsgType::kRequest)) return;
  if (id % 2 == 0) {
    conn->SendStatus(id, Code::kInvalidArgument,
                     "stream id " + std::to_string(id) + " is even: client-initiated streams are odd");
    return;
  }
  ::ttrpc::Request req;
  if (!req.ParseFromString(frame.payload)) {
    conn->SendStatus(id, Code::kInvalidArgument, "the payload is not a ttrpc.Request");
    return;
  }
  Handler handler = Lookup(req.service(), req.method());
  if (!handler) {
    conn->SendStatus(id, Code::kUnimplemented,
                     "service " + req.service() + ": method " + req.method() + " is not implemented");
    return;
  }
  CallContext ctx{.service = req.service(), .method = req.method(), .stream_id = id, .cancel = conn->cancel};
  for (const auto& kv : req.metadata()) {
    ctx.metadata.emplace_back(kv.key(), kv.value());
    if (kv.key() == kNamespaceKey && ctx.ns.empty()) ctx.ns = kv.value();
  }
  if (req.timeout_nano() > 0 && req.timeout_nano() < kMaxTimeoutNanos) {
    ctx.deadline = Clock::now() + std::chrono::nanoseconds(req.timeout_nano());
  }
  const size_t size = req.payload().size();
  std::optional<RpcStatus> refused;
  {
    std::lock_guard lock(conn->mu);
    if (conn->in_flight.count(id) != 0) {
      refused =
          RpcStatus{Code::kInvalidArgument, "stream id " + std::to_string(id) + " is already in flight"};
    } else if (conn->in_flight.size() >= options_.max_in_flight ||
               conn->in_flight_bytes + size > options_.max_in_flight_bytes) {
      refused =
          RpcStatus{Code::kResourceExhausted, "too many requests in flight on this connection (at most " +
                                                  std::to_string(options_.max_in_flight) + ")"};
    } else {
      conn->in_flight.emplace(id, size);
      conn->in_flight_bytes += size;
    }
  }
  // Answered outside conn->mu: a slow write must not hold up finishing handlers.
  if (refused) {
    conn->SendStatus(id, refused->code, std::move(refused->message));
    return;
  }
  auto done = [conn, id, size] {
    {
      std::lock_guard lock(conn->mu);
      conn->in_flight.erase(id);
      conn->in_flight_bytes -= size;
    }
    conn->cv.notify_all();
  };
  try {
    std::thread([conn, done, handler = std::move(handler), ctx = std::move(ctx),
                 payload = std::move(*req.mutable_payload())] {
      RpcResult<std::string> r = RunHandler(handler, ctx, payload);
      conn->Send(ctx.stream_id, r);
      done();
    }).detach();
  } catch (const std::system_error& e) {
    done();
    conn->SendStatus(id, Code::kResourceExhausted, std::string("cannot start a handler thread: ") + e.what());
  }
}

Status TtrpcServer::Serve(UniqueFd fd) {
  BANGER_ASSIGN_OR_RETURN(Waker waker, Waker::Create());
  auto conn = std::make_shared<Conn>(std::move(fd), std::move(waker), options_);
  {
    std::lock_guard lock(mu_);
    if (shutdown_) return Error::Unavailable("the ttrpc server is shut down");
    conns_.insert(conn);
  }
  FrameDecoder decoder(options_.max_payload);
  std::vector<char> buf(kReadChunk);
  Status end = OkStatus();
  bool done = false;
  while (!done) {
    size_t n = 0;
    int err = 0;
    ReadOutcome o = ReadSome(conn->fd.get(), conn->waker, buf.data(), buf.size(), &n, &err);
    if (o == ReadOutcome::kEof) break;
    if (o == ReadOutcome::kError) {
      end = Error::FromErrno("reading from the ttrpc peer", err);
      break;
    }
    if (o == ReadOutcome::kWoken) {
      if (conn->broken)
        end = Error::Unavailable("a ttrpc response could not be written: the peer does not read");
      break;
    }
    decoder.Feed(std::string_view(buf.data(), n));
    Frame frame;
    for (;;) {
      FrameDecoder::Event ev = decoder.Next(&frame);
      if (ev == FrameDecoder::Event::kNeedMore) break;
      if (ev == FrameDecoder::Event::kTooLarge) {
        const uint32_t id = frame.header.stream_id;
        std::string what = "a ttrpc frame of " + std::to_string(frame.header.length) +
                           " bytes is over the limit of " + std::to_string(options_.max_payload);
        if (id % 2 == 1) conn->SendStatus(id, Code::kResourceExhausted, what);
        end = Error::Invalid(what + ": connection closed");
        done = true;
        break;
      }
      Dispatch(conn, frame);
      if (conn->broken) {
        end = Error::Unavailable("a ttrpc response could not be written: the peer does not read");
        done = true;
        break;
      }
    }
  }
  conn->cancel->Cancel();
  {
    std::unique_lock lock(conn->mu);
    if (!conn->cv.wait_for(lock, options_.drain_timeout, [&] { return conn->in_flight.empty(); })) {
      spdlog::warn("ttrpc: {} handlers still running {} ms after their connection ended",
                   conn->in_flight.size(), options_.drain_timeout.count());
    }
  }
  // The peer sees the end now even if a late handler still holds the socket.
  ::shutdown(conn->fd.get(), SHUT_RDWR);
  {
    std::lock_guard lock(mu_);
    conns_.erase(conn);
    // Under the lock: the destructor may free this object once it sees
    // conns_ empty.
    conns_cv_.notify_all();
  }
  return end;
}

}  // namespace banger::ttrpc
