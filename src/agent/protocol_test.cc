#include "agent/protocol.h"

#include <gtest/gtest.h>

#include <random>

namespace banger::agent {
namespace {

// Encodes m on `channel`, decodes the frame and the payload again.
template <typename M>
M RoundTrip(const M& m, uint32_t channel = 7, uint8_t flags = kFlagFin) {
  std::string wire;
  AppendMessage(&wire, channel, m, flags);
  FrameDecoder dec;
  dec.Feed(wire);
  auto f = dec.Next();
  EXPECT_TRUE(f.has_value());
  if (!f) return {};
  EXPECT_EQ(f->type, static_cast<uint8_t>(M::kType));
  EXPECT_EQ(f->channel, channel);
  EXPECT_EQ(f->flags, flags);
  EXPECT_FALSE(dec.Next().has_value());
  EXPECT_EQ(dec.TakeSkipped(), 0u);
  auto back = Parse<M>(*f);
  EXPECT_TRUE(back.has_value());
  return back.value_or(M{});
}

TEST(ProtocolTest, Crc32cKnownValue) {
  // The standard check value for CRC-32C.
  const std::string s = "123456789";
  EXPECT_EQ(Crc32c(reinterpret_cast<const uint8_t*>(s.data()), s.size()), 0xE3069283u);
}

TEST(ProtocolTest, HeaderLayout) {
  std::string wire;
  AppendFrame(&wire, MsgType::kWindow, kFlagRst, 0x01020304, "xyz");
  ASSERT_EQ(wire.size(), kHeaderSize + 3);
  EXPECT_EQ(static_cast<uint8_t>(wire[0]), 0x4D);
  EXPECT_EQ(static_cast<uint8_t>(wire[1]), 0x41);
  EXPECT_EQ(static_cast<uint8_t>(wire[2]), 0x21);
  EXPECT_EQ(static_cast<uint8_t>(wire[3]), kFlagRst);
  EXPECT_EQ(wire.substr(4, 4), std::string("\x01\x02\x03\x04", 4));
  EXPECT_EQ(wire.substr(8, 4), std::string("\0\0\0\x03", 4));
  uint32_t crc = Crc32c(reinterpret_cast<const uint8_t*>(wire.data()), 12);
  std::string be = {static_cast<char>(crc >> 24), static_cast<char>(crc >> 16), static_cast<char>(crc >> 8),
                    static_cast<char>(crc)};
  EXPECT_EQ(wire.substr(12, 4), be);
  EXPECT_EQ(wire.substr(16), "xyz");
}

TEST(ProtocolTest, EveryMessageRoundTrips) {
  Hello hello{.nonce = 0x1122334455667788, .major = 1, .minor = 3, .features = 5, .max_frame = 4096};
  EXPECT_EQ(RoundTrip(hello, 0), hello);
  HelloAck ack{.nonce = 9,
               .major = 1,
               .minor = 0,
               .features = 2,
               .max_frame = 65536,
               .build = "banger-agent 0.1",
               .boot_id = "8c0c2b5e-...",
               .hostname = "vm1"};
  EXPECT_EQ(RoundTrip(ack, 0), ack);
  EXPECT_EQ(RoundTrip(Ping{.id = 42}, 0), Ping{.id = 42});
  EXPECT_EQ(RoundTrip(Pong{.id = 43}, 0), Pong{.id = 43});
  GoAway bye{.nonce = 1, .major = 1, .minor = 0, .reason = "version"};
  EXPECT_EQ(RoundTrip(bye, 0), bye);
  ErrorMsg err{.code = 1, .channel = 5, .message = "unsupported"};
  EXPECT_EQ(RoundTrip(err, 0), err);
  Open open{.argv = {"sh", "-c", "echo hi"},
            .env = {"A=1", "B="},
            .cwd = "/tmp",
            .tty = true,
            .rows = 50,
            .cols = 132,
            .window = 12345,
            .user = "app:staff"};
  EXPECT_EQ(RoundTrip(open), open);
  EXPECT_EQ(RoundTrip(OpenOk{.pid = 77, .window = 100}), (OpenOk{.pid = 77, .window = 100}));
  OpenFail fail{.err = 2, .stage = "cwd", .message = "No such file or directory"};
  EXPECT_EQ(RoundTrip(fail), fail);
  Data data{.stream = Stream::kStderr, .bytes = std::string("a\0b", 3)};
  EXPECT_EQ(RoundTrip(data), data);
  EXPECT_EQ(RoundTrip(Window{.delta = 131072}), Window{.delta = 131072});
  EXPECT_EQ(RoundTrip(Eof{.stream = Stream::kStdin}), Eof{.stream = Stream::kStdin});
  EXPECT_EQ(RoundTrip(SignalMsg{.signo = 15}), SignalMsg{.signo = 15});
  EXPECT_EQ(RoundTrip(Resize{.rows = 30, .cols = 100}), (Resize{.rows = 30, .cols = 100}));
  Exit killed{.signaled = true, .code = 0, .signo = 9, .core = true};
  EXPECT_EQ(RoundTrip(killed), killed);
  Exit normal{.signaled = false, .code = 7};
  EXPECT_EQ(RoundTrip(normal), normal);
  EXPECT_EQ(RoundTrip(Close{}), Close{});
}

// The exact bytes of every message, pinned: the host and the guest agent are
// built separately, so an encoding change must be deliberate (and versioned).
TEST(ProtocolTest, WireBytesAreStable) {
  auto hex = [](const std::string& s) {
    static const char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
    return out;
  };
  EXPECT_EQ(hex(Encode(Hello{
                .nonce = 0x1122334455667788, .major = 1, .minor = 3, .features = 5, .max_frame = 4096})),
            "0001000000081122334455667788000200000002000100030000000200030004"
            "00000008000000000000000500050000000400001000");
  EXPECT_EQ(hex(Encode(HelloAck{.nonce = 9,
                                .minor = 0,
                                .features = 2,
                                .max_frame = 65536,
                                .build = "b",
                                .boot_id = "id",
                                .hostname = "vm1",
                                .vm_id = "ab"})),
            "0001000000080000000000000009000200000002000100030000000200000004"
            "0000000800000000000000020005000000040001000000060000000162000700"
            "0000026964000800000003766d31"
            "0020000000026162");
  EXPECT_EQ(hex(Encode(Ping{.id = 42})), "000900000008000000000000002a");
  EXPECT_EQ(hex(Encode(Pong{.id = 43})), "000900000008000000000000002b");
  EXPECT_EQ(hex(Encode(GoAway{.nonce = 1, .major = 1, .minor = 0, .reason = "version"})),
            "000100000008000000000000000100020000000200010003000000020000000a"
            "0000000776657273696f6e");
  EXPECT_EQ(hex(Encode(ErrorMsg{.code = 1, .channel = 5, .message = "unsupported"})),
            "000b0000000400000001000c0000000400000005000d0000000b756e73757070"
            "6f72746564");
  EXPECT_EQ(hex(Encode(Open{.argv = {"sh", "-c"},
                            .env = {"A=1"},
                            .cwd = "/tmp",
                            .tty = true,
                            .rows = 50,
                            .cols = 132,
                            .window = 12345})),
            "0010000000010100110000000273680011000000022d63001200000003413d31"
            "0013000000042f746d7000140000000101001500000002003200160000000200"
            "8400170000000400003039"
            "002100000000");
  // 1.1: the user (tag 0x21); a 1.0 agent skips it as an unknown tag.
  EXPECT_EQ(hex(Encode(Open{.argv = {"id"}, .user = "app"})),
            "0010000000010100110000000269640013000000000014000000010000150000"
            "00020018001600000002005000170000000400040000002100000003617070");
  EXPECT_EQ(hex(Encode(OpenOk{.pid = 77, .window = 100})), "0018000000040000004d00170000000400000064");
  EXPECT_EQ(hex(Encode(OpenFail{.err = 2, .stage = "cwd", .message = "No"})),
            "00190000000400000002001a00000003637764000d000000024e6f");
  EXPECT_EQ(hex(Encode(Data{.stream = Stream::kStderr, .bytes = std::string("a\0b", 3)})), "02610062");
  EXPECT_EQ(hex(Encode(Window{.delta = 131072})), "001c0000000400020000");
  EXPECT_EQ(hex(Encode(Eof{.stream = Stream::kStdin})), "001b0000000100");
  EXPECT_EQ(hex(Encode(SignalMsg{.signo = 15})), "001d000000040000000f");
  EXPECT_EQ(hex(Encode(Resize{.rows = 30, .cols = 100})), "001500000002001e0016000000020064");
  EXPECT_EQ(hex(Encode(Exit{.signaled = true, .code = 0, .signo = 9, .core = true})),
            "001e0000000101000b0000000400000000001d0000000400000009001f000000"
            "0101");
  EXPECT_EQ(Encode(Close{}), "");
}

TEST(ProtocolTest, DataFrameFastPathMatchesEncode) {
  std::string a, b;
  AppendDataFrame(&a, 3, Stream::kPty, "hello");
  AppendMessage(&b, 3, Data{.stream = Stream::kPty, .bytes = "hello"});
  EXPECT_EQ(a, b);
}

TEST(ProtocolTest, DecodesFromOneByteChunks) {
  std::string wire;
  std::vector<std::string> payloads;
  for (int i = 0; i < 20; ++i) {
    payloads.emplace_back(i * 37, static_cast<char>('a' + i));
    AppendDataFrame(&wire, 2 * i + 1, Stream::kStdout, payloads.back());
    AppendMessage(&wire, 2 * i + 1, Window{.delta = static_cast<uint32_t>(i)});
  }
  FrameDecoder dec;
  std::vector<Frame> frames;
  for (char ch : wire) {
    dec.Feed(std::string_view(&ch, 1));
    while (auto f = dec.Next()) frames.push_back(std::move(*f));
  }
  EXPECT_EQ(dec.TakeSkipped(), 0u);
  ASSERT_EQ(frames.size(), 40u);
  for (int i = 0; i < 20; ++i) {
    auto d = Parse<Data>(frames[2 * i]);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->bytes, payloads[i]);
    EXPECT_EQ(frames[2 * i].channel, static_cast<uint32_t>(2 * i + 1));
    auto w = Parse<Window>(frames[2 * i + 1]);
    ASSERT_TRUE(w);
    EXPECT_EQ(w->delta, static_cast<uint32_t>(i));
  }
  EXPECT_EQ(dec.buffered(), 0u);
}

TEST(ProtocolTest, GarbageBeforeAFrameIsSkipped) {
  // Garbage that includes the magic bytes, and a truncated stale header.
  std::string stale;
  AppendMessage(&stale, 9, Ping{.id = 1});
  std::string garbage = "\xff\xffMA\x01junk" + stale.substr(0, 10) + "MAMAMA";
  std::string wire = garbage;
  AppendMessage(&wire, 0, Hello{.nonce = 99});
  FrameDecoder dec;
  dec.Feed(wire);
  auto f = dec.Next();
  ASSERT_TRUE(f);
  auto hello = Parse<Hello>(*f);
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->nonce, 99u);
  EXPECT_EQ(dec.TakeSkipped(), garbage.size());
  EXPECT_FALSE(dec.Next());
}

TEST(ProtocolTest, RandomGarbageNeverYieldsAFrameAndIsDropped) {
  std::mt19937 rng(1);
  std::string junk(100000, '\0');
  for (auto& ch : junk) ch = static_cast<char>(rng());
  FrameDecoder dec;
  dec.Feed(junk);
  EXPECT_FALSE(dec.Next());
  EXPECT_LT(dec.buffered(), kHeaderSize);
  EXPECT_GT(dec.TakeSkipped(), junk.size() - kHeaderSize);
}

TEST(ProtocolTest, BadCrcIsDetected) {
  std::string wire;
  AppendMessage(&wire, 1, Window{.delta = 5});
  std::string good = wire;
  wire[5] ^= 0x10;  // the channel changes, so the CRC no longer matches
  FrameDecoder dec;
  dec.Feed(wire);
  EXPECT_FALSE(dec.Next());
  EXPECT_GT(dec.TakeSkipped(), 0u);
  dec.Feed(good);
  auto f = dec.Next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->channel, 1u);
}

TEST(ProtocolTest, OversizeLengthIsRejected) {
  std::string big;
  AppendFrame(&big, MsgType::kData, 0, 1, std::string(5000, 'x'));
  std::string small;
  AppendMessage(&small, 1, Window{.delta = 1});
  FrameDecoder dec(4096);
  dec.Feed(big + small);
  auto f = dec.Next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, static_cast<uint8_t>(MsgType::kWindow));
  EXPECT_GE(dec.TakeSkipped(), big.size());
}

TEST(ProtocolTest, UnknownTlvTagsAreSkipped) {
  std::string payload = TlvWriter().Bytes(0x7777, "future").U64(0x7778, 1).Take();
  payload += Encode(Exit{.code = 3});
  payload += TlvWriter().Bytes(0x7779, "").Take();
  auto x = Decode<Exit>(payload);
  ASSERT_TRUE(x);
  EXPECT_EQ(x->code, 3u);
  EXPECT_FALSE(x->signaled);
}

TEST(ProtocolTest, WiderOrNarrowerIntegersDecode) {
  // A field may change width in a later version; any 1..8 bytes decode.
  auto w = Decode<Window>(TlvWriter().U64(0x1C, 70000).Take());
  ASSERT_TRUE(w);
  EXPECT_EQ(w->delta, 70000u);
  auto s = Decode<SignalMsg>(TlvWriter().U8(0x1D, 9).Take());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->signo, 9u);
  // Too large for the field is malformed.
  EXPECT_FALSE(Decode<Resize>(TlvWriter().U32(0x15, 70000).Take()));
}

TEST(ProtocolTest, TruncatedTlvIsMalformed) {
  Open open;
  open.argv = {"ls"};
  std::string payload = Encode(open);
  EXPECT_FALSE(Decode<Open>(payload.substr(0, payload.size() - 1)));
  EXPECT_FALSE(Decode<Data>(""));
  EXPECT_TRUE(Decode<Close>(""));
}

TEST(ProtocolTest, ResetDropsPartialInput) {
  std::string wire;
  AppendMessage(&wire, 0, Hello{.nonce = 1});
  FrameDecoder dec;
  dec.Feed(wire.substr(0, 20));
  EXPECT_FALSE(dec.Next());
  dec.Reset();
  AppendMessage(&wire, 0, Hello{.nonce = 2});
  dec.Feed(wire.substr(wire.size() / 2));
  auto f = dec.Next();
  ASSERT_TRUE(f);
  EXPECT_EQ(Parse<Hello>(*f)->nonce, 2u);
}

// What a hostile peer may send: random payloads, and random TLV fields with
// known tags, never crash a decoder; a field too wide for its member is
// malformed rather than truncated.
template <typename... M>
void DecodeAll(std::string_view payload) {
  (void)(Decode<M>(payload), ...);
}

TEST(ProtocolTest, RandomPayloadsNeverCrashAnyDecoder) {
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::string payload;
    if (i % 2 == 0) {
      payload.resize(rng() % 64);
      for (auto& c : payload) c = static_cast<char>(rng());
    } else {
      TlvWriter w;
      for (int f = 0, n = static_cast<int>(rng() % 6); f < n; ++f) {
        uint16_t t = static_cast<uint16_t>(1 + rng() % 0x20);
        if (rng() % 2) {
          w.Uint(t, (static_cast<uint64_t>(rng()) << 32) | rng(), 1 + static_cast<int>(rng() % 8));
        } else {
          w.Bytes(t, std::string(rng() % 5, 'x'));
        }
      }
      payload = w.Take();
    }
    DecodeAll<Hello, HelloAck, Ping, Pong, GoAway, ErrorMsg, Open, OpenOk, OpenFail, Data, Window, Eof,
              SignalMsg, Resize, Exit, Close>(payload);
  }
  EXPECT_FALSE(Decode<Exit>(TlvWriter().U16(0x1E, 256).Take())) << "a bool wider than its byte";
  EXPECT_FALSE(Decode<Hello>(TlvWriter().Bytes(0x01, "").Take())) << "an empty integer";
  EXPECT_FALSE(Decode<Hello>(TlvWriter().Bytes(0x01, std::string(9, '\1')).Take())) << "a 9-byte integer";
}

TEST(ProtocolTest, TypeNames) {
  EXPECT_EQ(MsgTypeName(0x25), "EXIT");
  EXPECT_EQ(MsgTypeName(0x7f), "0x7f");
}

}  // namespace
}  // namespace banger::agent
