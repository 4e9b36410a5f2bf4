#include "oci/reference.h"

#include <gtest/gtest.h>

namespace banger {
namespace {

std::string Norm(const std::string& ref) {
  auto r = ParseOciReference(ref);
  return r.ok() ? r->Normalized() : "error: " + r.error().message();
}

TEST(OciReferenceTest, DockerHubDefaults) {
  EXPECT_EQ(Norm("busybox"), "docker.io/library/busybox:latest");
  EXPECT_EQ(Norm("busybox:1.36"), "docker.io/library/busybox:1.36");
  EXPECT_EQ(Norm("docker.io/busybox"), "docker.io/library/busybox:latest");
  EXPECT_EQ(Norm("index.docker.io/library/python:3.12-slim"), "docker.io/library/python:3.12-slim");
  EXPECT_EQ(Norm("bitnami/redis:7"), "docker.io/bitnami/redis:7");
}

TEST(OciReferenceTest, OtherRegistriesAndDigests) {
  EXPECT_EQ(Norm("ghcr.io/o/app:1.2"), "ghcr.io/o/app:1.2");
  EXPECT_EQ(Norm("ghcr.io/o/sub/app"), "ghcr.io/o/sub/app:latest");
  const std::string d = "sha256:" + std::string(64, 'a');
  auto r = ParseOciReference("localhost:5000/t@" + d);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->registry, "localhost:5000");
  EXPECT_EQ(r->repository, "t");  // no library/ outside Docker Hub
  EXPECT_EQ(r->tag, "");
  EXPECT_EQ(r->digest, d);
  EXPECT_EQ(r->Pullable(), "localhost:5000/t@" + d);
  EXPECT_EQ(Norm("busybox:1.36@" + d), "docker.io/library/busybox:1.36@" + d);
  EXPECT_EQ(ParseOciReference("busybox:1.36@" + d)->Pullable(), "docker.io/library/busybox@" + d);
}

TEST(OciReferenceTest, LoopbackImpliesInsecure) {
  EXPECT_TRUE(ParseOciReference("localhost:5000/t:1")->loopback);
  EXPECT_TRUE(ParseOciReference("localhost/t")->loopback);
  EXPECT_TRUE(ParseOciReference("127.0.0.1:5000/t:1")->loopback);
  EXPECT_TRUE(ParseOciReference("127.1.2.3:5000/t:1")->loopback);
  EXPECT_TRUE(ParseOciReference("[::1]:5000/t:1")->loopback);
  EXPECT_FALSE(ParseOciReference("10.0.0.1:5000/t:1")->loopback);
  EXPECT_FALSE(ParseOciReference("127.0.0.1.nip.io/t")->loopback);
  EXPECT_FALSE(ParseOciReference("127.0.0.300:5000/t")->loopback);
  EXPECT_FALSE(ParseOciReference("busybox")->loopback);
  EXPECT_FALSE(ParseOciReference("localhostx.example/t")->loopback);
}

TEST(OciReferenceTest, RefusesMalformed) {
  for (const char* bad :
       {"", "Busybox", "busybox:", "busybox@sha256:abc", "busybox@md5:", "a b", "ghcr.io/", "ghcr.io//x",
        "x/../y", "busybox:-tag", "UPPER.io/x/Y", "host:99999999/x", "busybox\n"}) {
    EXPECT_FALSE(ParseOciReference(bad).ok()) << bad;
  }
  EXPECT_EQ(ParseOciReference("a b").error().message(),
            "invalid image reference \"a b\": has a space or control character");
  EXPECT_FALSE(ParseOciReference(std::string(600, 'a')).ok());
}

TEST(OciReferenceTest, DefaultImageName) {
  EXPECT_EQ(ParseOciReference("python:3.12-slim")->DefaultImageName(), "python-3.12-slim");
  EXPECT_EQ(ParseOciReference("127.0.0.1:5000/a/t:1")->DefaultImageName(), "t-1");
  EXPECT_EQ(ParseOciReference("ghcr.io/o/app:V1_X")->DefaultImageName(), "app-v1_x");
  EXPECT_EQ(ParseOciReference("t@sha256:0123456789abcdef" + std::string(48, '0'))->DefaultImageName(),
            "t-0123456789ab");
}

TEST(OciReferenceTest, DockerConfigAuthMatchesDockerKeys) {
  const std::string cfg = R"({"auths": {
      "https://index.docker.io/v1/": {"auth": "aHViOnB3"},
      "ghcr.io": {"auth": "Z2g6cHc="},
      "http://localhost:5000/v2/": {"auth": "bG86cHc="},
      "empty.io": {}}})";
  EXPECT_EQ(DockerConfigAuth(cfg, "docker.io"), "aHViOnB3");
  EXPECT_EQ(DockerConfigAuth(cfg, "ghcr.io"), "Z2g6cHc=");
  EXPECT_EQ(DockerConfigAuth(cfg, "localhost:5000"), "bG86cHc=");
  EXPECT_EQ(DockerConfigAuth(cfg, "empty.io"), "");
  EXPECT_EQ(DockerConfigAuth(cfg, "quay.io"), "");
  EXPECT_EQ(DockerConfigAuth("not json", "docker.io"), "");
  EXPECT_EQ(DockerConfigAuth(R"({"credsStore": "desktop"})", "docker.io"), "");
}

TEST(OciReferenceTest, Base64) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("user:pässword"), "dXNlcjpww6Rzc3dvcmQ=");
}

}  // namespace
}  // namespace banger
