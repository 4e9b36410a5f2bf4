// Errors as values. Every fallible function returns Result<T> (or Status);
// errors carry a kind (for API/exit-code mapping) and a message that reads
// as a chain of context: "starting vm web-1: spawning qemu: No such file".
// Exceptions never cross module boundaries.
#pragma once

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace banger {

enum class ErrorKind {
  kInternal,         // a bug or an unexpected OS failure
  kInvalidArgument,  // the caller's input is wrong (HTTP 400, CLI exit 1)
  kNotFound,         // the named thing does not exist (HTTP 404)
  kConflict,         // the request clashes with current state (HTTP 409)
  kUnavailable,      // a dependency (binary, device, daemon) is missing
  kTimeout,          // a deadline passed
};

const char* ErrorKindName(ErrorKind k);

class Error {
 public:
  Error() = default;
  Error(ErrorKind kind, std::string message) : kind_(kind), message_(std::move(message)) {}

  static Error Internal(std::string m) { return {ErrorKind::kInternal, std::move(m)}; }
  static Error Invalid(std::string m) { return {ErrorKind::kInvalidArgument, std::move(m)}; }
  static Error NotFound(std::string m) { return {ErrorKind::kNotFound, std::move(m)}; }
  static Error Conflict(std::string m) { return {ErrorKind::kConflict, std::move(m)}; }
  static Error Unavailable(std::string m) { return {ErrorKind::kUnavailable, std::move(m)}; }
  static Error Timeout(std::string m) { return {ErrorKind::kTimeout, std::move(m)}; }
  // "what: strerror(errno)" with kind derived from errno.
  static Error FromErrno(const std::string& what, int err = errno);

  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }

  // Prefixes context: Error("x").Wrap("doing y") -> "doing y: x".
  Error Wrap(const std::string& context) const& { return {kind_, context + ": " + message_}; }
  Error Wrap(const std::string& context) && { return {kind_, context + ": " + std::move(message_)}; }

 private:
  ErrorKind kind_ = ErrorKind::kInternal;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(runtime/explicit)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(runtime/explicit)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)) {}  // NOLINT(runtime/explicit)

  bool ok() const { return !err_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const& { return *err_; }
  Error&& error() && { return std::move(*err_); }

 private:
  std::optional<Error> err_;
};

using Status = Result<void>;

inline Status OkStatus() { return {}; }

// Drops a Result's value: success, or its error, as a Status.
template <typename T>
Status ToStatus(Result<T> r) {
  if (r.ok()) return OkStatus();
  return std::move(r).error();
}

// Adds context to a failed Status/Result; passes success through.
inline Status Annotate(Status st, const std::string& context) {
  if (st.ok()) return st;
  return std::move(st).error().Wrap(context);
}
template <typename T>
Result<T> Annotate(Result<T> r, const std::string& context) {
  if (r.ok()) return r;
  return std::move(r).error().Wrap(context);
}

}  // namespace banger

// Propagate an error from a Status-returning expression.
#define BANGER_RETURN_IF_ERROR(expr)              \
  do {                                            \
    auto _st = (expr);                            \
    if (!_st.ok()) return std::move(_st).error(); \
  } while (0)

#define BANGER_CONCAT_INNER(a, b) a##b
#define BANGER_CONCAT(a, b) BANGER_CONCAT_INNER(a, b)

// Declares `lhs` from a Result-returning expression or returns its error.
#define BANGER_ASSIGN_OR_RETURN(lhs, expr) \
  BANGER_ASSIGN_OR_RETURN_IMPL(BANGER_CONCAT(_res_, __LINE__), lhs, expr)
// NOLINTBEGIN(bugprone-macro-parentheses): `tmp` is a name and `lhs` may be
// a declaration (`bool row`); neither can be parenthesized.
#define BANGER_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).error();      \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
