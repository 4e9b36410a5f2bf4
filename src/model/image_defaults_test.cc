#include "model/image_defaults.h"

#include <gtest/gtest.h>

namespace banger {
namespace {

using Env = std::map<std::string, std::string>;
using Argv = std::vector<std::string>;

Image OciImage(OciImageConfig c) {
  Image img;
  img.name = "py";
  img.source.kind = "oci";
  img.source.config = std::move(c);
  return img;
}

OciImageConfig FullConfig() {
  OciImageConfig c;
  c.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "EMPTY=", "EQ=a=b"};
  c.working_dir = "/app";
  c.user = "app:staff";
  c.entrypoint = {"/entry.sh"};
  c.cmd = {"serve", "--port", "80"};
  return c;
}

UserCommand Cmd(Argv argv) {
  UserCommand c;
  c.argv = std::move(argv);
  return c;
}

TEST(ImageDefaultsTest, AnImageWithoutConfigChangesNothing) {
  Image img;
  img.name = "base";
  img.source.kind = "profile";
  UserCommand c = Cmd({"ls", "-l"});
  c.env = {{"A", "1"}};
  auto r = ApplyImageDefaults(img, c);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->argv, (Argv{"ls", "-l"}));
  EXPECT_EQ(r->env, (Env{{"A", "1"}}));
  EXPECT_EQ(r->cwd, "");   // the agent's default: /root
  EXPECT_EQ(r->user, "");  // root
}

TEST(ImageDefaultsTest, AnImageWithoutConfigNeedsACommand) {
  Image img;
  img.name = "base";
  auto r = ApplyImageDefaults(img, Cmd({}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(r.error().message(), "image base has no command (Entrypoint/Cmd); give one after --");
}

TEST(ImageDefaultsTest, TheImageFillsWhatTheRequestLeavesOut) {
  auto r = ApplyImageDefaults(OciImage(FullConfig()), Cmd({"id"}));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->argv, (Argv{"id"}));  // a command given runs as is (no Entrypoint)
  EXPECT_EQ(
      r->env,
      (Env{{"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"LANG", "C.UTF-8"}, {"EMPTY", ""}, {"EQ", "a=b"}}));
  EXPECT_EQ(r->cwd, "/app");
  EXPECT_EQ(r->user, "app:staff");
}

TEST(ImageDefaultsTest, TheRequestWinsKeyByKey) {
  UserCommand c = Cmd({"env"});
  c.env = {{"LANG", "de_DE.UTF-8"}, {"NEW", "x"}};
  c.cwd = "/tmp";
  c.user = "0";
  auto r = ApplyImageDefaults(OciImage(FullConfig()), c);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->env, (Env{{"PATH", "/usr/local/bin:/usr/bin:/bin"},
                         {"LANG", "de_DE.UTF-8"},
                         {"EMPTY", ""},
                         {"EQ", "a=b"},
                         {"NEW", "x"}}));
  EXPECT_EQ(r->cwd, "/tmp");
  EXPECT_EQ(r->user, "0");
}

TEST(ImageDefaultsTest, NoImageEnvSkipsOnlyTheEnv) {
  UserCommand c = Cmd({"env"});
  c.env = {{"A", "1"}};
  c.no_image_env = true;
  auto r = ApplyImageDefaults(OciImage(FullConfig()), c);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->env, (Env{{"A", "1"}}));
  EXPECT_EQ(r->cwd, "/app");
  EXPECT_EQ(r->user, "app:staff");
  EXPECT_FALSE(r->no_image_env);
}

TEST(ImageDefaultsTest, ALaterImageEntryWinsAndNamelessOnesAreSkipped) {
  OciImageConfig c;
  c.env = {"A=1", "A=2", "NOVALUE", "=x", "B=", ""};
  auto r = ApplyImageDefaults(OciImage(c), Cmd({"env"}));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->env, (Env{{"A", "2"}, {"B", ""}}));
}

TEST(ImageDefaultsTest, NoCommandRunsEntrypointThenCmd) {
  auto r = ApplyImageDefaults(OciImage(FullConfig()), Cmd({}));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->argv, (Argv{"/entry.sh", "serve", "--port", "80"}));

  OciImageConfig only_cmd;
  only_cmd.cmd = {"python3"};
  r = ApplyImageDefaults(OciImage(only_cmd), Cmd({}));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->argv, (Argv{"python3"}));

  OciImageConfig only_entrypoint;
  only_entrypoint.entrypoint = {"/bin/app", "--flag"};
  r = ApplyImageDefaults(OciImage(only_entrypoint), Cmd({}));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->argv, (Argv{"/bin/app", "--flag"}));
}

TEST(ImageDefaultsTest, AnOciImageWithNeitherEntrypointNorCmdNeedsACommand) {
  OciImageConfig c;
  c.env = {"A=1"};
  auto r = ApplyImageDefaults(OciImage(c), Cmd({}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "image py has no command (Entrypoint/Cmd); give one after --");
}

TEST(ImageDefaultsTest, AnEmptyConfigLeavesTheAgentDefaults) {
  auto r = ApplyImageDefaults(OciImage(OciImageConfig{}), Cmd({"sh"}));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->env, Env{});
  EXPECT_EQ(r->cwd, "");  // /root, or / for a user who cannot enter it
  EXPECT_EQ(r->user, "");
}

TEST(ImageDefaultsTest, RequestsMapField) {
  ExecVmRequest e;
  e.argv = {"a"};
  e.env = {{"K", "v"}};
  e.cwd = "/w";
  e.user = "u";
  e.no_image_env = true;
  UserCommand c = UserCommandOf(e);
  EXPECT_EQ(c.argv, (Argv{"a"}));
  EXPECT_EQ(c.env, (Env{{"K", "v"}}));
  EXPECT_EQ(c.cwd, "/w");
  EXPECT_EQ(c.user, "u");
  EXPECT_TRUE(c.no_image_env);
  StartSessionRequest s;
  s.argv = {"b"};
  s.user = "1:2";
  s.no_image_env = true;
  c = UserCommandOf(s);
  EXPECT_EQ(c.argv, (Argv{"b"}));
  EXPECT_EQ(c.user, "1:2");
  EXPECT_TRUE(c.no_image_env);
}

}  // namespace
}  // namespace banger
