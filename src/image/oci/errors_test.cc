#include "oci/errors.h"

#include <gtest/gtest.h>

namespace banger {
namespace {

std::string Line(const std::string& msg) {
  return SkopeoError("time=\"2026-11-30T08:51:04Z\" level=fatal msg=\"" + msg + "\"\n", "r").message();
}

TEST(SkopeoErrorTest, MapsRegistryFailuresToOneLine) {
  EXPECT_EQ(Line("initializing source docker://127.0.0.1:5123/t:nope: reading manifest nope in "
                 "127.0.0.1:5123/t: manifest unknown: manifest unknown"),
            "r: no such image or tag (manifest unknown)");
  EXPECT_EQ(
      Line("initializing source docker://x: reading manifest 1 in x: unauthorized: authentication required"),
      "r: unauthorized (log in with `docker login`, or the image does not exist)");
  EXPECT_EQ(
      Line("reading manifest latest in docker.io/library/x: toomanyrequests: You have reached your pull "
           "rate limit"),
      "r: too many requests: the registry's rate limit; try again later");
  EXPECT_EQ(Line("reading manifest 1 in x: received unexpected HTTP status: 500 Internal Server Error"),
            "r: registry server error (HTTP 500)");
  EXPECT_EQ(Line("choosing an image from manifest list docker://x: no image found in manifest list for "
                 "architecture amd64, variant \\\"\\\", OS linux"),
            "r: no linux/amd64 image");
  EXPECT_EQ(Line("writing blob: happened during read: Digest did not match, expected sha256:401abc, got "
                 "sha256:429def"),
            "r: digest mismatch: a downloaded blob is not what the manifest names");
  EXPECT_EQ(
      Line("pinging container registry 127.0.0.1:5124: Get \\\"https://127.0.0.1:5124/v2/\\\": dial tcp "
           "127.0.0.1:5124: connect: connection refused"),
      "r: connection refused by the registry");
  EXPECT_EQ(Line("pinging container registry h:5000: Get \\\"https://h:5000/v2/\\\": http: server gave HTTP "
                 "response to HTTPS client"),
            "r: the registry speaks plain HTTP; use --insecure");
  EXPECT_EQ(Line("copying system image: reading blob sha256:ab: unexpected EOF"),
            "r: download cut short (copying system image: reading blob sha256:ab: unexpected EOF)");
}

TEST(SkopeoErrorTest, KeepsTheKindsAndUnknownMessages) {
  EXPECT_EQ(SkopeoError("level=fatal\nmanifest unknown", "r").kind(), ErrorKind::kNotFound);
  EXPECT_EQ(Line("something new: \\\"quoted\\\""), "r: something new: \"quoted\"");
  EXPECT_EQ(SkopeoError("", "r").message(), "r: skopeo failed");
  EXPECT_EQ(ToolMessage("first\nsecond line\n\n"), "second line");
}

}  // namespace
}  // namespace banger
