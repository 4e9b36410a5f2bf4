#include "ttrpc/codes.h"

namespace banger::ttrpc {

std::string CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kCancelled:
      return "Canceled";
    case Code::kUnknown:
      return "Unknown";
    case Code::kInvalidArgument:
      return "InvalidArgument";
    case Code::kDeadlineExceeded:
      return "DeadlineExceeded";
    case Code::kNotFound:
      return "NotFound";
    case Code::kAlreadyExists:
      return "AlreadyExists";
    case Code::kPermissionDenied:
      return "PermissionDenied";
    case Code::kResourceExhausted:
      return "ResourceExhausted";
    case Code::kFailedPrecondition:
      return "FailedPrecondition";
    case Code::kAborted:
      return "Aborted";
    case Code::kOutOfRange:
      return "OutOfRange";
    case Code::kUnimplemented:
      return "Unimplemented";
    case Code::kInternal:
      return "Internal";
    case Code::kUnavailable:
      return "Unavailable";
    case Code::kDataLoss:
      return "DataLoss";
    case Code::kUnauthenticated:
      return "Unauthenticated";
  }
  return "Code(" + std::to_string(static_cast<int32_t>(code)) + ")";
}

Code CodeForKind(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument:
      return Code::kInvalidArgument;
    case ErrorKind::kNotFound:
      return Code::kNotFound;
    case ErrorKind::kConflict:
      return Code::kFailedPrecondition;
    case ErrorKind::kUnavailable:
      return Code::kUnavailable;
    case ErrorKind::kTimeout:
      return Code::kDeadlineExceeded;
    case ErrorKind::kInternal:
      return Code::kInternal;
  }
  return Code::kInternal;
}

ErrorKind KindForCode(Code code) {
  switch (code) {
    case Code::kInvalidArgument:
    case Code::kOutOfRange:
      return ErrorKind::kInvalidArgument;
    case Code::kNotFound:
      return ErrorKind::kNotFound;
    case Code::kAlreadyExists:
    case Code::kFailedPrecondition:
    case Code::kAborted:
      return ErrorKind::kConflict;
    case Code::kCancelled:
    case Code::kDeadlineExceeded:
      return ErrorKind::kTimeout;
    case Code::kUnavailable:
    case Code::kResourceExhausted:
    case Code::kUnimplemented:
    case Code::kPermissionDenied:
    case Code::kUnauthenticated:
      return ErrorKind::kUnavailable;
    default:
      return ErrorKind::kInternal;
  }
}

namespace {

// The length of the well-formed UTF-8 sequence at the start of s, 0 if none.
size_t Utf8SequenceLength(std::string_view s) {
  auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xbf;  // the range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;  // no overlong forms
    if (c == 0xed) hi = 0x9f;  // no surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;  // no overlong forms
    if (c == 0xf4) hi = 0x8f;  // nothing past U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (size_t i = 2; i < n; ++i) {
    if (b(i) < 0x80 || b(i) > 0xbf) return 0;
  }
  return n;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  while (!s.empty()) {
    size_t n = Utf8SequenceLength(s);
    if (n == 0) return false;
    s.remove_prefix(n);
  }
  return true;
}

std::string ToValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    size_t n = Utf8SequenceLength(s);
    if (n == 0) {
      out += '?';
      n = 1;
    } else {
      out.append(s.substr(0, n));
    }
    s.remove_prefix(n);
  }
  return out;
}

Error RpcStatus::ToError() const { return {KindForCode(code), "ttrpc: " + CodeName(code) + ": " + message}; }

}  // namespace banger::ttrpc
