// Shared by the libFuzzer harnesses (fuzz/*_fuzzer.cc): a reader that turns
// the fuzzer's bytes into values, and a check that aborts (so libFuzzer
// records the input as a crash) when an invariant of the code under test
// fails. Test-only.
#pragma once

#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace banger::fuzz {

// Aborts with a message: the harness found a broken invariant.
[[noreturn]] inline void Fail(const char* file, int line, const char* what) {
  std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", file, line, what);
  std::abort();
}

#define BANGER_FUZZ_CHECK(cond)                                   \
  do {                                                            \
    if (!(cond)) ::banger::fuzz::Fail(__FILE__, __LINE__, #cond); \
  } while (0)

// A fresh directory for a harness's files: under $TMPDIR (scripts/fuzz.sh
// points it into the run's work dir, removed with it), else /tmp. `prefix`
// short: sockets inside must fit sun_path.
inline std::string MakeTempDir(const char* prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) Fail(__FILE__, __LINE__, "mkdtemp");
  return tmpl;
}

// Consumes the input from the front; once it runs out every value is 0/empty.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const { return rest_.empty(); }
  size_t size() const { return rest_.size(); }

  uint8_t U8() {
    if (rest_.empty()) return 0;
    auto v = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return v;
  }
  uint16_t U16() { return static_cast<uint16_t>(U8() << 8 | U8()); }
  uint32_t U32() { return static_cast<uint32_t>(U16()) << 16 | U16(); }
  uint64_t U64() { return static_cast<uint64_t>(U32()) << 32 | U32(); }
  // Up to n bytes.
  std::string_view Bytes(size_t n) {
    std::string_view v = rest_.substr(0, n);
    rest_.remove_prefix(v.size());
    return v;
  }
  // A length byte, then that many bytes.
  std::string_view Short() { return Bytes(U8()); }
  std::string_view Rest() { return Bytes(rest_.size()); }

 private:
  std::string_view rest_;
};

}  // namespace banger::fuzz
