// GuestLogLimiter: a token bucket for log lines a guest can cause (agent
// errors, protocol violations). A guest that floods them costs bangerd.log
// at most `burst` lines at once and `per_second` lines a second; what is
// dropped is counted and reported in one line per interval.
//
// Thread-safety: safe to share between threads and connections.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace banger {

class GuestLogLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit GuestLogLimiter(double per_second = 5, double burst = 20,
                           std::chrono::milliseconds report_every = std::chrono::seconds(10))
      : per_second_(per_second), burst_(burst), report_every_(report_every), tokens_(burst) {}

  struct Decision {
    bool log = false;                       // log this line
    uint64_t dropped = 0;                   // > 0: also report this many dropped lines
    std::chrono::milliseconds interval{0};  // over this long
  };
  // One line wants out at `now`.
  Decision Take(Clock::time_point now = Clock::now());

  // Logs `line` at warn level, prefixed with `label`, if the bucket allows,
  // and the dropped-lines report when one is due.
  void Warn(const std::string& label, const std::string& line);

 private:
  const double per_second_;
  const double burst_;
  const std::chrono::milliseconds report_every_;
  std::mutex mu_;
  double tokens_;                    // Guarded by mu_.
  Clock::time_point last_refill_{};  // Guarded by mu_.
  Clock::time_point last_report_{};  // Guarded by mu_.
  uint64_t dropped_ = 0;             // Guarded by mu_.
  bool started_ = false;             // Guarded by mu_.
};

}  // namespace banger
