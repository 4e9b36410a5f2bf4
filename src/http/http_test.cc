#include "http/http.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>
#include <future>
#include <thread>

#include "base/testing/temp_dir.h"

namespace banger {
namespace {

// A handler that answers 200 and counts its calls.
HttpHandler Counting(std::atomic<int>& calls) {
  return [&calls](const HttpRequest&) {
    ++calls;
    return HttpResponse{};
  };
}

class HttpTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (server_) server_->Shutdown();
    if (thread_.joinable()) thread_.join();
  }
  void Start(const HttpHandler& h, const HttpLimits& limits = {}) {
    auto s = HttpServer::ListenUnix(sock_, 0600);
    ASSERT_TRUE(s.ok()) << s.error().message();
    server_ = std::move(*s);
    server_->SetLimits(limits);
    thread_ = std::thread([this, h] { server_->Serve(h); });
  }
  testing::TempDir dir_{"bghttp"};
  std::string sock_ = dir_ / "api.sock";
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

TEST_F(HttpTest, RoundTripCarriesMethodPathQueryAndBody) {
  Start([](const HttpRequest& r) {
    HttpResponse resp;
    resp.status = 201;
    resp.body = r.method + "|" + r.Path() + "|" + r.Query()["label"] + "|" + r.body;
    return resp;
  });
  HttpRequest req;
  req.method = "POST";
  req.target = "/v1/vms%2Fx?label=" + UrlEncode("a=b c");
  req.body = R"({"x":1})";
  auto res = UnixHttpCall(sock_, req, std::chrono::seconds(5));
  ASSERT_TRUE(res.ok()) << res.error().message();
  EXPECT_EQ(res->status, 201);
  EXPECT_EQ(res->body, R"(POST|/v1/vms/x|a=b c|{"x":1})");
}

TEST_F(HttpTest, SocketModeIsRestricted) {
  Start([](const HttpRequest&) { return HttpResponse{}; });
  struct stat st {};
  ASSERT_EQ(::stat(sock_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(HttpTest, SocketCanBeSharedWithAGroup) {
  // As root any group will do (65534 is Debian's nogroup); otherwise our own.
  gid_t gid = ::geteuid() == 0 ? 65534 : ::getgid();
  std::string path = dir_ / "group.sock";
  auto s = HttpServer::ListenUnix(path, 0660, gid);
  ASSERT_TRUE(s.ok()) << s.error().message();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(st.st_gid, gid);
}

TEST(HttpTcpTest, ServesOnLoopbackAndRefusesBadAddresses) {
  auto s = HttpServer::ListenTcp("127.0.0.1:0");
  ASSERT_TRUE(s.ok()) << s.error().message();
  ASSERT_GT((*s)->port(), 0);
  std::thread t([&] {
    (*s)->Serve([](const HttpRequest& r) {
      HttpResponse resp;
      resp.status = 200;
      resp.content_type = "text/plain";
      resp.body = "hello " + r.Path() + " host=" + r.headers.at("host");
      return resp;
    });
  });
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>((*s)->port()));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  std::string req = "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
  ::close(fd);
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  EXPECT_NE(got.find("hello /x host=127.0.0.1"), std::string::npos) << got;
  (*s)->Shutdown();
  t.join();

  for (const char* bad : {"127.0.0.1", "nohost:80", "127.0.0.1:99999", ":80", "example.com:80"}) {
    EXPECT_FALSE(HttpServer::ListenTcp(bad).ok()) << bad;
  }
}

TEST_F(HttpTest, ConnectToMissingSocketIsUnavailable) {
  auto res = UnixHttpCall(dir_ / "nope.sock", HttpRequest{}, std::chrono::seconds(1));
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().kind(), ErrorKind::kUnavailable);
}

TEST_F(HttpTest, SlowServerTimesOut) {
  Start([](const HttpRequest&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    return HttpResponse{};
  });
  auto res = UnixHttpCall(sock_, HttpRequest{}, std::chrono::milliseconds(200));
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().kind(), ErrorKind::kTimeout);
}

// A raw client connection to the test socket (-1 on failure).
int RawConnect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{20, 0};  // a hung server fails the test instead of wedging it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

void SendAll(int fd, const std::string& s) {
  ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
}

// Everything until the server closes (or the 20 s receive timeout).
std::string ReadToEnd(int fd) {
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) got.append(buf, static_cast<size_t>(n));
  return got;
}

TEST_F(HttpTest, HandlerExceptionIs500AndTheServerGoesOn) {
  Start([](const HttpRequest& r) -> HttpResponse {
    if (r.Path() == "/throw") throw std::runtime_error("boom");
    HttpResponse ok;
    ok.body = "fine";
    return ok;
  });
  HttpRequest req;
  req.target = "/throw";
  auto res = UnixHttpCall(sock_, req, std::chrono::seconds(5));
  ASSERT_TRUE(res.ok()) << res.error().message();
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(res->body.find("boom"), std::string::npos) << "no internals to the client";
  req.target = "/ok";
  res = UnixHttpCall(sock_, req, std::chrono::seconds(5));
  ASSERT_TRUE(res.ok()) << res.error().message();
  EXPECT_EQ(res->body, "fine");
}

TEST_F(HttpTest, ConnectionsBeyondTheCapAre503) {
  HttpLimits limits;
  limits.max_connections = 2;
  Start([](const HttpRequest&) { return HttpResponse{}; }, limits);
  // Two slow clients hold both slots (connected, nothing sent).
  int a = RawConnect(sock_), b = RawConnect(sock_);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the server accept them
  int c = RawConnect(sock_);
  ASSERT_GE(c, 0);
  SendAll(c, "GET /x HTTP/1.1\r\nHost: l\r\n\r\n");
  std::string got = ReadToEnd(c);
  EXPECT_EQ(got.rfind("HTTP/1.1 503", 0), 0u) << got;
  ::close(c);
  // A slot freed is a slot served.
  ::close(a);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto res = UnixHttpCall(sock_, HttpRequest{}, std::chrono::seconds(5));
  ASSERT_TRUE(res.ok()) << res.error().message();
  EXPECT_EQ(res->status, 200);
  ::close(b);
}

TEST_F(HttpTest, HalfAHeaderIsDroppedAfterTheHeaderTimeout) {
  HttpLimits limits;
  limits.header_timeout = std::chrono::milliseconds(300);
  std::atomic<int> calls{0};
  Start(Counting(calls), limits);
  int fd = RawConnect(sock_);
  ASSERT_GE(fd, 0);
  SendAll(fd, "GET /x HTTP/1.1\r\nHost: l\r\nX-Slow: ");
  // The server closes it (recv returns 0), well before our 20 s receive timeout.
  EXPECT_EQ(ReadToEnd(fd), "");
  errno = 0;
  char c;
  EXPECT_EQ(::recv(fd, &c, 1, 0), 0) << std::strerror(errno);
  ::close(fd);
  EXPECT_EQ(calls, 0);
}

TEST_F(HttpTest, IdleKeepAliveConnectionIsClosed) {
  HttpLimits limits;
  limits.idle_timeout = std::chrono::milliseconds(300);
  Start([](const HttpRequest&) { return HttpResponse{}; }, limits);
  int fd = RawConnect(sock_);
  ASSERT_GE(fd, 0);
  SendAll(fd, "GET /x HTTP/1.1\r\nHost: l\r\n\r\n");
  std::string got = ReadToEnd(fd);  // the answer, then the close after 300 ms idle
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  ::close(fd);
}

TEST_F(HttpTest, OversizedBodyIs413) {
  HttpLimits limits;
  limits.max_body_bytes = 1000;
  std::atomic<int> calls{0};
  Start(Counting(calls), limits);
  HttpRequest req;
  req.method = "POST";
  req.body = std::string(1001, 'x');
  auto res = UnixHttpCall(sock_, req, std::chrono::seconds(5));
  ASSERT_TRUE(res.ok()) << res.error().message();
  EXPECT_EQ(res->status, 413);
  req.body = std::string(1000, 'x');
  res = UnixHttpCall(sock_, req, std::chrono::seconds(5));
  ASSERT_TRUE(res.ok()) << res.error().message();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(calls, 1);
}

TEST_F(HttpTest, UnixRequestsCarryThePeerUid) {
  std::atomic<int> uid{-1};
  Start([&uid](const HttpRequest& r) {
    uid = r.peer_uid ? static_cast<int>(*r.peer_uid) : -2;
    return HttpResponse{};
  });
  ASSERT_TRUE(UnixHttpCall(sock_, HttpRequest{}, std::chrono::seconds(5)).ok());
  EXPECT_EQ(uid, static_cast<int>(::getuid()));
}

TEST_F(HttpTest, ServeConnectionForTestServesOneSocket) {
  auto s = HttpServer::ListenUnix(dir_ / "unused.sock", 0600);
  ASSERT_TRUE(s.ok());
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  std::thread t([&] {
    (*s)->ServeConnectionForTest(UniqueFd(pair[0]), [](const HttpRequest& r) {
      HttpResponse resp;
      resp.body = r.Path();
      return resp;
    });
  });
  SendAll(pair[1], "GET /hello HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n");
  std::string got = ReadToEnd(pair[1]);
  t.join();
  ::close(pair[1]);
  EXPECT_NE(got.find("/hello"), std::string::npos) << got;
}

// `daemon stop` asks for the shutdown from inside its handler: its answer
// still reaches the client, while an idle keep-alive connection is closed
// right away (before that handler has even returned).
TEST_F(HttpTest, ShutdownFromAHandlerStillDeliversItsAnswer) {
  int idle = -1;
  std::thread stopper;
  std::atomic<bool> idle_closed{false};
  Start([&](const HttpRequest& r) {
    HttpResponse resp;
    if (r.Path() != "/stop") return resp;
    stopper = std::thread([this] { server_->Shutdown(); });
    // Waits (bounded) for the idle client to see its connection end.
    pollfd p{idle, POLLIN, 0};
    char c = 0;
    if (::poll(&p, 1, 5000) == 1 && ::recv(idle, &c, 1, MSG_DONTWAIT) == 0) idle_closed = true;
    resp.status = 202;
    resp.body = "{}";
    return resp;
  });
  idle = RawConnect(sock_);
  ASSERT_GE(idle, 0);
  // One request first, so the idle connection is past its accept and waits
  // for a next one.
  SendAll(idle, "GET /x HTTP/1.1\r\nHost: l\r\n\r\n");
  char buf[512];
  ASSERT_GT(::recv(idle, buf, sizeof buf, 0), 0);
  HttpRequest stop;
  stop.method = "POST";
  stop.target = "/stop";
  auto res = UnixHttpCall(sock_, stop, std::chrono::seconds(20));
  ASSERT_TRUE(res.ok()) << res.error().message();
  EXPECT_EQ(res->status, 202);
  EXPECT_TRUE(idle_closed) << "the idle connection stays open while the stop is answered";
  stopper.join();
  thread_.join();
  ::close(idle);
}

}  // namespace
}  // namespace banger
