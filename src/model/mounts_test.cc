#include "model/mounts.h"

#include <gtest/gtest.h>

#include "model/json.h"

namespace banger {
namespace {

std::string ErrorOf(const Status& s) { return s.ok() ? "" : s.error().message(); }
template <typename T>
std::string ErrorOf(const Result<T>& r) {
  return r.ok() ? "" : r.error().message();
}

TEST(MountFlagTest, GoodForms) {
  auto rw = ParseMountFlag("/srv/data:/data");
  ASSERT_TRUE(rw.ok()) << rw.error().message();
  EXPECT_EQ(rw->host_path, "/srv/data");
  EXPECT_EQ(rw->guest_path, "/data");
  EXPECT_FALSE(rw->read_only);

  auto ro = ParseMountFlag("./rel dir:/mnt/my data:ro");
  ASSERT_TRUE(ro.ok()) << ro.error().message();
  EXPECT_EQ(ro->host_path, "./rel dir");  // the CLI makes it absolute
  EXPECT_EQ(ro->guest_path, "/mnt/my data");
  EXPECT_TRUE(ro->read_only);

  auto explicit_rw = ParseMountFlag("/a:/b:rw");
  ASSERT_TRUE(explicit_rw.ok());
  EXPECT_FALSE(explicit_rw->read_only);
}

TEST(MountFlagTest, BadForms) {
  EXPECT_EQ(ErrorOf(ParseMountFlag("/srv")), "--mount must be HOST_DIR:GUEST_DIR[:ro|rw], got \"/srv\"");
  EXPECT_EQ(ErrorOf(ParseMountFlag(":/data")), "--mount must be HOST_DIR:GUEST_DIR[:ro|rw], got \":/data\"");
  EXPECT_EQ(ErrorOf(ParseMountFlag("/srv:")), "--mount must be HOST_DIR:GUEST_DIR[:ro|rw], got \"/srv:\"");
  EXPECT_EQ(ErrorOf(ParseMountFlag("/a:/b:ro:x")),
            "--mount must be HOST_DIR:GUEST_DIR[:ro|rw], got \"/a:/b:ro:x\"");
  EXPECT_EQ(ErrorOf(ParseMountFlag("/a:/b:readonly")),
            "--mount mode must be ro or rw, got \"readonly\" in \"/a:/b:readonly\"");
  EXPECT_EQ(ErrorOf(ParseMountFlag("/a:/b:RO")), "--mount mode must be ro or rw, got \"RO\" in \"/a:/b:RO\"");
  EXPECT_EQ(ErrorOf(ParseMountFlag("/a:data")), "guest mount path \"data\" must be absolute");
}

TEST(MountFlagTest, GuestPathRules) {
  EXPECT_TRUE(ValidateGuestMountPath("/data").ok());
  EXPECT_TRUE(ValidateGuestMountPath("/root/src").ok());
  EXPECT_TRUE(ValidateGuestMountPath("/run/other").ok());
  EXPECT_TRUE(ValidateGuestMountPath("/devices").ok());  // not /dev
  EXPECT_EQ(ErrorOf(ValidateGuestMountPath("/")), "guest mount path \"/\" must not be / (the guest's root)");
  for (const char* bad : {"/a//b", "/a/./b", "/a/../b", "/.."}) {
    EXPECT_NE(ErrorOf(ValidateGuestMountPath(bad)).find("must be normalized"), std::string::npos) << bad;
  }
  EXPECT_EQ(ErrorOf(ValidateGuestMountPath("/data/")), "guest mount path \"/data/\" must not end with '/'");
  for (const char* bad :
       {"/proc", "/proc/x", "/sys/fs", "/dev", "/dev/shm", "/run/banger", "/run/banger/x"}) {
    EXPECT_NE(ErrorOf(ValidateGuestMountPath(bad)).find("must not be at or under"), std::string::npos) << bad;
  }
  EXPECT_NE(ErrorOf(ValidateGuestMountPath("/a\nb")).find("control character"), std::string::npos);
  EXPECT_NE(ErrorOf(ValidateGuestMountPath("/" + std::string(300, 'a'))).find("longer than 255"),
            std::string::npos);
}

TEST(MountListTest, CountOverlapAndHostPath) {
  std::vector<VmMount> ms;
  for (int i = 0; i < 9; ++i) ms.push_back({"/h", "/m" + std::to_string(i), true});
  EXPECT_EQ(ErrorOf(ValidateMounts(ms)), "at most 8 mounts per vm, got 9");
  ms.pop_back();
  EXPECT_TRUE(ValidateMounts(ms).ok());
  EXPECT_EQ(ErrorOf(ValidateMounts({{"rel", "/a", false}})), "host mount path \"rel\" must be absolute");
  EXPECT_EQ(ErrorOf(ValidateMounts({{"/h", "/a", false}, {"/h", "/a/b", false}})),
            "guest mount paths /a and /a/b overlap");
  EXPECT_EQ(ErrorOf(ValidateMounts({{"/h", "/a/b", false}, {"/h", "/a", false}})),
            "guest mount paths /a/b and /a overlap");
  EXPECT_TRUE(ValidateMounts({{"/h", "/a", false}, {"/h", "/ab", false}}).ok());
  std::vector<VmMount> odd;
  for (int i = 0; i < 8; ++i) odd.push_back({"/h", "/" + std::to_string(i) + std::string(60, ' '), false});
  EXPECT_NE(ErrorOf(ValidateMounts(odd)).find("too long together for the kernel command line"),
            std::string::npos);
}

TEST(MountCmdlineTest, EncodesOddBytes) {
  EXPECT_EQ(PercentEncodePath("/plain/A-z_0.9"), "/plain/A-z_0.9");
  EXPECT_EQ(PercentEncodePath("/my data,x:y\"%\\"), "/my%20data%2Cx%3Ay%22%25%5C");
  EXPECT_EQ(PercentEncodePath("/\xc3\xa9"), "/%C3%A9");
  EXPECT_EQ(MountKernelArgs({}), "");
  EXPECT_EQ(MountKernelArgs({{"/h1", "/data", true}, {"/h2", "/w s", false}}),
            " banger.mount=banger0,ro,/data banger.mount=banger1,rw,/w%20s");
  EXPECT_EQ(FormatMount({"/h", "/g", true}), "/h:/g:ro");
}

TEST(MountJsonTest, SpecRoundTripsAndOmitsNone) {
  VmSpec spec;
  EXPECT_FALSE(ToJson(spec).contains("mounts"));
  spec.mounts = {{"/srv/a", "/a", true}, {"/srv/b", "/b", false}};
  Json j = ToJson(spec);
  EXPECT_EQ(j["mounts"][0]["host_path"], "/srv/a");
  EXPECT_EQ(j["mounts"][0]["read_only"], true);
  auto back = VmSpecFromJson(j);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->mounts, spec.mounts);
  j["mounts"][1]["extra"] = 1;
  EXPECT_FALSE(VmSpecFromJson(j).ok());
  j["mounts"] = "x";
  EXPECT_FALSE(VmSpecFromJson(j).ok());
}

}  // namespace
}  // namespace banger
