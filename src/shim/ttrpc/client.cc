#include "ttrpc/client.h"

#include <sys/socket.h>

#include <system_error>
#include <vector>

#include "ttrpc/listener.h"
#include "ttrpc/proto/ttrpc.pb.h"

namespace banger::ttrpc {

namespace {

constexpr size_t kReadChunk = 64 * 1024;

}  // namespace

Result<std::unique_ptr<TtrpcClient>> TtrpcClient::Connect(const std::string& path,
                                                          std::chrono::milliseconds timeout,
                                                          ClientOptions options) {
  BANGER_ASSIGN_OR_RETURN(UniqueFd fd, ConnectUnix(path, timeout));
  return Annotate(Adopt(std::move(fd), options), "ttrpc client for " + path);
}

Result<std::unique_ptr<TtrpcClient>> TtrpcClient::Adopt(UniqueFd fd, ClientOptions options) {
  if (!fd.valid()) return Error::Invalid("ttrpc client: no socket");
  BANGER_ASSIGN_OR_RETURN(Waker waker, Waker::Create());
  std::unique_ptr<TtrpcClient> c(new TtrpcClient(std::move(fd), std::move(waker), options));
  try {
    c->reader_ = std::thread([p = c.get()] { p->ReadLoop(); });
  } catch (const std::system_error& e) {
    return Error::Internal(std::string("starting the ttrpc reader thread: ") + e.what());
  }
  return c;
}

TtrpcClient::~TtrpcClient() { Close(); }

void TtrpcClient::Close() {
  {
    std::lock_guard lock(mu_);
    EndLocked("the client closed the connection");
  }
  waker_.Wake();
  if (reader_.joinable() && reader_.get_id() != std::this_thread::get_id()) reader_.join();
}

bool TtrpcClient::connected() const {
  std::lock_guard lock(mu_);
  return !ended_.has_value();
}

void TtrpcClient::EndLocked(const std::string& why) {
  if (!ended_) {
    ended_ = why;
    ::shutdown(fd_.get(), SHUT_RDWR);
  }
  for (auto& [id, p] : pending_) {
    if (p->done) continue;
    p->done = true;
    p->result = RpcStatus{Code::kUnavailable, "ttrpc connection ended: " + *ended_};
  }
  pending_.clear();
  cv_.notify_all();
}

void TtrpcClient::Deliver(const Frame& frame) {
  // Requests from the server (ttrpc 1.1 has none) and other types are ignored.
  if (frame.header.type != static_cast<uint8_t>(MsgType::kResponse)) return;
  std::lock_guard lock(mu_);
  auto it = pending_.find(frame.header.stream_id);
  if (it == pending_.end()) return;  // a call that gave up, or a made-up id
  std::shared_ptr<Pending> p = it->second;
  pending_.erase(it);
  ::ttrpc::Response resp;
  if (!resp.ParseFromString(frame.payload)) {
    p->result = RpcStatus{Code::kInternal, "the response is not a ttrpc.Response"};
  } else if (resp.has_status() && resp.status().code() != static_cast<int32_t>(Code::kOk)) {
    p->result = RpcStatus{CodeFromWire(resp.status().code()), resp.status().message()};
  } else {
    p->result = std::move(*resp.mutable_payload());
  }
  p->done = true;
  cv_.notify_all();
}

void TtrpcClient::ReadLoop() {
  FrameDecoder decoder(options_.max_payload);
  std::vector<char> buf(kReadChunk);
  std::string why;
  for (;;) {
    size_t n = 0;
    int err = 0;
    ReadOutcome o = ReadSome(fd_.get(), waker_, buf.data(), buf.size(), &n, &err);
    if (o == ReadOutcome::kEof) {
      why = "the server closed it";
      break;
    }
    if (o == ReadOutcome::kWoken) {
      why = "the client closed the connection";
      break;
    }
    if (o == ReadOutcome::kError) {
      why = Error::FromErrno("reading", err).message();
      break;
    }
    decoder.Feed(std::string_view(buf.data(), n));
    Frame frame;
    FrameDecoder::Event ev = FrameDecoder::Event::kNeedMore;
    while ((ev = decoder.Next(&frame)) == FrameDecoder::Event::kFrame) Deliver(frame);
    if (ev == FrameDecoder::Event::kTooLarge) {
      why = "the server sent a frame of " + std::to_string(frame.header.length) +
            " bytes, over the limit of " + std::to_string(options_.max_payload);
      break;
    }
  }
  std::lock_guard lock(mu_);
  EndLocked(why);
}

RpcResult<std::string> TtrpcClient::Call(std::string_view service, std::string_view method,
                                         const std::string& payload, const Metadata& metadata,
                                         Clock::time_point deadline) {
  const auto now = Clock::now();
  if (deadline <= now) return RpcStatus{Code::kDeadlineExceeded, "the deadline passed before the call"};
  bool text_ok = IsValidUtf8(service) && IsValidUtf8(method);
  for (const auto& [k, v] : metadata) text_ok = text_ok && IsValidUtf8(k) && IsValidUtf8(v);
  if (!text_ok) {
    return RpcStatus{Code::kInvalidArgument,
                     "the service, method and metadata of a ttrpc call must be UTF-8"};
  }
  ::ttrpc::Request req;
  req.set_service(std::string(service));
  req.set_method(std::string(method));
  req.set_payload(payload);
  req.set_timeout_nano(std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now).count());
  for (const auto& [k, v] : metadata) {
    auto* kv = req.add_metadata();
    kv->set_key(k);
    kv->set_value(v);
  }
  std::string bytes;
  if (!req.SerializeToString(&bytes)) return RpcStatus{Code::kInternal, "serializing the ttrpc.Request"};

  auto p = std::make_shared<Pending>();
  uint32_t id = 0;
  {
    std::lock_guard lock(mu_);
    if (ended_) return RpcStatus{Code::kUnavailable, "ttrpc connection ended: " + *ended_};
    if (pending_.size() >= options_.max_pending) {
      return RpcStatus{Code::kResourceExhausted, "too many ttrpc calls waiting on this connection (at most " +
                                                     std::to_string(options_.max_pending) + ")"};
    }
    if (next_id_ > UINT32_MAX - 2) {
      EndLocked("its stream ids are used up");
      return RpcStatus{Code::kUnavailable, "ttrpc connection ended: its stream ids are used up"};
    }
    id = next_id_;
    next_id_ += 2;
    pending_.emplace(id, p);
  }
  auto frame = EncodeFrame(id, MsgType::kRequest, bytes, options_.max_payload);
  if (!frame.ok()) {
    std::lock_guard lock(mu_);
    pending_.erase(id);
    return RpcStatus{Code::kResourceExhausted, frame.error().message()};
  }
  {
    std::lock_guard wlock(write_mu_);
    Status st = WriteAll(fd_.get(), *frame, std::min(deadline, Clock::now() + options_.write_timeout));
    if (!st.ok()) {
      // Part of the frame may be out: the stream is no longer framed.
      std::lock_guard lock(mu_);
      EndLocked("a write failed: " + st.error().message());
      if (st.error().kind() == ErrorKind::kTimeout && Clock::now() >= deadline) {
        return RpcStatus{Code::kDeadlineExceeded, "the deadline passed while writing the request"};
      }
      return RpcStatus{Code::kUnavailable, "writing the request: " + st.error().message()};
    }
  }
  std::unique_lock lock(mu_);
  if (!cv_.wait_until(lock, deadline, [&] { return p->done; })) {
    pending_.erase(id);
    return RpcStatus{Code::kDeadlineExceeded, "no response to " + std::string(service) + "/" +
                                                  std::string(method) + " before the deadline"};
  }
  return std::move(p->result);
}

}  // namespace banger::ttrpc
