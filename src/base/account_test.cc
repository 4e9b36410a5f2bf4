#include "base/account.h"

#include <grp.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace banger {
namespace {

TEST(LookupGroupTest, ByNameAndByNumber) {
  gid_t mine = ::getgid();
  group* g = ::getgrgid(mine);
  ASSERT_NE(g, nullptr);
  auto by_name = LookupGroup(g->gr_name);
  ASSERT_TRUE(by_name.ok()) << by_name.error().message();
  EXPECT_EQ(*by_name, mine);
  auto by_num = LookupGroup(std::to_string(mine));
  ASSERT_TRUE(by_num.ok());
  EXPECT_EQ(*by_num, mine);
}

TEST(LookupGroupTest, UnknownAndMalformed) {
  auto none = LookupGroup("no-such-group-banger");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().kind(), ErrorKind::kNotFound);
  EXPECT_NE(none.error().message().find("no-such-group-banger"), std::string::npos);
  EXPECT_FALSE(LookupGroup("").ok());
  EXPECT_EQ(LookupGroup("99999999999999").error().kind(), ErrorKind::kInvalidArgument);
}

}  // namespace
}  // namespace banger
