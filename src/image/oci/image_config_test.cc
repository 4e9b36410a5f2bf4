#include "oci/image_config.h"

#include <gtest/gtest.h>

namespace banger {
namespace {

TEST(OciImageConfigTest, ReadsTheDefaults) {
  auto c = ParseOciImageConfig(R"({"architecture": "amd64", "os": "linux", "config": {
      "Env": ["PATH=/usr/bin:/bin", "FOO=bar"], "WorkingDir": "/srv", "User": "app:app",
      "Entrypoint": ["/init"], "Cmd": ["sh", "-c", "echo $FOO"],
      "ExposedPorts": {"8080/tcp": {}, "53/udp": {}, "80": {}}},
      "rootfs": {"type": "layers", "diff_ids": []}})");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->env, (std::vector<std::string>{"PATH=/usr/bin:/bin", "FOO=bar"}));
  EXPECT_EQ(c->working_dir, "/srv");
  EXPECT_EQ(c->user, "app:app");
  EXPECT_EQ(c->entrypoint, std::vector<std::string>{"/init"});
  EXPECT_EQ(c->cmd, (std::vector<std::string>{"sh", "-c", "echo $FOO"}));
  EXPECT_EQ(c->exposed_ports, (std::vector<std::string>{"53/udp", "80/tcp", "8080/tcp"}));
}

TEST(OciImageConfigTest, NullsAndAbsentsAreEmpty) {
  auto c = ParseOciImageConfig(R"({"config": {"Env": null, "Cmd": null, "Entrypoint": null,
                                   "WorkingDir": "app"}})");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_TRUE(c->env.empty());
  EXPECT_EQ(c->working_dir, "/app");
  EXPECT_EQ(*ParseOciImageConfig("{}"), OciImageConfig{});
}

TEST(OciImageConfigTest, RefusesWrongTypesAndPlatforms) {
  EXPECT_FALSE(ParseOciImageConfig("[]").ok());
  EXPECT_FALSE(ParseOciImageConfig("not json").ok());
  EXPECT_FALSE(ParseOciImageConfig(R"({"config": {"Env": "FOO=bar"}})").ok());
  EXPECT_FALSE(ParseOciImageConfig(R"({"config": {"Env": ["NOEQUALS"]}})").ok());
  EXPECT_FALSE(ParseOciImageConfig(R"({"config": {"Cmd": [1]}})").ok());
  EXPECT_FALSE(ParseOciImageConfig(R"({"config": {"ExposedPorts": {"http": {}}}})").ok());
  auto arm = ParseOciImageConfig(R"({"architecture": "arm64", "os": "linux"})");
  ASSERT_FALSE(arm.ok());
  EXPECT_EQ(arm.error().message(), "the image is for linux/arm64, not linux/amd64");
}

TEST(OciLayoutJsonTest, IndexManifestAndBlobPaths) {
  const std::string d1 = "sha256:" + std::string(64, '1'), d2 = "sha256:" + std::string(64, '2');
  const std::string index = R"({"schemaVersion": 2, "manifests": [
      {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ")" +
                            d1 + R"(", "size": 10,
       "annotations": {"org.opencontainers.image.ref.name": "abc"}},
      {"digest": ")" + d2 + R"(", "annotations": {"org.opencontainers.image.ref.name": "def"}}]})";
  EXPECT_EQ(FindTaggedManifest(index, "def")->digest, d2);
  EXPECT_EQ(FindTaggedManifest(index, "abc")->size, 10);
  EXPECT_EQ(FindTaggedManifest(index, "zzz").error().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(*ListTags(index), (std::vector<std::string>{"abc", "def"}));

  auto m = ParseOciManifest(R"({"schemaVersion": 2, "config": {"digest": ")" + d1 + R"(", "size": 5},
      "layers": [{"digest": ")" +
                            d2 + R"(", "size": 7}, {"digest": ")" + d1 + R"("}]})");
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->config.digest, d1);
  ASSERT_EQ(m->layers.size(), 2u);
  EXPECT_EQ(m->layers[0].size, 7);
  EXPECT_FALSE(ParseOciManifest(R"({"manifests": []})").ok());
  EXPECT_FALSE(ParseOciManifest(R"({"config": {"digest": "sha256:../../x"}, "layers": []})").ok());

  EXPECT_EQ(*BlobPath("/l", d1), "/l/blobs/sha256/" + std::string(64, '1'));
  EXPECT_FALSE(BlobPath("/l", "sha256:../../../etc/passwd").ok());
}

}  // namespace
}  // namespace banger
