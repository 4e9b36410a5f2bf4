#include "net/address.h"

#include <gtest/gtest.h>

namespace banger {
namespace {

TEST(Ipv4Test, ParsesAndFormats) {
  auto ip = ParseIpv4("172.16.0.2");
  ASSERT_TRUE(ip.ok());
  EXPECT_EQ(*ip, 0xac100002u);
  EXPECT_EQ(FormatIpv4(*ip), "172.16.0.2");
  for (const char* bad :
       {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.04", "a.b.c.d", "1.2.3.4 ", "1..2.3"}) {
    EXPECT_FALSE(ParseIpv4(bad).ok()) << bad;
  }
}

TEST(Ipv4Test, PrefixAndSubnets) {
  EXPECT_EQ(*ParsePrefix("24"), 24);
  EXPECT_EQ(*ParsePrefix("/16"), 16);
  EXPECT_FALSE(ParsePrefix("31").ok());
  EXPECT_FALSE(ParsePrefix("x").ok());
  Subnet s = SubnetOf(*ParseIpv4("172.16.0.1"), 24);
  EXPECT_EQ(s.ToString(), "172.16.0.0/24");
  EXPECT_EQ(s.Netmask(), "255.255.255.0");
  EXPECT_TRUE(s.Contains(*ParseIpv4("172.16.0.254")));
  EXPECT_FALSE(s.Contains(*ParseIpv4("172.16.1.1")));
  EXPECT_TRUE(s.Overlaps(*ParseSubnet("172.16.0.0/16")));
  EXPECT_TRUE(s.Overlaps(*ParseSubnet("172.16.0.128/25")));
  EXPECT_TRUE(s.Overlaps(*ParseSubnet("172.16.0.9")));
  EXPECT_FALSE(s.Overlaps(*ParseSubnet("172.16.1.0/24")));
  EXPECT_EQ(ParseSubnet("default")->prefix, 0);
  EXPECT_FALSE(ParseSubnet("10.0.0.0/33").ok());
}

TEST(IpAllocatorTest, HandsOutLowestFreeSkippingBridge) {
  auto a = IpAllocator::Create("172.16.0.1", "24");
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(a->Capacity(), 253u);
  EXPECT_EQ(*a->Next({}), "172.16.0.2");
  EXPECT_EQ(*a->Next({"172.16.0.2", "172.16.0.3", "10.0.0.1", "junk"}), "172.16.0.4");
  EXPECT_EQ(*a->Next({"172.16.0.2", "172.16.0.4"}), "172.16.0.3");

  // A bridge in the middle of the subnet is skipped too.
  auto mid = IpAllocator::Create("10.9.0.5", "29");
  ASSERT_TRUE(mid.ok());
  EXPECT_EQ(*mid->Next({"10.9.0.1", "10.9.0.2", "10.9.0.3", "10.9.0.4"}), "10.9.0.6");
}

TEST(IpAllocatorTest, ExhaustionIsAClearError) {
  auto a = IpAllocator::Create("192.168.77.1", "30");  // one guest address
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a->Next({}), "192.168.77.2");
  auto r = a->Next({"192.168.77.2"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kConflict);
  EXPECT_NE(r.error().message().find("no free guest address left in 192.168.77.0/30"), std::string::npos)
      << r.error().message();
}

TEST(IpAllocatorTest, RejectsBadPlansAndChecksRequests) {
  EXPECT_FALSE(IpAllocator::Create("172.16.0.0", "24").ok());    // network address
  EXPECT_FALSE(IpAllocator::Create("172.16.0.255", "24").ok());  // broadcast
  auto bad = IpAllocator::Create("nope", "24");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("bridge_ip"), std::string::npos);
  auto a = IpAllocator::Create("172.16.0.1", "/24");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->Check("172.16.0.9", {}).ok());
  EXPECT_FALSE(a->Check("172.16.0.1", {}).ok());
  EXPECT_FALSE(a->Check("172.16.0.255", {}).ok());
  EXPECT_FALSE(a->Check("172.16.1.9", {}).ok());
  EXPECT_EQ(a->Check("172.16.0.9", {"172.16.0.9"}).error().kind(), ErrorKind::kConflict);
}

TEST(MacForIpTest, StableAndLocallyAdministered) {
  EXPECT_EQ(MacForIp("172.16.0.2"), "06:00:ac:10:00:02");
  EXPECT_EQ(MacForIp("10.255.1.254"), "06:00:0a:ff:01:fe");
  EXPECT_EQ(MacForIp("172.16.0.2"), MacForIp(*ParseIpv4("172.16.0.2")));
  EXPECT_EQ(MacForIp("bad"), "");
}

TEST(KernelIpArgTest, Format) {
  EXPECT_EQ(KernelIpArg("172.16.0.2", "172.16.0.1", 24, "t1", "172.16.0.1"),
            "ip=172.16.0.2::172.16.0.1:255.255.255.0:t1:eth0:off:172.16.0.1");
  EXPECT_EQ(KernelIpArg("10.0.0.2", "10.0.0.1", 16, "", ""), "ip=10.0.0.2::10.0.0.1:255.255.0.0::eth0:off");
}

}  // namespace
}  // namespace banger
