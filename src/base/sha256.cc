#include "base/sha256.h"

namespace banger {

Sha256::Sha256() { sha256_init(&ctx_); }

void Sha256::Update(std::string_view data) {
  sha256_update(&ctx_, data.size(), reinterpret_cast<const uint8_t*>(data.data()));
}

std::array<uint8_t, 32> Sha256::Finish() {
  std::array<uint8_t, 32> out{};
  sha256_digest(&ctx_, out.size(), out.data());
  return out;
}

std::string Sha256::HexFinish() {
  auto d = Finish();
  return HexOf(d.data(), d.size());
}

std::string Sha256::Hex(std::string_view data) {
  Sha256 s;
  s.Update(data);
  return s.HexFinish();
}

std::string HexOf(const uint8_t* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 0xf]);
  }
  return out;
}

}  // namespace banger
