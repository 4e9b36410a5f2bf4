// The agent's user resolution (user.h): the passwd/group parsers and
// docker's rules for "name", "uid", "name:group", "uid:gid".
#include "user.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace banger::agent {
namespace {

constexpr const char* kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "# a comment\n"
    "\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "app:x:1000:1000:App User,,,:/home/app:/bin/sh\r\n"
    "broken:x:notanumber:1:::\n"
    "short:x:7\n"
    "nohome:x:1001:1001\n"
    "app:x:2000:2000::/second:/bin/sh\n"
    "huge:x:4294967295:1::/:\n";

constexpr const char* kGroup =
    "root:x:0:\n"
    "daemon:x:1:\n"
    "staff:x:50:app,other\n"
    "app:x:1000:\n"
    "docker:x:999:other,app\n"
    "bad:x:-1:app\n"
    "wheel:x:10:\n";

class ResolveUserTest : public ::testing::Test {
 protected:
  bool Resolve(std::string_view spec, ResolvedUser* out, std::string* error) {
    return ResolveUser(spec, ParsePasswd(kPasswd), ParseGroup(kGroup), out, error);
  }
  ResolvedUser Ok(std::string_view spec) {
    ResolvedUser u;
    std::string error;
    EXPECT_TRUE(Resolve(spec, &u, &error)) << spec << ": " << error;
    return u;
  }
  std::string Err(std::string_view spec) {
    ResolvedUser u;
    std::string error;
    EXPECT_FALSE(Resolve(spec, &u, &error)) << spec;
    return error;
  }
};

TEST(ParsePasswdTest, KeepsWellFormedEntriesInOrder) {
  auto p = ParsePasswd(kPasswd);
  ASSERT_EQ(p.size(), 5u);
  EXPECT_EQ(p[0].name, "root");
  EXPECT_EQ(p[0].home, "/root");
  EXPECT_EQ(p[2].name, "app");
  EXPECT_EQ(p[2].uid, 1000u);
  EXPECT_EQ(p[2].gid, 1000u);
  EXPECT_EQ(p[2].home, "/home/app") << "a CRLF line ending is not part of the shell";
  EXPECT_EQ(p[3].name, "nohome");
  EXPECT_EQ(p[3].home, "");
  EXPECT_EQ(p[4].uid, 2000u);
}

TEST(ParseGroupTest, MembersAndBadIds) {
  auto g = ParseGroup(kGroup);
  ASSERT_EQ(g.size(), 6u);
  EXPECT_EQ(g[2].name, "staff");
  EXPECT_EQ(g[2].gid, 50u);
  EXPECT_EQ(g[2].members, (std::vector<std::string>{"app", "other"}));
  EXPECT_TRUE(g[0].members.empty());
  EXPECT_EQ(g[5].name, "wheel");
}

TEST(ParsePasswdTest, EmptyAndGarbage) {
  EXPECT_TRUE(ParsePasswd("").empty());
  EXPECT_TRUE(ParsePasswd("\n\n:::\n\x01\x02\n").empty());
  EXPECT_TRUE(ParseGroup("no colons at all").empty());
}

TEST_F(ResolveUserTest, NameGivesIdsHomeAndSupplementaryGroups) {
  ResolvedUser u = Ok("app");
  EXPECT_EQ(u.uid, 1000u);
  EXPECT_EQ(u.gid, 1000u);
  EXPECT_EQ(u.home, "/home/app");
  EXPECT_EQ(u.groups, (std::vector<gid_t>{50, 999}));
}

TEST_F(ResolveUserTest, NumericUidMatchesPasswdFirst) {
  ResolvedUser u = Ok("1000");
  EXPECT_EQ(u.uid, 1000u);
  EXPECT_EQ(u.gid, 1000u);
  EXPECT_EQ(u.home, "/home/app");
  EXPECT_EQ(u.groups, (std::vector<gid_t>{50, 999}));
  ResolvedUser root = Ok("0");
  EXPECT_EQ(root.uid, 0u);
  EXPECT_EQ(root.home, "/root");
  EXPECT_TRUE(root.groups.empty());
}

TEST_F(ResolveUserTest, NumericUidWithoutEntryIsAllowed) {
  ResolvedUser u = Ok("4242");
  EXPECT_EQ(u.uid, 4242u);
  EXPECT_EQ(u.gid, 0u);
  EXPECT_EQ(u.home, "/");
  EXPECT_TRUE(u.groups.empty());
  ResolvedUser g = Ok("4242:4343");
  EXPECT_EQ(g.uid, 4242u);
  EXPECT_EQ(g.gid, 4343u);
}

TEST_F(ResolveUserTest, ExplicitGroupReplacesGidAndDropsSupplementaryGroups) {
  ResolvedUser u = Ok("app:staff");
  EXPECT_EQ(u.uid, 1000u);
  EXPECT_EQ(u.gid, 50u);
  EXPECT_TRUE(u.groups.empty());
  EXPECT_EQ(u.home, "/home/app");
  EXPECT_EQ(Ok("app:7").gid, 7u);
  EXPECT_EQ(Ok("1000:wheel").gid, 10u);
  EXPECT_EQ(Ok("app:").gid, 1000u) << "an empty group part is no group";
  EXPECT_EQ(Ok("app:").groups, (std::vector<gid_t>{50, 999}));
}

TEST_F(ResolveUserTest, EntryWithoutHomeGetsSlash) { EXPECT_EQ(Ok("nohome").home, "/"); }

TEST_F(ResolveUserTest, FirstDuplicateWins) { EXPECT_EQ(Ok("app").uid, 1000u); }

TEST_F(ResolveUserTest, UnknownNamesUseDockersWording) {
  EXPECT_EQ(Err("nobody"), "unable to find user nobody: no matching entries in passwd file");
  EXPECT_EQ(Err("app:nogroup"), "unable to find group nogroup: no matching entries in group file");
  EXPECT_EQ(Err("nobody:staff"), "unable to find user nobody: no matching entries in passwd file");
}

TEST_F(ResolveUserTest, OutOfRangeAndMalformedSpecs) {
  EXPECT_EQ(Err("2147483648"), "uids and gids must be in range 0-2147483647");
  EXPECT_EQ(Err("app:99999999999"), "uids and gids must be in range 0-2147483647");
  EXPECT_EQ(Ok("2147483647").uid, 2147483647u);
  EXPECT_NE(Err(":staff").find("invalid user"), std::string::npos);
  EXPECT_NE(Err("a:b:c").find("invalid user"), std::string::npos);
  // A sign makes it a name, which then does not exist.
  EXPECT_EQ(Err("-1"), "unable to find user -1: no matching entries in passwd file");
}

TEST(ResolveGuestUserTest, ReadsTheRootsFilesAndToleratesTheirAbsence) {
  std::string root = ::testing::TempDir() + "/resolve-guest-user-" + std::to_string(getpid());
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root + "/etc");
  ResolvedUser u;
  std::string error;
  // No files at all (a rootfs with no /etc/passwd): numbers only.
  EXPECT_TRUE(ResolveGuestUser("55:66", &u, &error, root)) << error;
  EXPECT_EQ(u.uid, 55u);
  EXPECT_EQ(u.gid, 66u);
  EXPECT_FALSE(ResolveGuestUser("app", &u, &error, root));
  EXPECT_EQ(error, "unable to find user app: no matching entries in passwd file");

  std::ofstream(root + "/etc/passwd") << kPasswd;
  std::ofstream(root + "/etc/group") << kGroup;
  ASSERT_TRUE(ResolveGuestUser("app", &u, &error, root)) << error;
  EXPECT_EQ(u.uid, 1000u);
  EXPECT_EQ(u.groups, (std::vector<gid_t>{50, 999}));
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace banger::agent
