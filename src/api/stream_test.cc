#include "api/stream.h"

#include <gtest/gtest.h>

#include <thread>

#include "api/respond.h"
#include "base/testing/temp_dir.h"

namespace banger {
namespace {

TEST(StreamTest, ResizeCodec) {
  uint16_t rows = 0, cols = 0;
  ASSERT_TRUE(DecodeResize(EncodeResize(50, 300), rows, cols));
  EXPECT_EQ(rows, 50);
  EXPECT_EQ(cols, 300);
  EXPECT_FALSE(DecodeResize("abc", rows, cols));
}

TEST(StreamTest, ErrorPayloadRoundTrips) {
  Error e = DecodeErrorFrame(EncodeErrorFrame(Error::NotFound("no vm \"x\"")));
  EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  EXPECT_EQ(e.message(), "no vm \"x\"");
  EXPECT_EQ(DecodeErrorFrame("not json").kind(), ErrorKind::kInternal);
}

// A progress stream served for real (HttpServer + WebSocket), as the daemon
// serves image builds and workspace copies.
class ProgressStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = HttpServer::ListenUnix(sock_, 0600);
    ASSERT_TRUE(s.ok()) << s.error().message();
    server_ = std::move(*s);
    thread_ = std::thread([this] {
      server_->Serve([](const HttpRequest& req) {
        if (auto st = RequireWebSocket(req, "the test stream"); !st.ok()) return ErrorResponse(st.error());
        return ProgressStream("test request", [](const Json& open) -> Result<ProgressOp> {
          if (!open.contains("name")) return Error::Invalid("test request: field \"name\" is required");
          std::string name = open["name"];
          return ProgressOp([name](const auto& progress, const auto&) -> Result<Json> {
            progress("on branch \xff");
            return Json{{"name", name}, {"branch", "bad-\xff\xfe"}};
          });
        });
      });
    });
  }
  void TearDown() override {
    server_->Shutdown();
    thread_.join();
  }
  std::unique_ptr<WsConn> Dial() {
    auto d = WsDialUnix(sock_, "/stream", {}, std::chrono::seconds(5));
    EXPECT_TRUE(d.ok()) << d.error().message();
    if (!d.ok()) return nullptr;
    EXPECT_EQ(d->status, 101) << d->response_body;
    return std::move(d->conn);
  }
  // The messages until the stream's last one (result or error).
  std::vector<WsMessage> Drain(WsConn& ws) {
    std::vector<WsMessage> got;
    for (;;) {
      auto m = ws.Recv(std::chrono::seconds(10));
      EXPECT_TRUE(m.ok()) << m.error().message();
      if (!m.ok() || !m->has_value()) break;
      got.push_back(**m);
      uint8_t t = got.back().type();
      if (t == Msg(StreamType::kResult) || t == Msg(StreamType::kError)) break;
    }
    return got;
  }
  testing::TempDir dir_{"bgstream"};
  std::string sock_ = dir_ / "api.sock";
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

TEST_F(ProgressStreamTest, ResultWithInvalidUtf8IsReplacedNotFatal) {
  // `workspace prepare` on a branch whose name is not UTF-8: the result's
  // JSON used to throw in the stream callback and end bangerd.
  auto ws = Dial();
  ASSERT_TRUE(ws);
  ASSERT_TRUE(ws->SendText(R"({"name":"w"})").ok());
  auto got = Drain(*ws);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].type(), Msg(StreamType::kProgress));
  ASSERT_EQ(got[1].type(), Msg(StreamType::kResult));
  auto j = Json::parse(got[1].payload());
  EXPECT_EQ(j["name"], "w");
  EXPECT_EQ(j["branch"], "bad-\xEF\xBF\xBD\xEF\xBF\xBD");
  // Then the daemon closes the WebSocket, normally.
  auto end = ws->Recv(std::chrono::seconds(10));
  ASSERT_TRUE(end.ok()) << end.error().message();
  EXPECT_FALSE(end->has_value());
  EXPECT_EQ(ws->peer_close_code(), 1000);
}

TEST_F(ProgressStreamTest, TheOpeningRequestMustBeTextJson) {
  struct Case {
    bool text;
    std::string data;
    std::string says;
  };
  for (const Case& c :
       {Case{false, "\x01{}", "as text"}, Case{true, "{nope", "test request"},
        Case{true, "[1]", "must be a JSON object"}, Case{true, R"({"other":1})", "\"name\" is required"}}) {
    auto ws = Dial();
    ASSERT_TRUE(ws);
    ASSERT_TRUE(
        (c.text ? ws->SendText(c.data) : ws->Send(static_cast<uint8_t>(c.data[0]), c.data.substr(1))).ok());
    auto got = Drain(*ws);
    ASSERT_EQ(got.size(), 1u) << c.data;
    ASSERT_EQ(got[0].type(), Msg(StreamType::kError)) << c.data;
    Error e = DecodeErrorFrame(std::string(got[0].payload()));
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.message();
    EXPECT_NE(e.message().find(c.says), std::string::npos) << e.message();
  }
}

TEST_F(ProgressStreamTest, APlainRequestIsTold) {
  auto r = UnixHttpCall(sock_, HttpRequest{}, std::chrono::seconds(5));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("the test stream is a WebSocket stream: connect with Upgrade: websocket"),
            std::string::npos)
      << r->body;
}

TEST(StreamOpenTest, NoOpeningRequestInTimeIsAnError) {
  testing::TempDir dir{"bgstream"};
  std::string sock = dir / "api.sock";
  auto s = HttpServer::ListenUnix(sock, 0600);
  ASSERT_TRUE(s.ok());
  std::thread t([&] {
    (*s)->Serve([](const HttpRequest&) {
      return WebSocketStream([](WsConn& ws) {
        auto open = ReadOpenRequest(ws, "test request", std::chrono::milliseconds(200));
        SendStreamError(ws, open.ok() ? Error::Internal("got one") : open.error());
      });
    });
  });
  auto d = WsDialUnix(sock, "/x", {}, std::chrono::seconds(5));
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->status, 101);
  auto m = d->conn->Recv(std::chrono::seconds(10));
  ASSERT_TRUE(m.ok() && m->has_value());
  Error e = DecodeErrorFrame(std::string((*m)->payload()));
  EXPECT_NE(e.message().find("no test request within"), std::string::npos) << e.message();
  (*s)->Shutdown();
  t.join();
}

}  // namespace
}  // namespace banger
