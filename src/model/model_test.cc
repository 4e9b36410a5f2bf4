#include <gtest/gtest.h>

#include "model/types.h"

namespace banger {
namespace {

TEST(ParseSizeTest, AcceptsSeedGrammar) {
  EXPECT_EQ(*ParseSize("512M"), 512 * kMiB);
  EXPECT_EQ(*ParseSize("8G"), 8 * kGiB);
  EXPECT_EQ(*ParseSize("8g"), 8 * kGiB);
  EXPECT_EQ(*ParseSize("1024K"), kMiB);
  EXPECT_EQ(*ParseSize("100"), 100 * kMiB);  // plain number = MiB
  EXPECT_EQ(*ParseSize(" 2G "), 2 * kGiB);
  EXPECT_EQ(*ParseSize("128G"), kMaxDiskBytes);
}

TEST(ParseSizeTest, RejectsWithReasons) {
  auto over = ParseSize("129G");
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().message().find("128G"), std::string::npos);
  auto suffix = ParseSize("10T");
  ASSERT_FALSE(suffix.ok());
  EXPECT_NE(suffix.error().message().find("suffix"), std::string::npos);
  for (const char* bad : {"", "0", "-1G", "1.5G", "G", "99999999999999999999G"}) {
    EXPECT_FALSE(ParseSize(bad).ok()) << bad;
  }
  EXPECT_EQ(ParseSize("").error().kind(), ErrorKind::kInvalidArgument);
}

TEST(FormatSizeTest, PicksLargestExactUnit) {
  EXPECT_EQ(FormatSizeBytes(8 * kGiB), "8G");
  EXPECT_EQ(FormatSizeBytes(512 * kMiB), "512M");
  EXPECT_EQ(FormatSizeBytes(4096), "4K");
  EXPECT_EQ(FormatSizeBytes(1000), "1000");
  EXPECT_EQ(FormatSizeBytes(0), "0");
}

TEST(NameTest, VmNamesAreDnsLabels) {
  for (const std::string& good : {std::string("t1"), std::string("web-1"), std::string(63, 'a')}) {
    EXPECT_TRUE(ValidateVmName(good).ok()) << good;
  }
  // NewId() would be ambiguous with ids.
  for (const std::string& bad :
       {std::string(64, 'a'), std::string(), std::string("-a"), std::string("a-"), std::string("Web"),
        std::string("a_b"), std::string("a.b"), std::string("../x"), NewId()}) {
    EXPECT_FALSE(ValidateVmName(bad).ok()) << bad;
  }
}

TEST(NameTest, GeneratedNamesAreValid) {
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(ValidateVmName(GenerateVmName()).ok());
}

TEST(IdTest, SixtyFourLowerHex) {
  std::string a = NewId(), b = NewId();
  EXPECT_TRUE(IsValidId(a));
  EXPECT_NE(a, b);
  EXPECT_FALSE(IsValidId("abc"));
  EXPECT_FALSE(IsValidId(std::string(64, 'G')));
}

TEST(LabelTest, ParseAndValidate) {
  auto kv = ParseLabel("team=infra");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->first, "team");
  EXPECT_EQ(kv->second, "infra");
  EXPECT_TRUE(ParseLabel("empty=").ok());
  EXPECT_FALSE(ParseLabel("novalue").ok());
  EXPECT_FALSE(ParseLabel("=v").ok());
  EXPECT_FALSE(ParseLabel("bad key=v").ok());
}

TEST(SpecTest, DefaultsMatchSeed) {
  VmSpec s;
  EXPECT_EQ(s.vcpu_count, 2);
  EXPECT_EQ(s.memory_mib, 2048);
  EXPECT_EQ(s.system_overlay_size_bytes, 8 * kGiB);
  EXPECT_EQ(s.work_disk_size_bytes, 8 * kGiB);
  EXPECT_TRUE(ValidateSpec(s).ok());
}

TEST(SpecTest, RejectsOutOfRange) {
  VmSpec s;
  s.vcpu_count = 0;
  EXPECT_FALSE(ValidateSpec(s).ok());
  s = VmSpec{};
  s.memory_mib = 64;
  EXPECT_FALSE(ValidateSpec(s).ok());
  s = VmSpec{};
  s.work_disk_size_bytes = kMaxDiskBytes + kMiB;
  EXPECT_FALSE(ValidateSpec(s).ok());
}

TEST(StateTest, NamesRoundTrip) {
  for (auto st :
       {VmState::kCreated, VmState::kRunning, VmState::kStopped, VmState::kError, VmState::kPaused}) {
    EXPECT_EQ(*ParseVmState(VmStateName(st)), st);
  }
  EXPECT_EQ(std::string(VmStateName(VmState::kPaused)), "paused");
  EXPECT_TRUE(VmStateHasVmm(VmState::kPaused));
  EXPECT_FALSE(VmStateHasVmm(VmState::kStopped));
  EXPECT_FALSE(ParseVmState("frozen").ok());
  for (auto a : {TtlAction::kStop, TtlAction::kDelete}) EXPECT_EQ(*ParseTtlAction(TtlActionName(a)), a);
  EXPECT_FALSE(ParseTtlAction("pause").ok());
  EXPECT_EQ(*ParseBackend("qemu"), BackendKind::kQemu);
  EXPECT_FALSE(ParseBackend("xen").ok());
}

}  // namespace
}  // namespace banger
