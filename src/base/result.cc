#include "base/result.h"

namespace banger {

const char* ErrorKindName(ErrorKind k) {
  switch (k) {
    case ErrorKind::kInternal:
      return "internal";
    case ErrorKind::kInvalidArgument:
      return "invalid_argument";
    case ErrorKind::kNotFound:
      return "not_found";
    case ErrorKind::kConflict:
      return "conflict";
    case ErrorKind::kUnavailable:
      return "unavailable";
    case ErrorKind::kTimeout:
      return "timeout";
  }
  return "internal";
}

Error Error::FromErrno(const std::string& what, int err) {
  ErrorKind kind = ErrorKind::kInternal;
  switch (err) {
    case ENOENT:
      kind = ErrorKind::kNotFound;
      break;
    case EEXIST:
      kind = ErrorKind::kConflict;
      break;
    case EACCES:
    case EPERM:
      kind = ErrorKind::kUnavailable;
      break;
    case EINVAL:
      kind = ErrorKind::kInvalidArgument;
      break;
    case ETIMEDOUT:
      kind = ErrorKind::kTimeout;
      break;
    default:
      break;
  }
  return {kind, what + ": " + std::strerror(err)};
}

}  // namespace banger
