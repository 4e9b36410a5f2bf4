// ScopeGuard runs a rollback action on scope exit unless Dismiss()ed.
// Multi-step operations register one guard per completed step so a failure
// at any later step undoes the earlier ones in reverse order.
#pragma once

#include <functional>
#include <utility>

namespace banger {

class ScopeGuard {
 public:
  explicit ScopeGuard(std::function<void()> fn) : fn_(std::move(fn)) {}
  ~ScopeGuard() {
    if (fn_) fn_();
  }
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
  void Dismiss() { fn_ = nullptr; }

 private:
  std::function<void()> fn_;
};

}  // namespace banger
