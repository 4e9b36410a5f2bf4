// gRPC status codes as ttrpc carries them (google.rpc.Status.code), the
// outcome of one call (RpcResult<T>: a value or a code and a message), and the
// mapping between banger's ErrorKind and the codes containerd understands
// (its errdefs.FromGRPC: NotFound, AlreadyExists, FailedPrecondition,
// InvalidArgument, Unimplemented, Unavailable, DeadlineExceeded...).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "base/result.h"

namespace banger::ttrpc {

enum class Code : int32_t {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

// "NotFound", "DeadlineExceeded"... (gRPC's names); "Code(<n>)" for others.
std::string CodeName(Code code);
// A code from the wire: any int32 is kept as it is (an unknown code from the
// peer is reported, not remapped).
inline Code CodeFromWire(int32_t v) { return static_cast<Code>(v); }

// kInvalidArgument -> InvalidArgument, kNotFound -> NotFound, kConflict ->
// FailedPrecondition (containerd's "task is running" kind of clash; a handler
// that means AlreadyExists says so with RpcStatus), kUnavailable ->
// Unavailable, kTimeout -> DeadlineExceeded, kInternal -> Internal.
Code CodeForKind(ErrorKind kind);
// The other way, for callers that work in banger errors: AlreadyExists,
// FailedPrecondition and Aborted -> kConflict, Cancelled and DeadlineExceeded
// -> kTimeout, Unavailable/ResourceExhausted/Unimplemented/PermissionDenied
// -> kUnavailable, NotFound, InvalidArgument/OutOfRange, everything else
// (Unknown, Internal, DataLoss...) -> kInternal.
ErrorKind KindForCode(Code code);

// `s` as valid UTF-8: every byte that does not start a well-formed UTF-8
// sequence (overlong forms, surrogates and code points past U+10FFFF are not
// well-formed) becomes '?'. proto3 string fields must be UTF-8, and libprotobuf
// refuses to parse a message whose strings are not, so everything the server
// puts in a google.rpc.Status message (which may quote the peer's bytes) goes
// through this.
std::string ToValidUtf8(std::string_view s);
bool IsValidUtf8(std::string_view s);

// A failed call: its code (never kOk) and message.
struct RpcStatus {
  Code code = Code::kUnknown;
  std::string message;

  static RpcStatus FromError(const Error& e) { return {CodeForKind(e.kind()), e.message()}; }
  // "ttrpc: <CodeName>: <message>" with the kind for the code.
  Error ToError() const;
};

// What a handler returns and a client call gives back: a value or an
// RpcStatus. Converts from banger's Result<T> and Error (kind mapped with
// CodeForKind), so handlers written with BANGER_ASSIGN_OR_RETURN work as they
// are.
template <typename T>
class [[nodiscard]] RpcResult {
 public:
  RpcResult(T value) : v_(std::move(value)) {}           // NOLINT(runtime/explicit)
  RpcResult(RpcStatus status) : v_(std::move(status)) {  // NOLINT(runtime/explicit)
    auto& s = std::get<1>(v_);
    if (s.code == Code::kOk) s.code = Code::kUnknown;  // an error is never OK
  }
  RpcResult(const Error& e) : v_(RpcStatus::FromError(e)) {}  // NOLINT(runtime/explicit)
  RpcResult(Result<T> r)                                      // NOLINT(runtime/explicit)
      : v_(r.ok() ? decltype(v_)(std::move(r).value()) : decltype(v_)(RpcStatus::FromError(r.error()))) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const RpcStatus& status() const& { return std::get<1>(v_); }
  RpcStatus&& status() && { return std::get<1>(std::move(v_)); }
  Code code() const { return ok() ? Code::kOk : status().code; }
  // As a banger Result (RpcStatus::ToError on failure).
  Result<T> ToResult() && {
    if (ok()) return std::move(*this).value();
    return status().ToError();
  }

 private:
  std::variant<T, RpcStatus> v_;
};

}  // namespace banger::ttrpc
