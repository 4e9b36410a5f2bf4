// WebSocket connections over Beast: one I/O thread per connection runs the
// asynchronous Beast operations (one read and one write at a time, as Beast
// allows); the blocking API of ws.h hands it work and waits.
#include "http/ws.h"

#include <sys/socket.h>

#include <atomic>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/websocket.hpp>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "base/log.h"
#include "http/http_internal.h"

namespace banger {

namespace websocket = boost::beast::websocket;

namespace {
using Socket = asio::generic::stream_protocol::socket;
using Clock = std::chrono::steady_clock;
// Bytes of messages a sender may have queued but not yet written.
constexpr size_t kSendWindow = 256 * 1024;
}  // namespace

struct WsConn::Impl {
  explicit Impl(const WsOptions& o) : options(o), ws(Socket(ioc)), write_timer(ioc), ping_timer(ioc) {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  // Shuts the connection down and waits for the I/O thread.
  ~Impl() {
    if (!io.joinable()) return;
    asio::post(ioc, [this] { Drop("closed"); });
    work.reset();
    {
      // The socket is shut down: what may still wait is a Beast timer.
      std::unique_lock<std::mutex> lk(mu);
      if (!cv.wait_for(lk, std::chrono::milliseconds(200), [this] { return io_done; })) ioc.stop();
    }
    io.join();
  }

  struct Job {
    enum Kind { kMessage, kPing, kClose } kind = kMessage;
    bool text = false;
    std::string data;
    uint16_t code = 1000;
    bool done = false;  // Guarded by mu.
    Status status;      // Guarded by mu.
  };
  struct Read {
    bool done = false;  // The rest is written before done is set, under mu.
    beast::error_code ec;
    bool text = false;
    std::string data;
  };

  // The stream settings both sides share.
  void Configure() {
    ws.auto_fragment(false);
    ws.read_message_max(kWsMaxMessage);
    ws.write_buffer_bytes(64 * 1024);
  }

  void Start() {
    ws.set_option(
        websocket::stream_base::timeout{options.close_timeout, websocket::stream_base::none(), false});
    work.emplace(ioc.get_executor());
    io = std::thread([this] {
      try {
        ioc.run();
      } catch (const std::exception& e) {
        spdlog::error("websocket: I/O thread: unexpected exception: {}", e.what());
      }
      std::lock_guard<std::mutex> lk(mu);
      io_done = true;
      cv.notify_all();
    });
    asio::post(ioc, [this] { ArmPing(); });
  }

  // I/O thread: shuts the connection down; pending operations complete
  // with errors.
  void Drop(const std::string& why) {
    {
      std::lock_guard<std::mutex> lk(mu);
      if (dead) return;
      dead = true;
      dead_reason = why;
    }
    auto& sock = beast::get_lowest_layer(ws);
    beast::error_code ec;
    if (sock.is_open()) {
      ::shutdown(sock.native_handle(), SHUT_RDWR);
      sock.cancel(ec);
    }
    write_timer.cancel();
    ping_timer.cancel();
  }

  bool IsDead() {
    std::lock_guard<std::mutex> lk(mu);
    return dead;
  }

  // I/O thread: a write failed (the peer went away): no more writes, but
  // what the peer sent before (a last message, its close) can still be read.
  void WriteFailed(const std::string& why) {
    std::lock_guard<std::mutex> lk(mu);
    if (write_dead || dead) return;
    write_dead = true;
    dead_reason = why;
  }
  bool CannotWrite() {
    std::lock_guard<std::mutex> lk(mu);
    return dead || write_dead;
  }

  void Finish(const std::shared_ptr<Job>& job, Status st) {
    std::lock_guard<std::mutex> lk(mu);
    job->status = std::move(st);
    job->done = true;
    queued_bytes -= job->data.size();
    cv.notify_all();
  }

  // I/O thread: starts the next queued write unless one runs.
  void Pump() {
    while (!writing && !queue.empty()) {
      auto job = queue.front();
      if (CannotWrite() || close_started) {
        queue.pop_front();
        Finish(job, Error::Unavailable("websocket: connection closed (" + Reason() + ")"));
        continue;
      }
      writing = true;
      uint64_t gen = ++write_gen;
      write_timer.expires_after(options.write_timeout);
      write_timer.async_wait([this, gen](beast::error_code ec) {
        if (ec || !writing || gen != write_gen) return;
        Drop("nothing written for " + std::to_string(options.write_timeout.count()) +
             "ms: the peer is not reading");
      });
      auto done = [this, job](beast::error_code ec, size_t /*n*/ = 0) { OnWritten(job, ec); };
      switch (job->kind) {
        case Job::kMessage:
          ws.text(job->text);
          ws.async_write(asio::buffer(job->data), done);
          break;
        case Job::kPing:
          ws.async_ping({}, [done](beast::error_code ec) { done(ec); });
          break;
        case Job::kClose:
          close_started = true;
          ws.async_close(websocket::close_reason(static_cast<websocket::close_code>(job->code), job->data),
                         [done](beast::error_code ec) { done(ec); });
          break;
      }
    }
  }

  void OnWritten(const std::shared_ptr<Job>& job, beast::error_code ec) {
    write_timer.cancel();
    writing = false;
    queue.pop_front();
    last_write = Clock::now();
    Status st;
    if (ec && job->kind != Job::kClose) {
      WriteFailed(ec.message());
      st = Error::Unavailable("websocket: connection lost (" + Reason() + ")");
    }
    if (job->kind == Job::kClose) Drop("closed");
    Finish(job, std::move(st));
    Pump();
  }

  std::string Reason() {
    std::lock_guard<std::mutex> lk(mu);
    return dead_reason.empty() ? "closed" : dead_reason;
  }

  // I/O thread: a ping after ping_interval without writes.
  void ArmPing() {
    if (options.ping_interval.count() <= 0 || IsDead()) return;
    auto due = std::max(Clock::now(), last_write + options.ping_interval);
    ping_timer.expires_at(due);
    ping_timer.async_wait([this](beast::error_code ec) {
      if (ec || IsDead() || close_started) return;
      if (!writing && queue.empty() && Clock::now() >= last_write + options.ping_interval) {
        auto job = std::make_shared<Job>();
        job->kind = Job::kPing;
        last_write = Clock::now();  // the next one an interval from now
        queue.push_back(job);
        Pump();
      }
      ArmPing();
    });
  }

  // I/O thread.
  void StartRead(const std::shared_ptr<Read>& r) {
    auto complete = [this, r](beast::error_code ec) {
      std::lock_guard<std::mutex> lk(mu);
      r->ec = ec;
      if (ws.reason().code != websocket::close_code::none) peer_code = ws.reason().code;
      r->done = true;
      cv.notify_all();
    };
    if (IsDead()) return complete(asio::error::not_connected);
    ws.async_read(rbuf, [this, r, complete](beast::error_code ec, size_t /*n*/) {
      if (!ec) {
        r->text = ws.got_text();
        r->data = beast::buffers_to_string(rbuf.data());
      }
      rbuf.consume(rbuf.size());
      if (ec && ec != websocket::error::closed) Drop(ec.message());
      complete(ec);
    });
  }

  Status Enqueue(const std::shared_ptr<Job>& job) {
    std::unique_lock<std::mutex> lk(mu);
    if (dead || write_dead) return Error::Unavailable("websocket: connection closed (" + dead_reason + ")");
    queued_bytes += job->data.size();
    asio::post(ioc, [this, job] {
      queue.push_back(job);
      Pump();
    });
    // Messages may be in flight up to kSendWindow bytes (the caller prepares
    // the next one meanwhile); beyond, the caller waits: the back pressure.
    // A failure of a message already let go shows on the next call.
    bool windowed = job->kind == Job::kMessage;
    cv.wait(lk, [&] { return job->done || (windowed && queued_bytes <= kSendWindow); });
    return job->done ? job->status : OkStatus();
  }

  asio::io_context ioc;
  WsOptions options;
  websocket::stream<Socket> ws;
  asio::steady_timer write_timer;
  asio::steady_timer ping_timer;
  std::thread io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;

  std::mutex mu;
  std::condition_variable cv;
  bool io_done = false;           // Guarded by mu.
  bool dead = false;              // Guarded by mu.
  bool write_dead = false;        // Guarded by mu.
  size_t queued_bytes = 0;        // Of messages not yet written. Guarded by mu.
  std::string dead_reason;        // Guarded by mu.
  uint16_t peer_code = 0;         // Guarded by mu.
  std::shared_ptr<Read> pending;  // Guarded by mu.
  std::atomic<bool> close_requested{false};

  // I/O thread only.
  std::deque<std::shared_ptr<Job>> queue;
  bool writing = false;
  bool close_started = false;
  uint64_t write_gen = 0;
  Clock::time_point last_write = Clock::now();
  beast::flat_buffer rbuf;
};

WsConn::WsConn(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WsConn::~WsConn() = default;

Status WsConn::Send(uint8_t type, std::string_view payload) {
  if (payload.size() > kWsMaxPayload) return Error::Invalid("websocket message too large");
  auto job = std::make_shared<Impl::Job>();
  job->data.reserve(payload.size() + 1);
  job->data.push_back(static_cast<char>(type));
  job->data.append(payload);
  return impl_->Enqueue(job);
}

Status WsConn::SendText(std::string_view text) {
  auto job = std::make_shared<Impl::Job>();
  job->text = true;
  job->data = std::string(text);
  return impl_->Enqueue(job);
}

Result<std::optional<WsMessage>> WsConn::Recv(std::optional<std::chrono::milliseconds> timeout) {
  Impl* i = impl_.get();
  std::shared_ptr<Impl::Read> r;
  {
    std::unique_lock<std::mutex> lk(i->mu);
    if (!i->pending) {
      i->pending = std::make_shared<Impl::Read>();
      asio::post(i->ioc, [i, r = i->pending] { i->StartRead(r); });
    }
    r = i->pending;
    if (timeout) {
      if (!i->cv.wait_for(lk, *timeout, [&] { return r->done; })) {
        return Error::Timeout("no message within " + std::to_string(timeout->count()) + "ms");
      }
    } else {
      i->cv.wait(lk, [&] { return r->done; });
    }
    i->pending.reset();
  }
  if (!r->ec) return std::optional<WsMessage>(WsMessage{r->text, std::move(r->data)});
  if (r->ec == websocket::error::closed) return std::optional<WsMessage>();
  if (r->ec == websocket::error::message_too_big) {
    return Error::Invalid("websocket message larger than " + std::to_string(kWsMaxMessage) + " bytes");
  }
  return Error::Unavailable("websocket: connection lost (" + i->Reason() + ")");
}

void WsConn::Close(uint16_t code, std::string_view reason) {
  if (impl_->close_requested.exchange(true)) return;
  auto job = std::make_shared<Impl::Job>();
  job->kind = Impl::Job::kClose;
  job->code = code;
  job->data = std::string(reason.substr(0, 120));
  impl_->Enqueue(job).ok();  // a failed closing handshake leaves the connection shut down all the same
}

void WsConn::Abort() {
  Impl* i = impl_.get();
  asio::post(i->ioc, [i] { i->Drop("aborted"); });
}

uint16_t WsConn::peer_close_code() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->peer_code;
}

Result<std::unique_ptr<WsConn>> WsAccept(UniqueFd fd, const std::string& raw, const WsOptions& options,
                                         const std::map<std::string, std::string>& response_headers) {
  auto impl = std::make_unique<WsConn::Impl>(options);
  sockaddr_storage self{};
  socklen_t len = sizeof self;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&self), &len) != 0) {
    return Error::FromErrno("websocket: getsockname");
  }
  int proto = self.ss_family == AF_UNIX ? 0 : IPPROTO_TCP;
  beast::error_code ec;
  beast::get_lowest_layer(impl->ws).assign(asio::generic::stream_protocol(self.ss_family, proto), fd.get(),
                                           ec);
  if (ec) return Error::Internal("websocket: " + ec.message());
  (void)fd.Release();
  impl->Configure();
  impl->ws.set_option(websocket::stream_base::decorator([response_headers](websocket::response_type& res) {
    res.set(bhttp::field::server, "bangerd");
    for (const auto& [k, v] : response_headers) res.set(k, v);
  }));
  impl->ws.accept(asio::buffer(raw), ec);
  if (ec) return Error::Invalid("websocket handshake: " + ec.message());
  impl->Start();
  return std::make_unique<WsConn>(std::move(impl));
}

namespace {

Result<WsDial> Dial(const asio::generic::stream_protocol::endpoint& ep, const std::string& where,
                    const std::string& host, const std::string& target,
                    const std::map<std::string, std::string>& headers, std::chrono::milliseconds timeout,
                    const WsOptions& options) {
  auto impl = std::make_unique<WsConn::Impl>(options);
  impl->Configure();
  impl->ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    req.set(bhttp::field::user_agent, "banger");
    for (const auto& [k, v] : headers) req.set(k, v);
  }));
  struct State {
    websocket::response_type res;
    beast::error_code ec;
    bool done = false;
  };
  auto st = std::make_shared<State>();
  WsConn::Impl* i = impl.get();
  i->Start();
  auto finish = [i, st](beast::error_code ec) {
    std::lock_guard<std::mutex> lk(i->mu);
    st->ec = ec;
    st->done = true;
    i->cv.notify_all();
  };
  asio::post(i->ioc, [i, st, ep, host, target, finish] {
    beast::get_lowest_layer(i->ws).async_connect(ep, [i, st, host, target, finish](beast::error_code ec) {
      if (ec) return finish(ec);
      i->ws.async_handshake(st->res, host, target, finish);
    });
  });
  WsDial out;
  {
    std::unique_lock<std::mutex> lk(i->mu);
    if (!i->cv.wait_for(lk, timeout, [&] { return st->done; })) {
      return Error::Timeout("websocket " + target + " on " + where + ": no answer within " +
                            std::to_string(timeout.count()) + "ms");
    }
  }
  if (st->ec == websocket::error::upgrade_declined) {
    out.status = static_cast<int>(st->res.result_int());
    out.response_body = st->res.body();
    return out;
  }
  if (st->ec) return Error::Unavailable("connecting to " + where + ": " + st->ec.message());
  out.status = 101;
  out.conn = std::make_unique<WsConn>(std::move(impl));
  return out;
}

}  // namespace

Result<WsDial> WsDialUnix(const std::string& socket_path, const std::string& target,
                          const std::map<std::string, std::string>& headers,
                          std::chrono::milliseconds timeout, const WsOptions& options) {
  return Dial(asio::generic::stream_protocol::endpoint(local::endpoint(socket_path)), socket_path,
              "localhost", target, headers, timeout, options);
}

Result<WsDial> WsDialTcp(const std::string& host_port, const std::string& target,
                         const std::map<std::string, std::string>& headers, std::chrono::milliseconds timeout,
                         const WsOptions& options) {
  auto colon = host_port.rfind(':');
  if (colon == std::string::npos) return Error::Invalid("address \"" + host_port + "\" must be HOST:PORT");
  beast::error_code ec;
  auto ip = asio::ip::make_address(host_port.substr(0, colon), ec);
  if (ec) return Error::Invalid("address \"" + host_port + "\": HOST must be an IP address");
  int port = 0;
  std::string port_s = host_port.substr(colon + 1);
  auto [p, pec] = std::from_chars(port_s.data(), port_s.data() + port_s.size(), port);
  if (pec != std::errc() || p != port_s.data() + port_s.size() || port <= 0 || port > 65535) {
    return Error::Invalid("address \"" + host_port + "\": bad port");
  }
  asio::ip::tcp::endpoint ep(ip, static_cast<unsigned short>(port));
  return Dial(asio::generic::stream_protocol::endpoint(ep), host_port, host_port, target, headers, timeout,
              options);
}

}  // namespace banger
