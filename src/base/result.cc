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

namespace {

ErrorKind KindOfErrno(int err) {
  switch (err) {
    case ENOENT:
      return ErrorKind::kNotFound;
    case EEXIST:
      return ErrorKind::kConflict;
    case EACCES:
    case EPERM:
      return ErrorKind::kUnavailable;
    case EINVAL:
      return ErrorKind::kInvalidArgument;
    case ETIMEDOUT:
      return ErrorKind::kTimeout;
    default:
      return ErrorKind::kInternal;
  }
}

}  // namespace

Error Error::FromErrno(const std::string& what, int err) {
  return {KindOfErrno(err), what + ": " + std::strerror(err)};
}

}  // namespace banger
