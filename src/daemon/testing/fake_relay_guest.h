// Test-only: an echo "guest" for the port relay (daemon/port_relay.h): what
// is written comes back as stdout; CloseWrite ends it once drained (exit 0).
// At most `limit` bytes wait in it (a Write beyond that blocks: the credit
// of the real agent). `stall` makes Write block until Abort or stall_for.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>

#include "daemon/port_relay.h"

namespace banger {

class FakeRelayGuest final : public RelayGuest {
 public:
  explicit FakeRelayGuest(size_t limit = 64 * 1024) : limit_(limit) {}

  Status Write(std::string_view data) override {
    std::unique_lock<std::mutex> lk(mu_);
    auto until = std::chrono::steady_clock::now() + stall_for;
    if (stall) {
      cv_.wait_until(lk, until, [&] { return aborted_; });
      return aborted_ ? Error::Unavailable("aborted") : Error::Timeout("no stdin credit");
    }
    for (char c : data) {
      if (!cv_.wait_until(lk, until, [&] { return aborted_ || queued_.size() < limit_; }))
        return Error::Timeout("no stdin credit");
      if (aborted_) return Error::Unavailable("aborted");
      queued_.push_back(c);
      max_queued = std::max(max_queued, queued_.size());
    }
    cv_.notify_all();
    return OkStatus();
  }
  Status CloseWrite() override {
    std::lock_guard<std::mutex> lk(mu_);
    eof_ = true;
    cv_.notify_all();
    return OkStatus();
  }
  Result<ExecEvent> Next() override {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return aborted_ || !queued_.empty() || eof_ || exited_; });
    if (aborted_) return Error::Unavailable("aborted: " + abort_reason);
    if (!queued_.empty()) {
      ExecEvent ev;
      size_t n = std::min<size_t>(queued_.size(), 16 * 1024);
      ev.data.assign(queued_.begin(), queued_.begin() + static_cast<std::ptrdiff_t>(n));
      queued_.erase(queued_.begin(), queued_.begin() + static_cast<std::ptrdiff_t>(n));
      cv_.notify_all();
      return ev;
    }
    if (exited_) return Error::Unavailable("after exit");
    exited_ = true;
    ExecEvent ev;
    ev.kind = ExecEvent::kExit;
    return ev;
  }
  void Abort(const std::string& reason) override {
    std::lock_guard<std::mutex> lk(mu_);
    if (!aborted_) abort_reason = reason;
    aborted_ = true;
    cv_.notify_all();
  }
  bool aborted() {
    std::lock_guard<std::mutex> lk(mu_);
    return aborted_;
  }

  bool stall = false;
  std::chrono::milliseconds stall_for{std::chrono::seconds(10)};
  size_t max_queued = 0;     // read after the relay ended
  std::string abort_reason;  // read after the relay ended

 private:
  size_t limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<char> queued_;
  bool eof_ = false, exited_ = false, aborted_ = false;
};

}  // namespace banger
