#include "base/time.h"

#include <gtest/gtest.h>

namespace banger {
namespace {

TEST(TimeTest, Rfc3339RoundTrip) {
  auto t = ParseRfc3339("2026-11-28T04:03:34Z");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(FormatRfc3339(*t), "2026-11-28T04:03:34Z");
  EXPECT_EQ(FormatRfc3339(Timestamp{}), "");
  EXPECT_FALSE(ParseRfc3339("yesterday").ok());
}

TEST(TimeTest, Durations) {
  EXPECT_EQ(ParseDuration("30m")->count(), 30 * 60 * 1000);
  EXPECT_EQ(ParseDuration("1h30m")->count(), 90 * 60 * 1000);
  EXPECT_EQ(ParseDuration("500ms")->count(), 500);
  EXPECT_EQ(ParseDuration("0")->count(), 0);
  EXPECT_FALSE(ParseDuration("10x").ok());
  EXPECT_FALSE(ParseDuration("m").ok());
  EXPECT_EQ(FormatDuration(std::chrono::minutes(30)), "30m");
}

}  // namespace
}  // namespace banger
