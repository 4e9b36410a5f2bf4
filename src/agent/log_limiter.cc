#include "agent/log_limiter.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace banger {

GuestLogLimiter::Decision GuestLogLimiter::Take(Clock::time_point now) {
  std::lock_guard<std::mutex> l(mu_);
  if (!started_) {
    started_ = true;
    last_refill_ = last_report_ = now;
  }
  double elapsed = std::chrono::duration<double>(now - last_refill_).count();
  if (elapsed > 0) {
    tokens_ = std::min(burst_, tokens_ + elapsed * per_second_);
    last_refill_ = now;
  }
  Decision d;
  if (tokens_ >= 1) {
    tokens_ -= 1;
    d.log = true;
  } else {
    ++dropped_;
  }
  if (dropped_ > 0 && now - last_report_ >= report_every_) {
    d.dropped = dropped_;
    d.interval = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_report_);
    dropped_ = 0;
    last_report_ = now;
  } else if (dropped_ == 0 && now - last_report_ >= report_every_) {
    last_report_ = now;
  }
  return d;
}

void GuestLogLimiter::Warn(const std::string& label, const std::string& line) {
  Decision d = Take();
  if (d.log) spdlog::warn("{}: {}", label, line);
  if (d.dropped > 0) {
    spdlog::warn("{}: dropped {} log lines caused by the guest in the last {} s (rate limit)", label,
                 d.dropped, d.interval.count() / 1000);
  }
}

}  // namespace banger
