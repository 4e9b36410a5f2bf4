#include "base/strings.h"

#include <gtest/gtest.h>

namespace banger {
namespace {

TEST(StringsTest, TrimAndLastLine) {
  EXPECT_EQ(Trim("  a b \r\n"), "a b");
  EXPECT_EQ(Trim(" \n "), "");
  EXPECT_EQ(LastLine("first\nE: second problem\n\n"), "E: second problem");
  EXPECT_EQ(LastLine("only"), "only");
  EXPECT_EQ(LastLine(""), "");
  EXPECT_EQ(LastLine("a\r\nb\r\n"), "b");
}

}  // namespace
}  // namespace banger
