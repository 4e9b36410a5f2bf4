#include "image/vmlinux.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <lz4.h>
#include <lzma.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>

#include <cstring>
#include <random>

#include "base/fs.h"

namespace banger {
namespace {

using ::testing::HasSubstr;

constexpr size_t kBodySize = 300 << 10;
constexpr size_t kLz4TestBlock = 64 << 10;  // small blocks so the body spans several

void PutLe16(std::string& s, size_t off, uint16_t v) {
  s[off] = static_cast<char>(v);
  s[off + 1] = static_cast<char>(v >> 8);
}

void PutLe32(std::string& s, size_t off, uint32_t v) {
  PutLe16(s, off, static_cast<uint16_t>(v));
  PutLe16(s, off + 2, static_cast<uint16_t>(v >> 16));
}

void AppendLe32(std::string& s, uint32_t v) {
  s.append(4, '\0');
  PutLe32(s, s.size() - 4, v);
}

// An ELF magic followed by a mix of repetitive text and noise, so every codec
// does real work and nothing compresses to almost nothing.
std::string FakeElf(size_t size = kBodySize) {
  std::string s("\177ELF\x02\x01\x01");
  std::mt19937 rng(42);
  while (s.size() < size) {
    if (rng() % 2) {
      s += "banger synthetic kernel text; ";
    } else {
      for (int i = 0; i < 24; ++i) s += static_cast<char>(rng());
    }
  }
  s.resize(size);
  return s;
}

// Runs a zlib or liblzma stream (set up, and ended, by the caller) over all
// of `in` at once into at most out_size bytes; `finish` is its deflate or
// lzma_code call with FINISH, which checks the answer.
template <typename Stream, typename Finish>
std::string CompressAll(Stream& s, const std::string& in, size_t out_size, Finish finish) {
  std::string out(out_size, '\0');
  s.next_in = reinterpret_cast<decltype(s.next_in)>(const_cast<char*>(in.data()));
  s.avail_in = static_cast<decltype(s.avail_in)>(in.size());
  s.next_out = reinterpret_cast<decltype(s.next_out)>(out.data());
  s.avail_out = static_cast<decltype(s.avail_out)>(out.size());
  finish(&s);
  out.resize(s.total_out);
  return out;
}

std::string Gzip(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out = CompressAll(zs, in, deflateBound(&zs, in.size()),
                                [](z_stream* s) { EXPECT_EQ(deflate(s, Z_FINISH), Z_STREAM_END); });
  deflateEnd(&zs);
  return out;
}

std::string Xz(const std::string& in) {
  std::string out(lzma_stream_buffer_bound(in.size()), '\0');
  size_t pos = 0;
  EXPECT_EQ(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, nullptr, reinterpret_cast<const uint8_t*>(in.data()),
                                    in.size(), reinterpret_cast<uint8_t*>(out.data()), &pos, out.size()),
            LZMA_OK);
  out.resize(pos);
  return out;
}

std::string LzmaAlone(const std::string& in) {
  lzma_options_lzma opts;
  EXPECT_FALSE(lzma_lzma_preset(&opts, 6));
  lzma_stream s = LZMA_STREAM_INIT;
  EXPECT_EQ(lzma_alone_encoder(&s, &opts), LZMA_OK);
  std::string out = CompressAll(s, in, in.size() + (1 << 16), [](lzma_stream* st) {
    EXPECT_EQ(lzma_code(st, LZMA_FINISH), LZMA_STREAM_END);
  });
  lzma_end(&s);
  return out;
}

std::string Zstd(const std::string& in) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

// The kernel's LZ4 legacy framing, with blocks of block_size input bytes.
std::string Lz4Legacy(const std::string& in, size_t block_size = kLz4TestBlock) {
  std::string out;
  AppendLe32(out, 0x184C2102);
  for (size_t pos = 0; pos < in.size(); pos += block_size) {
    int n = static_cast<int>(std::min(block_size, in.size() - pos));
    std::string block(LZ4_compressBound(n), '\0');
    int c = LZ4_compress_default(in.data() + pos, block.data(), n, static_cast<int>(block.size()));
    EXPECT_GT(c, 0);
    AppendLe32(out, static_cast<uint32_t>(c));
    out.append(block.data(), c);
  }
  return out;
}

// A payload as kbuild makes it: the compressed stream, then (except for gzip,
// whose trailer already holds it) the uncompressed size as a LE u32.
std::string KernelPayload(KernelCompression c, const std::string& body) {
  if (c == KernelCompression::kNone) return body;
  if (c == KernelCompression::kGzip) return Gzip(body);
  std::string out = c == KernelCompression::kXz     ? Xz(body)
                    : c == KernelCompression::kLzma ? LzmaAlone(body)
                    : c == KernelCompression::kZstd ? Zstd(body)
                                                    : Lz4Legacy(body);
  AppendLe32(out, static_cast<uint32_t>(body.size()));
  return out;
}

// A minimal bzImage: setup sectors holding only the header fields the
// extractor reads, padding up to payload_offset, the payload, then bytes
// standing in for the decompressor code that follows it in a real image.
std::string MakeBzImage(const std::string& payload, uint8_t setup_sects = 2,
                        uint32_t payload_offset = 0x3c0) {
  size_t setup_bytes = static_cast<size_t>((setup_sects == 0 ? 4 : setup_sects) + 1) * 512;
  std::string img(setup_bytes + payload_offset, '\0');
  img[0x1f1] = static_cast<char>(setup_sects);
  std::memcpy(&img[0x202], "HdrS", 4);
  PutLe16(img, 0x206, 0x020f);
  PutLe32(img, 0x248, payload_offset);
  PutLe32(img, 0x24c, static_cast<uint32_t>(payload.size()));
  img += payload;
  img.append(700, '\xcc');
  return img;
}

void ExpectInvalid(const Result<std::string>& r, const std::string& text) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_THAT(r.error().message(), HasSubstr(text));
}

class CompressionTest : public ::testing::TestWithParam<KernelCompression> {};

TEST_P(CompressionTest, ExtractsExactBody) {
  const std::string body = FakeElf();
  const std::string payload = KernelPayload(GetParam(), body);
  auto detected = DetectCompression(payload);
  ASSERT_TRUE(detected.ok()) << detected.error().message();
  EXPECT_EQ(*detected, GetParam());

  auto vmlinux = ExtractVmlinux(MakeBzImage(payload));
  ASSERT_TRUE(vmlinux.ok()) << vmlinux.error().message();
  EXPECT_TRUE(*vmlinux == body);
}

TEST_P(CompressionTest, RefusesOutputOverLimit) {
  const std::string payload = KernelPayload(GetParam(), FakeElf());
  ExpectInvalid(DecompressPayload(GetParam(), payload, 64 << 10), "exceeds the limit of 65536 bytes");
}

TEST_P(CompressionTest, AcceptsOutputExactlyAtLimit) {
  const std::string body = FakeElf();
  auto out = DecompressPayload(GetParam(), KernelPayload(GetParam(), body), body.size());
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ(out->size(), body.size());
}

INSTANTIATE_TEST_SUITE_P(AllFormats, CompressionTest,
                         ::testing::Values(KernelCompression::kGzip, KernelCompression::kXz,
                                           KernelCompression::kLzma, KernelCompression::kZstd,
                                           KernelCompression::kLz4, KernelCompression::kNone),
                         [](const auto& info) { return std::string(KernelCompressionName(info.param)); });

TEST(Lz4LegacyTest, FixtureSpansSeveralBlocks) {
  static_assert(kBodySize > 2 * kLz4TestBlock);
  auto out = DecompressPayload(KernelCompression::kLz4, Lz4Legacy(FakeElf()));
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_TRUE(*out == FakeElf());
}

TEST(Lz4LegacyTest, StopsAtSecondMagic) {
  const std::string body = FakeElf();
  std::string payload = Lz4Legacy(body);
  payload += Lz4Legacy("not part of the kernel");
  auto out = DecompressPayload(KernelCompression::kLz4, payload);
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_TRUE(*out == body);
}

TEST(Lz4LegacyTest, CorruptBlockIsAnError) {
  std::string payload = Lz4Legacy(FakeElf());
  // Point the first block's match offsets at garbage.
  for (size_t i = 20; i < 200; ++i) payload[i] = '\xff';
  ExpectInvalid(DecompressPayload(KernelCompression::kLz4, payload), "corrupt lz4 block at offset 4");
}

TEST(ExtractVmlinuxTest, SetupSectsZeroMeansFour) {
  const std::string body = FakeElf();
  auto vmlinux = ExtractVmlinux(MakeBzImage(KernelPayload(KernelCompression::kGzip, body), 0));
  ASSERT_TRUE(vmlinux.ok()) << vmlinux.error().message();
  EXPECT_TRUE(*vmlinux == body);
}

TEST(ExtractVmlinuxTest, ElfPassesThrough) {
  const std::string elf = FakeElf(4096);
  auto out = ExtractVmlinux(elf);
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ(*out, elf);
}

TEST(ExtractVmlinuxTest, TooSmallForHeader) {
  ExpectInvalid(ExtractVmlinux("MZ"), "too small for a setup header");
}

// A good bzImage spoiled one way at a time: no HdrS signature, an old boot
// protocol, an empty payload, a payload offset past the end, a truncated file.
TEST(ExtractVmlinuxTest, BadHeadersAndTruncationAreNamed) {
  struct Case {
    KernelCompression compression;
    void (*spoil)(std::string& img);
    const char* error;
  };
  const Case cases[] = {
      {KernelCompression::kGzip, [](std::string& img) { img[0x202] = 'X'; },
       "not a bzImage: no HdrS signature"},
      {KernelCompression::kGzip, [](std::string& img) { PutLe16(img, 0x206, 0x0206); },
       "boot protocol 2.06 is too old"},
      {KernelCompression::kGzip, [](std::string& img) { PutLe32(img, 0x24c, 0); }, "empty payload"},
      {KernelCompression::kGzip, [](std::string& img) { PutLe32(img, 0x248, 0x7fffffff); },
       "past end of file"},
      {KernelCompression::kXz, [](std::string& img) { img.resize(img.size() / 2); },
       "payload extends past end of file"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.error);
    std::string img = MakeBzImage(KernelPayload(c.compression, FakeElf()));
    c.spoil(img);
    ExpectInvalid(ExtractVmlinux(img), c.error);
  }
}

TEST(ExtractVmlinuxTest, UnknownMagic) {
  ExpectInvalid(ExtractVmlinux(MakeBzImage("\x12\x34\x56\x78 rest")),
                "unsupported kernel compression (magic 12 34 56 78)");
}

TEST(ExtractVmlinuxTest, Bzip2IsNamed) {
  ExpectInvalid(ExtractVmlinux(MakeBzImage("BZh91AY&SY")), "unsupported kernel compression bzip2");
}

TEST(ExtractVmlinuxTest, NonElfResult) {
  const std::string body(kBodySize, 'k');
  ExpectInvalid(ExtractVmlinux(MakeBzImage(KernelPayload(KernelCompression::kZstd, body))),
                "decompressed zstd payload is not ELF (starts 6b 6b 6b 6b)");
}

TEST(ExtractVmlinuxTest, CorruptGzip) {
  std::string payload = KernelPayload(KernelCompression::kGzip, FakeElf());
  for (size_t i = 100; i < 400; ++i) payload[i] = static_cast<char>(i * 7);
  ExpectInvalid(ExtractVmlinux(MakeBzImage(payload)), "decompressing gzip payload: corrupt gzip data");
}

TEST(ExtractVmlinuxTest, TruncatedStreams) {
  for (auto c : {KernelCompression::kGzip, KernelCompression::kXz, KernelCompression::kLzma,
                 KernelCompression::kZstd}) {
    std::string payload = KernelPayload(c, FakeElf());
    payload.resize(payload.size() / 2);
    auto out = DecompressPayload(c, payload);
    ASSERT_FALSE(out.ok()) << KernelCompressionName(c);
    EXPECT_EQ(out.error().kind(), ErrorKind::kInvalidArgument);
    EXPECT_THAT(out.error().message(), HasSubstr("truncated")) << out.error().message();
  }
}

// A lost final lz4 block is indistinguishable from the end of the stream;
// the size kbuild appended still catches it.
TEST(ExtractVmlinuxTest, MissingLz4BlockCaughtBySizeTrailer) {
  const std::string body = FakeElf();
  std::string payload = Lz4Legacy(body.substr(0, body.size() - kLz4TestBlock / 2));
  AppendLe32(payload, static_cast<uint32_t>(body.size()));
  ExpectInvalid(ExtractVmlinux(MakeBzImage(payload)), "but the kernel recorded 307200 (truncated or corrupt");
}

class ExtractFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "vmlinux_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)RemoveAll(dir_); }
  std::string dir_;
};

TEST_F(ExtractFileTest, WritesElfWithMode0644) {
  const std::string body = FakeElf();
  ASSERT_TRUE(
      WriteFileAtomic(dir_ + "/vmlinuz", MakeBzImage(KernelPayload(KernelCompression::kLz4, body))).ok());
  mode_t old_umask = umask(022);
  Status st = ExtractVmlinuxFile(dir_ + "/vmlinuz", dir_ + "/vmlinux");
  umask(old_umask);
  ASSERT_TRUE(st.ok()) << st.error().message();
  auto written = ReadFile(dir_ + "/vmlinux");
  ASSERT_TRUE(written.ok());
  EXPECT_TRUE(*written == body);
  struct stat sb;
  ASSERT_EQ(stat((dir_ + "/vmlinux").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 07777, 0644u);
}

TEST_F(ExtractFileTest, ErrorsNameTheInput) {
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/junk", std::string(4096, 'j')).ok());
  Status st = ExtractVmlinuxFile(dir_ + "/junk", dir_ + "/vmlinux");
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message(), HasSubstr("extracting vmlinux from " + dir_ + "/junk: not a bzImage"));
  EXPECT_FALSE(PathExists(dir_ + "/vmlinux"));

  st = ExtractVmlinuxFile(dir_ + "/missing", dir_ + "/vmlinux");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kNotFound);
  EXPECT_THAT(st.error().message(), HasSubstr(dir_ + "/missing"));
}

}  // namespace
}  // namespace banger
