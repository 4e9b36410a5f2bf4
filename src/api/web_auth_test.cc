// WebAuth: the web UI's login and session tokens.
#include "api/web_auth.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

namespace banger {
namespace {

TEST(WebAuthTest, LoginTokensAreRandomOneTimeAndBecomeSessions) {
  WebAuth auth;
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    auto t = auth.IssueLogin(1000);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->size(), 64u);
    EXPECT_EQ(t->find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_TRUE(seen.insert(*t).second) << "a repeated token";
  }
  auto login = auth.IssueLogin(1000);
  ASSERT_TRUE(login.ok());
  EXPECT_FALSE(auth.Check(*login)) << "a login token is not a session";
  auto session = auth.Redeem(*login);
  ASSERT_TRUE(session.ok());
  EXPECT_EQ(auth.Check(*session), std::optional<uid_t>(1000));
  EXPECT_FALSE(auth.Redeem(*login).ok()) << "spent";
  EXPECT_FALSE(auth.Redeem(*session).ok()) << "a session is not a login";
  EXPECT_FALSE(auth.Redeem("").ok());
  EXPECT_FALSE(auth.Check(""));
  EXPECT_FALSE(auth.Check(session->substr(0, 63)));
  EXPECT_FALSE(auth.Check(*session + "0"));
}

TEST(WebAuthTest, TokensExpire) {
  WebAuth auth(std::chrono::milliseconds(200), std::chrono::milliseconds(100));
  auto stale = auth.IssueLogin(5);
  auto fresh = auth.IssueLogin(5);
  ASSERT_TRUE(stale.ok() && fresh.ok());
  auto session = auth.Redeem(*fresh);
  ASSERT_TRUE(session.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(auth.Redeem(*stale).ok());
  EXPECT_FALSE(auth.Check(*session));
}

TEST(WebAuthTest, RevokeIsPerUidAndRootRevokesAll) {
  WebAuth auth;
  auto a = auth.Redeem(*auth.IssueLogin(1000));
  auto b = auth.Redeem(*auth.IssueLogin(1001));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(auth.Revoke(1000), 1);
  EXPECT_FALSE(auth.Check(*a));
  EXPECT_TRUE(auth.Check(*b));
  ASSERT_TRUE(auth.IssueLogin(1002).ok());
  EXPECT_EQ(auth.Revoke(0), 2);
  EXPECT_FALSE(auth.Check(*b));
}

TEST(WebAuthTest, LiveTokensAreCapped) {
  WebAuth auth;
  auto first = auth.Redeem(*auth.IssueLogin(7));
  ASSERT_TRUE(first.ok());
  for (size_t i = 0; i < WebAuth::kMaxTokens; ++i) ASSERT_TRUE(auth.IssueLogin(7).ok());
  EXPECT_FALSE(auth.Check(*first)) << "the oldest made room";
  EXPECT_EQ(auth.Revoke(7), static_cast<int>(WebAuth::kMaxTokens));
}

TEST(WebAuthTest, ConstantTimeEqualsIsEquality) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_FALSE(ConstantTimeEquals("ab", "abc"));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0", 2), "a"));
}

}  // namespace
}  // namespace banger
