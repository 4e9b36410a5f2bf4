// Turning a distribution kernel (an x86 bzImage such as Debian's
// /boot/vmlinuz-*) into the uncompressed ELF vmlinux that released
// Firecracker versions require. QEMU boots either form.
//
// A bzImage is real-mode setup code followed by a small decompressor whose
// payload is the compressed vmlinux (plus relocations) with its uncompressed
// size appended as a little-endian u32. The setup header says where the
// payload lies; its first bytes say how it is compressed.
//
// All functions are pure (apart from ExtractVmlinuxFile's file I/O) and safe
// to call from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.h"

namespace banger {

enum class KernelCompression { kGzip, kXz, kLzma, kZstd, kLz4, kNone };

// "gzip", "xz", "lzma", "zstd", "lz4" or "none".
const char* KernelCompressionName(KernelCompression c);

// Decompressing more than this is refused: a real vmlinux is ~50-100 MiB, so
// anything larger is a corrupt or hostile payload.
inline constexpr size_t kMaxVmlinuxBytes = size_t{512} << 20;

// True if data starts with the ELF magic "\x7fELF".
bool IsElf(std::string_view data);

// Identifies a bzImage payload by its leading magic bytes. kNone means the
// payload is already an ELF (a kernel built with CONFIG_KERNEL_UNCOMPRESSED).
// Formats the kernel supports but we do not (bzip2, lzo) are errors.
Result<KernelCompression> DetectCompression(std::string_view payload);

// The compressed payload inside a bzImage, located via its setup header.
Result<std::string_view> BzImagePayload(std::string_view bzimage);

// Decompresses one kernel payload of the given format. Bytes after the end of
// the compressed stream (the kernel's appended size) are ignored. Fails if the
// output would exceed max_output bytes.
Result<std::string> DecompressPayload(KernelCompression compression, std::string_view payload,
                                      size_t max_output = kMaxVmlinuxBytes);

// Returns the uncompressed ELF vmlinux inside a bzImage (or the input
// unchanged if it already is ELF). The result is checked to be ELF and, for
// compressed payloads, to have the size the kernel build recorded.
Result<std::string> ExtractVmlinux(std::string_view kernel_image);

// ExtractVmlinux from in_path to out_path, written atomically with mode 0644.
Status ExtractVmlinuxFile(const std::string& in_path, const std::string& out_path);

}  // namespace banger
