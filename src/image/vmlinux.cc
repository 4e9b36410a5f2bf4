#include "image/vmlinux.h"

#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>

#include "base/fs.h"
#include "base/scope_guard.h"

namespace banger {
namespace {

// Setup-header fields (Documentation/arch/x86/boot.rst).
constexpr size_t kSetupSectsOffset = 0x1f1;
constexpr size_t kHeaderMagicOffset = 0x202;
constexpr size_t kVersionOffset = 0x206;
constexpr size_t kPayloadOffsetOffset = 0x248;
constexpr size_t kPayloadLengthOffset = 0x24c;
constexpr size_t kSetupHeaderEnd = 0x250;
constexpr size_t kSectorSize = 512;
// payload_offset/payload_length exist from boot protocol 2.08 on.
constexpr uint16_t kMinProtocolVersion = 0x0208;

// Decoders write into the output in steps of this size.
constexpr size_t kGrowStep = size_t{1} << 20;

// liblzma may allocate the dictionary the header asks for; kernels use at most
// 64 MiB (lzma -9), so this only stops absurd headers.
constexpr uint64_t kLzmaMemLimit = uint64_t{256} << 20;

// LZ4 legacy frame: magic, then [u32 LE compressed size][block] repeated,
// each block decompressing to at most 8 MiB.
constexpr uint32_t kLz4LegacyMagic = 0x184C2102;
constexpr int kLz4LegacyBlockMax = 8 << 20;

uint16_t LoadLe16(std::string_view s, size_t off) {
  return static_cast<uint16_t>(static_cast<uint8_t>(s[off]) | static_cast<uint8_t>(s[off + 1]) << 8);
}

uint32_t LoadLe32(std::string_view s, size_t off) {
  return static_cast<uint32_t>(LoadLe16(s, off)) | static_cast<uint32_t>(LoadLe16(s, off + 2)) << 16;
}

std::string HexBytes(std::string_view s, size_t n) {
  std::string out;
  char buf[4];
  for (size_t i = 0; i < std::min(n, s.size()); ++i) {
    std::snprintf(buf, sizeof buf, "%s%02x", i ? " " : "", static_cast<uint8_t>(s[i]));
    out += buf;
  }
  return out;
}

Error TooLarge(size_t max_output) {
  return Error::Invalid("output exceeds the limit of " + std::to_string(max_output) + " bytes");
}

// Extends `out` with up to kGrowStep bytes for a decoder to write into and
// returns how many. It never grows past max_output + 1, so a decoder filling
// that last byte proves the output is too large.
size_t GrowForWrite(std::string& out, size_t max_output) {
  size_t room = std::min(kGrowStep, max_output + 1 - out.size());
  out.resize(out.size() + room);
  return room;
}

// What one call of a streaming decoder did with the room it was given.
struct DecodeStep {
  size_t written;
  bool done;  // the stream ended
};

// Drives a streaming decoder: `step(dst, room)` decodes into `room` fresh
// bytes at `dst`, until it reports the stream's end or an error.
template <typename Step>
Result<std::string> DecodeInSteps(size_t max_output, Step step) {
  std::string out;
  for (;;) {
    if (out.size() > max_output) return TooLarge(max_output);
    size_t used = out.size();
    size_t room = GrowForWrite(out, max_output);
    BANGER_ASSIGN_OR_RETURN(DecodeStep r, step(out.data() + used, room));
    out.resize(used + r.written);
    if (r.done) break;
  }
  if (out.size() > max_output) return TooLarge(max_output);
  return out;
}

Result<std::string> InflateGzip(std::string_view in, size_t max_output) {
  z_stream zs{};
  // 16 + MAX_WBITS: expect a gzip header and trailer, not a raw zlib stream.
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return Error::Internal("inflateInit2 failed");
  ScopeGuard end([&zs] { inflateEnd(&zs); });
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  return DecodeInSteps(max_output, [&zs](char* dst, size_t room) -> Result<DecodeStep> {
    zs.next_out = reinterpret_cast<Bytef*>(dst);
    zs.avail_out = static_cast<uInt>(room);
    int rc = inflate(&zs, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) return DecodeStep{room - zs.avail_out, true};
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) return Error::Invalid("gzip stream is truncated");
    if (rc != Z_OK) {
      return Error::Invalid(std::string("corrupt gzip data: ") +
                            (zs.msg ? zs.msg : "error " + std::to_string(rc)));
    }
    return DecodeStep{room - zs.avail_out, false};
  });
}

Error LzmaError(lzma_ret rc) {
  switch (rc) {
    case LZMA_MEM_ERROR:
      return Error::Internal("out of memory");
    case LZMA_MEMLIMIT_ERROR:
      return Error::Invalid("stream needs more than " + std::to_string(kLzmaMemLimit >> 20) +
                            " MiB to decode");
    case LZMA_FORMAT_ERROR:
      return Error::Invalid("bad stream header");
    case LZMA_OPTIONS_ERROR:
      return Error::Invalid("unsupported stream options");
    case LZMA_DATA_ERROR:
      return Error::Invalid("corrupt data");
    case LZMA_BUF_ERROR:
      return Error::Invalid("stream is truncated");
    default:
      return Error::Internal("liblzma error " + std::to_string(static_cast<int>(rc)));
  }
}

// Handles both .xz streams and legacy .lzma ("alone") files.
Result<std::string> DecodeLzma(std::string_view in, bool xz, size_t max_output) {
  lzma_stream s = LZMA_STREAM_INIT;
  // Without LZMA_CONCATENATED the decoder stops after one stream, so the
  // kernel's appended size is never taken for the start of another.
  lzma_ret rc = xz ? lzma_stream_decoder(&s, kLzmaMemLimit, 0) : lzma_alone_decoder(&s, kLzmaMemLimit);
  if (rc != LZMA_OK) return LzmaError(rc);
  ScopeGuard end([&s] { lzma_end(&s); });
  s.next_in = reinterpret_cast<const uint8_t*>(in.data());
  s.avail_in = in.size();
  return DecodeInSteps(max_output, [&s](char* dst, size_t room) -> Result<DecodeStep> {
    s.next_out = reinterpret_cast<uint8_t*>(dst);
    s.avail_out = room;
    lzma_ret code = lzma_code(&s, LZMA_RUN);
    if (code != LZMA_OK && code != LZMA_STREAM_END) return LzmaError(code);
    return DecodeStep{room - s.avail_out, code == LZMA_STREAM_END};
  });
}

Result<std::string> DecodeZstd(std::string_view in, size_t max_output) {
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), &ZSTD_freeDCtx);
  if (!dctx) return Error::Internal("ZSTD_createDCtx failed");
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  return DecodeInSteps(max_output, [&](char* dst, size_t room) -> Result<DecodeStep> {
    ZSTD_outBuffer ob{dst, room, 0};
    size_t rc = ZSTD_decompressStream(dctx.get(), &ob, &ib);
    if (ZSTD_isError(rc)) return Error::Invalid(std::string("corrupt zstd data: ") + ZSTD_getErrorName(rc));
    // 0 means the frame is complete; anything after it is the kernel's size.
    if (rc == 0) return DecodeStep{ob.pos, true};
    // Room left over while input is exhausted: the decoder is waiting for
    // input that will never come.
    if (ib.pos == ib.size && ob.pos < room) return Error::Invalid("zstd stream is truncated");
    return DecodeStep{ob.pos, false};
  });
}

Result<std::string> DecodeLz4Legacy(std::string_view in, size_t max_output) {
  if (in.size() < 4 || LoadLe32(in, 0) != kLz4LegacyMagic) return Error::Invalid("no lz4 legacy magic");
  std::string out;
  size_t pos = 4;
  while (in.size() - pos >= 4) {
    uint32_t block_size = LoadLe32(in, pos);
    // A second magic would start another stream; the kernel writes one.
    if (block_size == kLz4LegacyMagic) break;
    // The kernel appends the uncompressed size after the last block; it reads
    // as a block size larger than what is left.
    if (block_size > in.size() - pos - 4) break;
    if (block_size > static_cast<uint32_t>(LZ4_compressBound(kLz4LegacyBlockMax))) {
      return Error::Invalid("lz4 block of " + std::to_string(block_size) + " bytes at offset " +
                            std::to_string(pos) + " is larger than the legacy format allows");
    }
    pos += 4;
    size_t used = out.size();
    out.resize(used + kLz4LegacyBlockMax);
    int n = LZ4_decompress_safe(in.data() + pos, out.data() + used, static_cast<int>(block_size),
                                kLz4LegacyBlockMax);
    if (n < 0) return Error::Invalid("corrupt lz4 block at offset " + std::to_string(pos - 4));
    out.resize(used + static_cast<size_t>(n));
    if (out.size() > max_output) return TooLarge(max_output);
    pos += block_size;
  }
  return out;
}

Result<std::string> Decode(KernelCompression compression, std::string_view payload, size_t max_output) {
  switch (compression) {
    case KernelCompression::kGzip:
      return InflateGzip(payload, max_output);
    case KernelCompression::kXz:
      return DecodeLzma(payload, /*xz=*/true, max_output);
    case KernelCompression::kLzma:
      return DecodeLzma(payload, /*xz=*/false, max_output);
    case KernelCompression::kZstd:
      return DecodeZstd(payload, max_output);
    case KernelCompression::kLz4:
      return DecodeLz4Legacy(payload, max_output);
    case KernelCompression::kNone:
      break;
  }
  if (payload.size() > max_output) return TooLarge(max_output);
  return std::string(payload);
}

}  // namespace

const char* KernelCompressionName(KernelCompression c) {
  switch (c) {
    case KernelCompression::kGzip:
      return "gzip";
    case KernelCompression::kXz:
      return "xz";
    case KernelCompression::kLzma:
      return "lzma";
    case KernelCompression::kZstd:
      return "zstd";
    case KernelCompression::kLz4:
      return "lz4";
    case KernelCompression::kNone:
      return "none";
  }
  return "none";
}

bool IsElf(std::string_view data) { return data.starts_with("\177ELF"); }

Result<KernelCompression> DetectCompression(std::string_view payload) {
  struct Magic {
    std::string_view bytes;
    KernelCompression compression;
  };
  static constexpr Magic kMagics[] = {
      {{"\x1f\x8b\x08", 3}, KernelCompression::kGzip},
      {{"\xfd\x37\x7a\x58\x5a\x00", 6}, KernelCompression::kXz},
      // lc=3 lp=0 pb=2 properties, then a dictionary size that is a multiple
      // of 64 KiB, as every lzma preset writes.
      {{"\x5d\x00\x00", 3}, KernelCompression::kLzma},
      {{"\x28\xb5\x2f\xfd", 4}, KernelCompression::kZstd},
      {{"\x02\x21\x4c\x18", 4}, KernelCompression::kLz4},
      {{"\177ELF", 4}, KernelCompression::kNone},
  };
  for (const Magic& m : kMagics) {
    if (payload.starts_with(m.bytes)) return m.compression;
  }
  std::string magic = "(magic " + HexBytes(payload, 4) + ")";
  // Named so the message says which kernel option to avoid.
  if (payload.starts_with("BZh")) return Error::Invalid("unsupported kernel compression bzip2 " + magic);
  if (payload.starts_with("\x89LZO")) return Error::Invalid("unsupported kernel compression lzo " + magic);
  return Error::Invalid("unsupported kernel compression " + magic);
}

Result<std::string_view> BzImagePayload(std::string_view bzimage) {
  if (bzimage.size() < kSetupHeaderEnd) {
    return Error::Invalid("not a bzImage: " + std::to_string(bzimage.size()) +
                          " bytes is too small for a setup header");
  }
  if (bzimage.substr(kHeaderMagicOffset, 4) != "HdrS") {
    return Error::Invalid("not a bzImage: no HdrS signature");
  }
  uint16_t version = LoadLe16(bzimage, kVersionOffset);
  if (version < kMinProtocolVersion) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%u.%02u", version >> 8, version & 0xff);
    return Error::Invalid(std::string("bzImage boot protocol ") + buf +
                          " is too old to describe its payload (need 2.08)");
  }
  size_t setup_sects = static_cast<uint8_t>(bzimage[kSetupSectsOffset]);
  if (setup_sects == 0) setup_sects = 4;  // the boot protocol's historical default
  size_t start = (setup_sects + 1) * kSectorSize + LoadLe32(bzimage, kPayloadOffsetOffset);
  size_t length = LoadLe32(bzimage, kPayloadLengthOffset);
  if (length == 0) return Error::Invalid("bzImage has an empty payload");
  if (start > bzimage.size()) {
    return Error::Invalid("payload starts at " + std::to_string(start) + ", past end of file (" +
                          std::to_string(bzimage.size()) + " bytes)");
  }
  if (length > bzimage.size() - start) {
    return Error::Invalid("payload extends past end of file (" + std::to_string(length) + " bytes at " +
                          std::to_string(start) + ", file is " + std::to_string(bzimage.size()) + " bytes)");
  }
  return bzimage.substr(start, length);
}

Result<std::string> DecompressPayload(KernelCompression compression, std::string_view payload,
                                      size_t max_output) {
  Result<std::string> out = Decode(compression, payload, max_output);
  if (!out.ok()) {
    return std::move(out).error().Wrap(std::string("decompressing ") + KernelCompressionName(compression) +
                                       " payload");
  }
  return out;
}

Result<std::string> ExtractVmlinux(std::string_view kernel_image) {
  if (IsElf(kernel_image)) return std::string(kernel_image);
  BANGER_ASSIGN_OR_RETURN(std::string_view payload, BzImagePayload(kernel_image));
  BANGER_ASSIGN_OR_RETURN(KernelCompression compression, DetectCompression(payload));
  BANGER_ASSIGN_OR_RETURN(std::string vmlinux, DecompressPayload(compression, payload));
  const char* name = KernelCompressionName(compression);
  if (!IsElf(vmlinux)) {
    return Error::Invalid(std::string("decompressed ") + name + " payload is not ELF (starts " +
                          HexBytes(vmlinux, 4) + ")");
  }
  // Every compressed x86 payload ends with the uncompressed size as a LE u32
  // (gzip's own trailer, or the one kbuild appends for the other formats);
  // the boot decompressor sizes its buffer from it. Checking it catches a
  // stream that ended early without the decoder noticing, such as an lz4
  // stream that lost its last block.
  if (compression != KernelCompression::kNone && payload.size() >= 4) {
    uint32_t recorded = LoadLe32(payload, payload.size() - 4);
    if (recorded != static_cast<uint32_t>(vmlinux.size())) {
      return Error::Invalid(std::string("decompressed ") + name + " payload is " +
                            std::to_string(vmlinux.size()) + " bytes but the kernel recorded " +
                            std::to_string(recorded) + " (truncated or corrupt payload)");
    }
  }
  return vmlinux;
}

Status ExtractVmlinuxFile(const std::string& in_path, const std::string& out_path) {
  BANGER_ASSIGN_OR_RETURN(std::string image, ReadFile(in_path));
  Result<std::string> vmlinux = ExtractVmlinux(image);
  if (!vmlinux.ok()) return std::move(vmlinux).error().Wrap("extracting vmlinux from " + in_path);
  Status st = WriteFileAtomic(out_path, *vmlinux, 0644);
  if (!st.ok()) return std::move(st).error().Wrap("writing " + out_path);
  return OkStatus();
}

}  // namespace banger
