#include "ttrpc/frame.h"

#include <gtest/gtest.h>

#include <string>

namespace banger::ttrpc {
namespace {

std::string Header(uint32_t length, uint32_t id, uint8_t type, uint8_t flags = 0) {
  std::string h(kHeaderSize, '\0');
  EncodeHeader({.length = length, .stream_id = id, .type = type, .flags = flags}, h.data());
  return h;
}

TEST(FrameTest, HeaderIsBigEndian) {
  std::string h = Header(0x01020304, 0x0a0b0c0d, 1, 0);
  EXPECT_EQ(h, std::string("\x01\x02\x03\x04\x0a\x0b\x0c\x0d\x01\x00", 10));
  FrameHeader back = DecodeHeader(h.data());
  EXPECT_EQ(back, (FrameHeader{.length = 0x01020304, .stream_id = 0x0a0b0c0d, .type = 1, .flags = 0}));
}

TEST(FrameTest, HeaderRoundTripsEveryField) {
  for (uint32_t v : {0u, 1u, 0x7fu, 0x80u, 0xffu, 0x100u, 0xffffffffu}) {
    FrameHeader h{
        .length = v, .stream_id = ~v, .type = static_cast<uint8_t>(v), .flags = static_cast<uint8_t>(~v)};
    char buf[kHeaderSize];
    EncodeHeader(h, buf);
    EXPECT_EQ(DecodeHeader(buf), h);
  }
}

TEST(FrameTest, EncodeThenDecode) {
  auto f = EncodeFrame(7, MsgType::kResponse, "hello");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->size(), kHeaderSize + 5);
  FrameDecoder d;
  d.Feed(*f);
  Frame out;
  ASSERT_EQ(d.Next(&out), FrameDecoder::Event::kFrame);
  EXPECT_EQ(out.header.length, 5u);
  EXPECT_EQ(out.header.stream_id, 7u);
  EXPECT_EQ(out.header.type, 2);
  EXPECT_EQ(out.payload, "hello");
  EXPECT_EQ(d.Next(&out), FrameDecoder::Event::kNeedMore);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameTest, EncodeRefusesAnOversizePayload) {
  std::string big(kMaxPayload + 1, 'x');
  auto f = EncodeFrame(1, MsgType::kRequest, big);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_TRUE(EncodeFrame(1, MsgType::kRequest, std::string_view(big).substr(1)).ok());
  EXPECT_FALSE(EncodeFrame(1, MsgType::kRequest, "12345", 4).ok());
}

TEST(FrameTest, EmptyPayload) {
  FrameDecoder d;
  d.Feed(*EncodeFrame(3, MsgType::kRequest, ""));
  Frame out;
  ASSERT_EQ(d.Next(&out), FrameDecoder::Event::kFrame);
  EXPECT_TRUE(out.payload.empty());
  EXPECT_EQ(out.header.stream_id, 3u);
}

TEST(FrameTest, ByteByByte) {
  std::string wire = *EncodeFrame(1, MsgType::kRequest, "abc") + *EncodeFrame(3, MsgType::kRequest, "defgh");
  FrameDecoder d;
  std::vector<Frame> got;
  for (char c : wire) {
    d.Feed(std::string_view(&c, 1));
    Frame f;
    while (d.Next(&f) == FrameDecoder::Event::kFrame) got.push_back(f);
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].payload, "abc");
  EXPECT_EQ(got[1].payload, "defgh");
  EXPECT_EQ(got[1].header.stream_id, 3u);
}

TEST(FrameTest, ManyFramesInOneFeed) {
  std::string wire;
  for (uint32_t i = 0; i < 100; ++i) wire += *EncodeFrame(2 * i + 1, MsgType::kRequest, std::string(i, 'z'));
  FrameDecoder d;
  d.Feed(wire);
  Frame f;
  for (uint32_t i = 0; i < 100; ++i) {
    ASSERT_EQ(d.Next(&f), FrameDecoder::Event::kFrame);
    EXPECT_EQ(f.header.stream_id, 2 * i + 1);
    EXPECT_EQ(f.payload.size(), i);
  }
  EXPECT_EQ(d.Next(&f), FrameDecoder::Event::kNeedMore);
}

TEST(FrameTest, PartialHeaderAndPayloadNeedMore) {
  std::string wire = *EncodeFrame(9, MsgType::kRequest, "payload");
  FrameDecoder d;
  Frame f;
  d.Feed(wire.substr(0, 9));
  EXPECT_EQ(d.Next(&f), FrameDecoder::Event::kNeedMore);
  d.Feed(wire.substr(9, 5));
  EXPECT_EQ(d.Next(&f), FrameDecoder::Event::kNeedMore);
  EXPECT_EQ(d.buffered(), 14u);
  d.Feed(wire.substr(14));
  EXPECT_EQ(d.Next(&f), FrameDecoder::Event::kFrame);
  EXPECT_EQ(f.payload, "payload");
}

TEST(FrameTest, ExactlyTheLimitIsAccepted) {
  FrameDecoder d(16);
  d.Feed(Header(16, 1, 1) + std::string(16, 'a'));
  Frame f;
  EXPECT_EQ(d.Next(&f), FrameDecoder::Event::kFrame);
  EXPECT_EQ(f.payload.size(), 16u);
}

TEST(FrameTest, OversizeIsReportedFromTheHeaderAloneAndSticks) {
  FrameDecoder d;
  d.Feed(Header(kMaxPayload + 1, 5, 1));
  Frame f;
  ASSERT_EQ(d.Next(&f), FrameDecoder::Event::kTooLarge);
  EXPECT_EQ(f.header.length, kMaxPayload + 1);
  EXPECT_EQ(f.header.stream_id, 5u);
  EXPECT_TRUE(f.payload.empty());
  // Nothing after it is buffered or decoded.
  d.Feed(*EncodeFrame(7, MsgType::kRequest, "later"));
  EXPECT_EQ(d.buffered(), 0u);
  EXPECT_EQ(d.Next(&f), FrameDecoder::Event::kTooLarge);
  EXPECT_EQ(f.header.stream_id, 5u);
}

TEST(FrameTest, MaxLengthHeaderIsNotAllocated) {
  FrameDecoder d;
  d.Feed(Header(0xffffffff, 1, 1) + "tail");
  Frame f;
  EXPECT_EQ(d.Next(&f), FrameDecoder::Event::kTooLarge);
}

TEST(FrameTest, OversizeAfterAGoodFrame) {
  FrameDecoder d(8);
  d.Feed(*EncodeFrame(1, MsgType::kRequest, "ok", 8) + Header(9, 3, 1));
  Frame f;
  EXPECT_EQ(d.Next(&f), FrameDecoder::Event::kFrame);
  EXPECT_EQ(f.payload, "ok");
  EXPECT_EQ(d.Next(&f), FrameDecoder::Event::kTooLarge);
  EXPECT_EQ(f.header.stream_id, 3u);
}

TEST(FrameTest, TypesFlagsAndEvenIdsAreTheCallersBusiness) {
  // The codec frames any type, flags and stream id; the server and client
  // decide what they accept.
  FrameDecoder d;
  d.Feed(Header(1, 2, 0x7f, 0xff) + "x");
  Frame f;
  ASSERT_EQ(d.Next(&f), FrameDecoder::Event::kFrame);
  EXPECT_EQ(f.header.type, 0x7f);
  EXPECT_EQ(f.header.flags, 0xff);
  EXPECT_EQ(f.header.stream_id, 2u);
}

}  // namespace
}  // namespace banger::ttrpc
