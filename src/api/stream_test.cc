#include "api/stream.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "api/respond.h"

namespace banger {
namespace {

TEST(StreamTest, FramesRoundTripIncludingLeftoverAndEof) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  std::string big(300000, 'x');
  std::thread w([&] {
    ASSERT_TRUE(WriteStreamFrame(sv[0], StreamType::kStdout, "hello").ok());
    ASSERT_TRUE(WriteStreamFrame(sv[0], StreamType::kStderr, big).ok());
    ASSERT_TRUE(WriteStreamFrame(sv[0], StreamType::kStdinEof, "").ok());
    ::close(sv[0]);
  });
  // Leftover: a frame that arrived with the HTTP head.
  std::string leftover = std::string("\x09\x00\x00\x00\x02hi", 7);
  StreamReader r(sv[1], leftover);
  auto f0 = r.Next();
  ASSERT_TRUE(f0.ok() && f0->has_value());
  EXPECT_EQ((*f0)->type, StreamType::kProgress);
  EXPECT_EQ((*f0)->payload, "hi");
  auto f1 = r.Next();
  ASSERT_TRUE(f1.ok() && f1->has_value());
  EXPECT_EQ((*f1)->payload, "hello");
  auto f2 = r.Next();
  ASSERT_TRUE(f2.ok() && f2->has_value());
  EXPECT_EQ((*f2)->type, StreamType::kStderr);
  EXPECT_EQ((*f2)->payload.size(), big.size());
  auto f3 = r.Next();
  ASSERT_TRUE(f3.ok() && f3->has_value());
  EXPECT_EQ((*f3)->type, StreamType::kStdinEof);
  auto end = r.Next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
  w.join();
  ::close(sv[1]);
}

// Regression: the reader once read a frame's type through a pointer into its
// buffer taken before the buffer grew, dropping frames as "unknown".
TEST(StreamTest, ManyLargeFramesKeepTheirTypes) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  std::string chunk(32 * 1024, 'a');
  constexpr int kFrames = 64;
  std::thread w([&] {
    for (int i = 0; i < kFrames; ++i) ASSERT_TRUE(WriteStreamFrame(sv[0], StreamType::kStdin, chunk).ok());
    ::close(sv[0]);
  });
  StreamReader r(sv[1], "");
  size_t bytes = 0;
  int frames = 0;
  for (;;) {
    auto f = r.Next();
    ASSERT_TRUE(f.ok());
    if (!f->has_value()) break;
    ASSERT_EQ((*f)->type, StreamType::kStdin) << "frame " << frames;
    bytes += (*f)->payload.size();
    ++frames;
  }
  w.join();
  ::close(sv[1]);
  EXPECT_EQ(frames, kFrames);
  EXPECT_EQ(bytes, chunk.size() * kFrames);
}

TEST(StreamTest, TruncatedFrameIsAnError) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ASSERT_EQ(::write(sv[0],
                    "\x02\x00\x00\x00\x10"
                    "abc",
                    8),
            8);
  ::close(sv[0]);
  StreamReader r(sv[1], "");
  EXPECT_FALSE(r.Next().ok());
  ::close(sv[1]);
}

TEST(StreamTest, ResizeCodec) {
  uint16_t rows = 0, cols = 0;
  ASSERT_TRUE(DecodeResize(EncodeResize(50, 300), rows, cols));
  EXPECT_EQ(rows, 50);
  EXPECT_EQ(cols, 300);
  EXPECT_FALSE(DecodeResize("abc", rows, cols));
}

TEST(StreamTest, ProgressResultWithInvalidUtf8IsReplacedNotFatal) {
  // `workspace prepare` on a branch whose name is not UTF-8: the result
  // frame's JSON used to throw in the upgrade callback and end bangerd.
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  HttpResponse resp = ProgressUpgrade([](const auto& progress, const auto&) -> Result<Json> {
    progress("on branch \xff");
    return Json{{"branch", "bad-\xff\xfe"}};
  });
  ASSERT_EQ(resp.status, 101);
  std::thread serve([&] { resp.upgrade(UniqueFd(sv[0]), ""); });
  StreamReader r(sv[1], "");
  std::optional<StreamFrame> result;
  for (;;) {
    auto f = r.Next();
    ASSERT_TRUE(f.ok()) << f.error().message();
    if (!f->has_value()) break;
    if ((*f)->type == StreamType::kResult) result = **f;
    if ((*f)->type == StreamType::kResult || (*f)->type == StreamType::kError) break;
  }
  ::shutdown(sv[1], SHUT_WR);
  serve.join();
  ::close(sv[1]);
  ASSERT_TRUE(result.has_value());
  auto j = Json::parse(result->payload);
  EXPECT_EQ(j["branch"], "bad-\xEF\xBF\xBD\xEF\xBF\xBD");
}

}  // namespace
}  // namespace banger
