#include "agent/log_limiter.h"

#include <gtest/gtest.h>

namespace banger {
namespace {

using namespace std::chrono_literals;
using Clock = GuestLogLimiter::Clock;

TEST(GuestLogLimiterTest, LetsTheBurstThroughThenTheRate) {
  GuestLogLimiter l(/*per_second=*/2, /*burst=*/5, /*report_every=*/10s);
  auto t = Clock::now();
  int logged = 0;
  for (int i = 0; i < 100; ++i) logged += l.Take(t).log ? 1 : 0;
  EXPECT_EQ(logged, 5);
  // One second later: two more tokens.
  logged = 0;
  for (int i = 0; i < 100; ++i) logged += l.Take(t + 1s).log ? 1 : 0;
  EXPECT_EQ(logged, 2);
}

TEST(GuestLogLimiterTest, ReportsWhatItDroppedOncePerInterval) {
  GuestLogLimiter l(/*per_second=*/1, /*burst=*/1, /*report_every=*/10s);
  auto t = Clock::now();
  EXPECT_TRUE(l.Take(t).log);
  uint64_t reported = 0;
  for (int i = 0; i < 50; ++i) {
    auto d = l.Take(t + std::chrono::milliseconds(i));
    EXPECT_FALSE(d.log);
    reported += d.dropped;
  }
  EXPECT_EQ(reported, 0u) << "no report before the interval";
  auto d = l.Take(t + 11s);
  EXPECT_TRUE(d.log);  // 11 s of refill, capped at the burst
  EXPECT_EQ(d.dropped, 50u);
  EXPECT_EQ(l.Take(t + 11s).dropped, 0u) << "reported once";
}

}  // namespace
}  // namespace banger
