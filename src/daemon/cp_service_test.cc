#include "daemon/cp_service.h"

#include <gtest/gtest.h>

#include "daemon/cp_tar.h"

namespace banger {
namespace {

TEST(CpServiceTest, ErrorLines) {
  auto e = ParseCpErrorLine("noise\nbanger-cp error=no_space writing /root/x: No space left on device\n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "no_space");
  EXPECT_EQ(e->message, "writing /root/x: No space left on device");
  EXPECT_FALSE(ParseCpErrorLine("banger-cp ok sha256=00 bytes=1\n"));
  // An unknown code is io; control bytes never reach the one line.
  e = ParseCpErrorLine("banger-cp error=weird bad\x1b[31m thing");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "io");
  EXPECT_EQ(e->message.find('\x1b'), std::string::npos);
}

TEST(CpServiceTest, OkLines) {
  std::string hex(64, 'a');
  auto ok = ParseCpOkLine("x\nbanger-cp ok sha256=" + hex + " bytes=1234 entries=7\n");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->sha256, hex);
  EXPECT_EQ(ok->bytes, 1234);
  EXPECT_EQ(ok->entries, 7);
  ok = ParseCpOkLine("banger-cp ok sha256=" + hex + " bytes=5");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->entries, -1);
  EXPECT_FALSE(ParseCpOkLine("banger-cp ok sha256=" + std::string(64, 'G') + " bytes=5"));
  EXPECT_FALSE(ParseCpOkLine("banger-cp ok sha256=" + hex + " bytes=-5"));
  EXPECT_FALSE(ParseCpOkLine("banger-cp ok bytes=5"));
}

TEST(CpServiceTest, StatusMapping) {
  EXPECT_EQ(CpHttpStatus("not_found"), 404);
  EXPECT_EQ(CpHttpStatus("permission"), 403);
  EXPECT_EQ(CpHttpStatus("no_space"), 507);
  EXPECT_EQ(CpHttpStatus("read_only"), 409);
  EXPECT_EQ(CpHttpStatus("not_dir"), 409);
  EXPECT_EQ(CpHttpStatus("exists"), 409);
  EXPECT_EQ(CpHttpStatus("invalid"), 400);
  EXPECT_EQ(CpHttpStatus("too_large"), 413);
  EXPECT_EQ(CpHttpStatus("io"), 500);
  EXPECT_EQ(CpHttpStatus("anything"), 500);
  EXPECT_EQ(CpErrorKind("not_found"), ErrorKind::kNotFound);
  EXPECT_EQ(CpErrorKind("no_space"), ErrorKind::kConflict);
  EXPECT_EQ(CpErrorKind("io"), ErrorKind::kInternal);
}

TEST(CpServiceTest, Validation) {
  EXPECT_TRUE(ValidateChown("0:0").ok());
  EXPECT_FALSE(ValidateChown("4294967295:0").ok());
  EXPECT_FALSE(ValidateChown("x").ok());
  EXPECT_TRUE(ValidateGuestCpPath("/root").ok());
  EXPECT_FALSE(ValidateGuestCpPath("root").ok());
  EXPECT_FALSE(ValidateGuestCpPath(std::string("/a\0b", 4)).ok());
  EXPECT_FALSE(ValidateGuestCpPath("/" + std::string(5000, 'a')).ok());
}

TEST(CpServiceTest, FramesCarryTheBytesAndTheirDigest) {
  std::string wire;
  CpFrameWriter w([&](std::string_view f) {
    wire.append(f);
    return OkStatus();
  });
  std::string big(CpFrameWriter::kMaxFrame + 10, 'z');
  ASSERT_TRUE(w.Write("abc").ok());
  ASSERT_TRUE(w.Write(big).ok());
  auto hex = w.Finish();
  ASSERT_TRUE(hex.ok());
  EXPECT_EQ(*hex, Sha256::Hex("abc" + big));
  EXPECT_EQ(w.bytes(), static_cast<int64_t>(3 + big.size()));
  // Decode: frames of 1..1 MiB, then [0][32-byte digest].
  size_t pos = 0;
  std::string got;
  for (;;) {
    ASSERT_LE(pos + 4, wire.size());
    uint32_t n = (uint32_t{static_cast<uint8_t>(wire[pos])} << 24) |
                 (uint32_t{static_cast<uint8_t>(wire[pos + 1])} << 16) |
                 (uint32_t{static_cast<uint8_t>(wire[pos + 2])} << 8) |
                 uint32_t{static_cast<uint8_t>(wire[pos + 3])};
    pos += 4;
    if (n == 0) break;
    ASSERT_LE(n, CpFrameWriter::kMaxFrame);
    got.append(wire, pos, n);
    pos += n;
  }
  EXPECT_EQ(got, "abc" + big);
  ASSERT_EQ(wire.size() - pos, 32U);
  Sha256 s;
  s.Update(got);
  auto d = s.Finish();
  EXPECT_EQ(wire.substr(pos), std::string(reinterpret_cast<const char*>(d.data()), 32));
}

TEST(CpServiceTest, AFailingOutputStopsTheWriter) {
  int calls = 0;
  CpFrameWriter w([&](std::string_view) -> Status {
    ++calls;
    return Error::Conflict("writing stdin: the command has exited");
  });
  EXPECT_FALSE(w.Write(std::string(3 << 20, 'a')).ok());
  EXPECT_EQ(calls, 1);
}

TEST(CpServiceTest, SingleFileTarRoundTrip) {
  std::string data(100000, 'q');
  auto tar = SingleFileTar("f.bin", data, 0600);
  ASSERT_TRUE(tar.ok()) << tar.error().message();
  auto back = SingleFileFromTar(*tar, 1 << 20);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, data);
  EXPECT_FALSE(SingleFileFromTar(*tar, 10).ok());
  EXPECT_FALSE(SingleFileTar("a/b", "x", 0644).ok());
  EXPECT_FALSE(SingleFileFromTar("not a tar", 10).ok());
}

}  // namespace
}  // namespace banger
