// The vmlinux extractor (image/vmlinux.h) against hostile kernel images (a
// user imports or builds an image from any file): the whole input as a
// kernel image, and the input as a raw payload of every compression format.
// Invariants: nothing crashes; no output beyond the size asked for; what
// ExtractVmlinux returns is ELF.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "image/vmlinux.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger;
  std::string_view in(reinterpret_cast<const char*>(data), size);

  auto v = ExtractVmlinux(in);
  if (v.ok()) BANGER_FUZZ_CHECK(IsElf(*v) && v->size() <= kMaxVmlinuxBytes);

  auto payload = BzImagePayload(in);
  if (payload.ok()) {
    BANGER_FUZZ_CHECK(payload->data() >= in.data() && payload->data() + payload->size() <= in.data() + size);
    (void)DetectCompression(*payload);
  }
  (void)DetectCompression(in);

  constexpr size_t kMax = size_t{4} << 20;
  for (auto c : {KernelCompression::kGzip, KernelCompression::kXz, KernelCompression::kLzma,
                 KernelCompression::kZstd, KernelCompression::kLz4, KernelCompression::kNone}) {
    auto out = DecompressPayload(c, in, kMax);
    if (out.ok()) BANGER_FUZZ_CHECK(out->size() <= kMax);
  }
  return 0;
}
