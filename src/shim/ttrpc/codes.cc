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

Error RpcStatus::ToError() const { return {KindForCode(code), "ttrpc: " + CodeName(code) + ": " + message}; }

}  // namespace banger::ttrpc
