#include "api/stream.h"

#include "model/json.h"

namespace banger {

std::string EncodeErrorFrame(const Error& e) {
  Json j{{"code", ErrorKindName(e.kind())}, {"message", e.message()}};
  return SafeDump(j);
}

Error DecodeErrorFrame(const std::string& payload) {
  auto j = ParseJson(payload);
  if (!j.ok() || !j->is_object() || !(*j)["message"].is_string()) return Error::Internal(payload);
  ErrorKind kind = ErrorKind::kInternal;
  if ((*j)["code"].is_string()) {
    for (auto k : {ErrorKind::kInvalidArgument, ErrorKind::kNotFound, ErrorKind::kConflict,
                   ErrorKind::kUnavailable, ErrorKind::kTimeout}) {
      if ((*j)["code"].get<std::string>() == ErrorKindName(k)) kind = k;
    }
  }
  return Error(kind, (*j)["message"].get<std::string>());
}

Result<ExitFrame> DecodeExitFrame(std::string_view payload) {
  auto j = ParseJson(std::string(payload));
  if (!j.ok() || !j->is_object() || !(*j)["code"].is_number_integer()) {
    return Error::Internal("bad exit message: " + std::string(payload.substr(0, 200)));
  }
  ExitFrame f;
  f.code = (*j)["code"].get<int>();
  if ((*j)["signaled"].is_boolean()) f.signaled = (*j)["signaled"].get<bool>();
  if ((*j)["signo"].is_number_integer()) f.signo = (*j)["signo"].get<int>();
  return f;
}

std::string EncodeResize(uint16_t rows, uint16_t cols) {
  return {static_cast<char>(rows >> 8), static_cast<char>(rows), static_cast<char>(cols >> 8),
          static_cast<char>(cols)};
}

bool DecodeResize(std::string_view p, uint16_t& rows, uint16_t& cols) {
  if (p.size() != 4) return false;
  auto u = [&](size_t i) { return static_cast<uint16_t>(static_cast<unsigned char>(p[i])); };
  rows = static_cast<uint16_t>(u(0) << 8 | u(1));
  cols = static_cast<uint16_t>(u(2) << 8 | u(3));
  return true;
}

}  // namespace banger
