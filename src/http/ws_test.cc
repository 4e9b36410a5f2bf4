#include "http/ws.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <future>
#include <optional>
#include <thread>

#include "base/testing/temp_dir.h"
#include "http/http.h"

namespace banger {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// An HttpServer whose handler turns every WebSocket request into `serve`
// (per path), and answers a plain request 404.
class WsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (server_) server_->Shutdown();
    if (thread_.joinable()) thread_.join();
  }
  void Start(std::map<std::string, std::function<void(WsConn&)>> routes, const HttpLimits& limits = {}) {
    auto s = HttpServer::ListenUnix(sock_, 0600);
    ASSERT_TRUE(s.ok()) << s.error().message();
    server_ = std::move(*s);
    server_->SetLimits(limits);
    thread_ = std::thread([this, routes = std::move(routes)] {
      server_->Serve([routes](const HttpRequest& req) {
        HttpResponse r;
        auto it = routes.find(req.Path());
        if (it == routes.end() || !IsWebSocketUpgrade(req)) {
          r.status = 404;
          r.body = R"({"error":{"code":"not_found","message":"no such stream"}})";
          return r;
        }
        r.status = 101;
        r.websocket = it->second;
        return r;
      });
    });
  }
  std::unique_ptr<WsConn> Dial(const std::string& target) {
    auto d = WsDialUnix(sock_, target, {}, seconds(5));
    EXPECT_TRUE(d.ok()) << d.error().message();
    if (!d.ok()) return nullptr;
    EXPECT_EQ(d->status, 101) << d->response_body;
    return std::move(d->conn);
  }
  // A raw connection to the socket (-1 on failure), reads bounded by 20 s.
  int RawConnect() {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, sock_.c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return -1;
    }
    timeval tv{20, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
  }
  static std::string ReadHead(int fd) {
    std::string head;
    char c;
    while (head.find("\r\n\r\n") == std::string::npos && ::recv(fd, &c, 1, 0) == 1) head.push_back(c);
    return head;
  }
  // Sends a valid opening request for `path`; the response head.
  static std::string Handshake(int fd, const std::string& path) {
    std::string req = "GET " + path +
                      " HTTP/1.1\r\nHost: l\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    if (::send(fd, req.data(), req.size(), 0) != static_cast<ssize_t>(req.size())) return "";
    return ReadHead(fd);
  }
  static std::function<void(WsConn&)> Echo() {
    return [](WsConn& ws) {
      for (;;) {
        auto m = ws.Recv();
        if (!m.ok() || !m->has_value()) return;
        Status st = (*m)->text ? ws.SendText((*m)->data) : ws.Send((*m)->type(), (*m)->payload());
        if (!st.ok()) return;
      }
    };
  }
  testing::TempDir dir_{"bgws"};
  std::string sock_ = dir_ / "api.sock";
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

TEST_F(WsTest, BinaryAndTextMessagesRoundTrip) {
  Start({{"/echo", Echo()}});
  auto ws = Dial("/echo");
  ASSERT_TRUE(ws);
  std::string big(kWsMaxPayload, 'x');
  big[12345] = '\0';
  struct Case {
    uint8_t type;
    std::string payload;
  };
  for (const Case& c : {Case{2, "hello"}, Case{4, ""}, Case{255, std::string("\0\1\2", 3)}, Case{1, big}}) {
    ASSERT_TRUE(ws->Send(c.type, c.payload).ok());
    auto m = ws->Recv(seconds(10));
    ASSERT_TRUE(m.ok() && m->has_value()) << (m.ok() ? "closed" : m.error().message());
    EXPECT_FALSE((*m)->text);
    EXPECT_EQ((*m)->type(), c.type);
    EXPECT_EQ((*m)->payload(), c.payload);
  }
  ASSERT_TRUE(ws->SendText(R"({"argv":["true"]})").ok());
  auto t = ws->Recv(seconds(10));
  ASSERT_TRUE(t.ok() && t->has_value());
  EXPECT_TRUE((*t)->text);
  EXPECT_EQ((*t)->data, R"({"argv":["true"]})");
  EXPECT_FALSE(ws->Send(2, big + "y").ok()) << "a payload over 1 MiB is refused before the wire";
  ws->Close(1000);
}

TEST_F(WsTest, AMessageOverTheLimitClosesWith1009) {
  std::promise<Error> server_saw;
  Start({{"/big", [&server_saw](WsConn& ws) {
            auto ok = ws.Recv();  // the largest allowed
            if (!ok.ok() || !ok->has_value() || (*ok)->data.size() != kWsMaxMessage) {
              server_saw.set_value(Error::Internal("the largest message did not arrive whole"));
              return;
            }
            auto m = ws.Recv();
            server_saw.set_value(m.ok() ? Error::Internal("got it") : m.error());
          }}});
  // A raw client: its frame header announces one byte more than allowed.
  int fd = RawConnect();
  ASSERT_GE(fd, 0);
  ASSERT_EQ(Handshake(fd, "/big").rfind("HTTP/1.1 101", 0), 0u);
  auto frame = [](uint64_t len) {
    std::string f = {static_cast<char>(0x82), static_cast<char>(0x80 | 127)};
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>(len >> (8 * i)));
    f.append(4, '\0');  // the mask key: 0, so the payload goes as is
    return f;
  };
  std::string ok = frame(kWsMaxMessage) + std::string(kWsMaxMessage, 'a');
  ASSERT_EQ(::send(fd, ok.data(), ok.size(), MSG_NOSIGNAL), static_cast<ssize_t>(ok.size()));
  std::string big = frame(kWsMaxMessage + 1);
  ASSERT_EQ(::send(fd, big.data(), big.size(), MSG_NOSIGNAL), static_cast<ssize_t>(big.size()));
  unsigned char close[4] = {};
  ASSERT_EQ(::recv(fd, close, 4, MSG_WAITALL), 4);
  ::close(fd);
  EXPECT_EQ(close[0], 0x88) << "a close frame";
  EXPECT_EQ(close[1], 0x02);
  EXPECT_EQ(close[2] << 8 | close[3], 1009);
  auto f = server_saw.get_future();
  ASSERT_EQ(f.wait_for(seconds(10)), std::future_status::ready);
  Error e = f.get();
  EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.message();
}

TEST_F(WsTest, RefusedUpgradeGivesTheStatusAndBody) {
  Start({{"/echo", Echo()}});
  auto d = WsDialUnix(sock_, "/nothing", {}, seconds(5));
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->status, 404);
  EXPECT_NE(d->response_body.find("no such stream"), std::string::npos);
  EXPECT_FALSE(d->conn);
}

TEST_F(WsTest, BadHandshakeIs400) {
  std::atomic<bool> served{false};
  Start({{"/echo", [&served](WsConn&) { served = true; }}});
  int fd = RawConnect();
  ASSERT_GE(fd, 0);
  // An upgrade without Sec-WebSocket-Key / -Version.
  std::string req = "GET /echo HTTP/1.1\r\nHost: l\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  std::string head = ReadHead(fd);
  ::close(fd);
  EXPECT_EQ(head.rfind("HTTP/1.1 400", 0), 0u) << head;
  EXPECT_FALSE(served);
}

TEST_F(WsTest, IdleStreamsArePinged) {
  HttpLimits limits;
  limits.ws_ping_interval = milliseconds(100);
  Start({{"/idle", [](WsConn& ws) { ws.Recv().ok(); }}}, limits);
  int fd = RawConnect();
  ASSERT_GE(fd, 0);
  std::string head = Handshake(fd, "/idle");
  EXPECT_EQ(head.rfind("HTTP/1.1 101", 0), 0u) << head;
  EXPECT_NE(head.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), std::string::npos) << head;
  unsigned char frame[2] = {};
  ASSERT_EQ(::recv(fd, frame, 2, MSG_WAITALL), 2);
  EXPECT_EQ(frame[0], 0x89) << "a ping, final";
  EXPECT_EQ(frame[1], 0x00) << "unmasked, empty";
  ::close(fd);
}

TEST_F(WsTest, StreamExceptionClosesOnlyThatStream) {
  Start({{"/boom", [](WsConn&) { throw std::runtime_error("stream boom"); }}, {"/echo", Echo()}});
  auto boom = Dial("/boom");
  ASSERT_TRUE(boom);
  auto m = boom->Recv(seconds(10));
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_FALSE(m->has_value()) << "closed, not hung";
  auto echo = Dial("/echo");
  ASSERT_TRUE(echo);
  ASSERT_TRUE(echo->Send(2, "still here").ok());
  auto back = echo->Recv(seconds(10));
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_EQ((*back)->payload(), "still here");
}

TEST_F(WsTest, ShutdownEndsStreams) {
  std::atomic<bool> streaming{false};
  Start({{"/wait", [&streaming](WsConn& ws) {
            streaming = true;
            while (true) {
              auto m = ws.Recv();
              if (!m.ok() || !m->has_value()) return;
            }
          }}});
  auto ws = Dial("/wait");
  ASSERT_TRUE(ws);
  for (int i = 0; i < 100 && !streaming; ++i) std::this_thread::sleep_for(milliseconds(20));
  ASSERT_TRUE(streaming);
  auto done = std::async(std::launch::async, [this] { server_->Shutdown(); });
  // The client keeps its end open: only the server's shutdown(2) ends the stream.
  ASSERT_EQ(done.wait_for(seconds(15)), std::future_status::ready);
  thread_.join();
}

TEST_F(WsTest, AClientThatNeverReadsIsDroppedAndOthersGoOn) {
  HttpLimits limits;
  limits.ws_write_timeout = milliseconds(500);
  struct Flood {
    std::atomic<bool> blocked_once{false};
    std::promise<std::pair<Status, std::chrono::steady_clock::duration>> ended;
  } flood;
  Start({{"/flood",
          [&flood](WsConn& ws) {
            std::string chunk(64 * 1024, 'z');
            // Sends return while their bytes are still in the send window, so the
            // one that fails may come just after one that succeeded: the time the
            // peer was stuck runs from the start of the first Send that blocked.
            std::optional<std::chrono::steady_clock::time_point> blocked_since;
            for (;;) {
              auto t0 = std::chrono::steady_clock::now();
              Status st = ws.Send(2, chunk);
              auto t1 = std::chrono::steady_clock::now();
              if (!st.ok()) {
                flood.ended.set_value({st, t1 - blocked_since.value_or(t0)});
                return;
              }
              if (t1 - t0 > milliseconds(100)) {
                flood.blocked_once = true;
                if (!blocked_since) blocked_since = t0;
              }
            }
          }},
         {"/echo", Echo()}},
        limits);
  auto stalled = Dial("/flood");  // never reads
  ASSERT_TRUE(stalled);
  auto other = Dial("/echo");
  ASSERT_TRUE(other);
  // The other client is served while the flood's writes are blocked.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(other->Send(1, "ping " + std::to_string(i)).ok());
    auto m = other->Recv(seconds(5));
    ASSERT_TRUE(m.ok() && m->has_value()) << i;
    EXPECT_EQ((*m)->payload(), "ping " + std::to_string(i));
    std::this_thread::sleep_for(milliseconds(100));
  }
  auto f = flood.ended.get_future();
  ASSERT_EQ(f.wait_for(seconds(10)), std::future_status::ready) << "the stalled client was never dropped";
  auto [st, stuck] = f.get();
  EXPECT_EQ(st.error().kind(), ErrorKind::kUnavailable);
  EXPECT_NE(st.error().message().find("not reading"), std::string::npos) << st.error().message();
  EXPECT_GE(stuck, milliseconds(300));
  EXPECT_LT(stuck, seconds(5));
  // And still the other client goes on.
  ASSERT_TRUE(other->Send(1, "after").ok());
  auto m = other->Recv(seconds(5));
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ((*m)->payload(), "after");
}

TEST_F(WsTest, APeerThatClosesIsSeenAsGone) {
  std::promise<bool> clean;
  Start({{"/wait", [&clean](WsConn& ws) {
            auto m = ws.Recv();
            clean.set_value(m.ok() && !m->has_value());
          }}});
  auto ws = Dial("/wait");
  ASSERT_TRUE(ws);
  ws->Close(1000);
  auto f = clean.get_future();
  ASSERT_EQ(f.wait_for(seconds(10)), std::future_status::ready);
  EXPECT_TRUE(f.get());
}

}  // namespace
}  // namespace banger
