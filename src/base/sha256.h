// SHA-256, incremental: a thin wrapper over nettle's (the library the static
// agent uses too, ADR 0022). Used to check that a byte stream (`vm cp`
// archives) arrived whole; not for secrets.
#pragma once

#include <nettle/sha2.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace banger {

class Sha256 {
 public:
  Sha256();
  void Update(std::string_view data);
  // The digest; the object must not be updated afterwards.
  std::array<uint8_t, 32> Finish();
  // Finish() as 64 lowercase hex digits.
  std::string HexFinish();

  static std::string Hex(std::string_view data);

 private:
  sha256_ctx ctx_{};
};

// Lowercase hex of bytes.
std::string HexOf(const uint8_t* p, size_t n);

}  // namespace banger
