// SHA-256 (FIPS 180-4), incremental. Used to check that a byte stream
// (`vm cp` archives) arrived whole; not for secrets.
#pragma once

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
  void Block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t used_ = 0;
  uint64_t total_ = 0;
};

// Lowercase hex of bytes.
std::string HexOf(const uint8_t* p, size_t n);

}  // namespace banger
