// Test-only helpers for the ttrpc tests: a TtrpcServer serving one end of a
// socketpair on a thread, and raw frame I/O for playing a hostile peer.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "base/unique_fd.h"
#include "ttrpc/client.h"
#include "ttrpc/frame.h"
#include "ttrpc/proto/ttrpc.pb.h"
#include "ttrpc/server.h"

namespace banger::ttrpc::testing {

using namespace std::chrono_literals;

inline Clock::time_point In(std::chrono::milliseconds d) { return Clock::now() + d; }

// A server serving one end of a socketpair; `peer` is the other end.
class Served {
 public:
  explicit Served(ServerOptions options = {}) : server(options) {}
  ~Served() {
    server.Shutdown();
    if (thread_.joinable()) thread_.join();
  }

  void Start() {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    peer.Reset(sv[1]);
    thread_ = std::thread([this, fd = sv[0]] {
      Status st = server.Serve(UniqueFd(fd));
      std::lock_guard lock(mu_);
      status_ = st;
      done_ = true;
      cv_.notify_all();
    });
  }

  // Serve's result once it returned within `timeout`; nullopt if it did not.
  std::optional<Status> WaitServed(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return done_; })) return std::nullopt;
    return status_;
  }

  std::unique_ptr<TtrpcClient> Client(ClientOptions options = {}) {
    auto c = TtrpcClient::Adopt(std::move(peer), options);
    EXPECT_TRUE(c.ok());
    return c.ok() ? std::move(*c) : nullptr;
  }

  TtrpcServer server;
  UniqueFd peer;

 private:
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  Status status_;
};

inline std::string RequestBytes(const std::string& service, const std::string& method,
                                const std::string& payload, const Metadata& md = {}) {
  ::ttrpc::Request req;
  req.set_service(service);
  req.set_method(method);
  req.set_payload(payload);
  for (const auto& [k, v] : md) {
    auto* kv = req.add_metadata();
    kv->set_key(k);
    kv->set_value(v);
  }
  return req.SerializeAsString();
}

inline void WriteRaw(int fd, const std::string& bytes) {
  ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
}

inline std::string RawFrame(uint32_t id, uint8_t type, const std::string& payload) {
  std::string h(kHeaderSize, '\0');
  EncodeHeader({.length = static_cast<uint32_t>(payload.size()), .stream_id = id, .type = type}, h.data());
  return h + payload;
}

// Reads from fd until one frame arrives (it), the peer closes (nullopt,
// *eof) or `timeout` passes (nullopt).
inline std::optional<Frame> ReadFrame(int fd, FrameDecoder* d, std::chrono::milliseconds timeout,
                                      bool* eof = nullptr) {
  if (eof) *eof = false;
  auto deadline = In(timeout);
  for (;;) {
    Frame f;
    if (d->Next(&f) == FrameDecoder::Event::kFrame) return f;
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    int rc = ::poll(&p, 1, PollTimeoutMs(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return std::nullopt;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      if (eof) *eof = true;
      return std::nullopt;
    }
    d->Feed(std::string_view(buf, static_cast<size_t>(n)));
  }
}

// The response's status code and payload.
inline std::pair<Code, std::string> ParseResponse(const Frame& f) {
  ::ttrpc::Response r;
  EXPECT_TRUE(r.ParseFromString(f.payload));
  return {CodeFromWire(r.status().code()), r.status().code() == 0 ? r.payload() : r.status().message()};
}

}  // namespace banger::ttrpc::testing
